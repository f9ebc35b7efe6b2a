"""A disk cache of decoded images that cannot run code: plain tensors, keyed and verified.

Decoding a data set of JPEG files takes a while, so loaders keep the decoded pixels. The cache must not
be a pickle (scikit-learn's ``joblib.Memory`` cache of LFW unpickled whatever ``output.pkl`` it found,
and data folders get copied and shared): each entry is a NumPy ``.npz`` file of plain arrays (the
settings as a JSON string), read back with ``np.load(allow_pickle=False)``, which refuses object
arrays, so no version of torch's unpickler is involved at all. An entry is
used only if it was written for the same request (its ``key``: the loader's settings and the names,
sizes and times of the source files) and its tensors still hash to the SHA-256 stored with them;
otherwise it is ignored and rewritten.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["tensor_digest", "load_tensors", "save_tensors"]

_FORMAT = 1


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``tensors`` (in name order)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def load_tensors(path: str | os.PathLike, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Read an entry written by :func:`save_tensors` for ``key``; ``None`` if absent, stale or damaged.

    Returns:
        ``(tensors, extra)`` as saved, or ``None`` (the caller decodes again and rewrites it).
    """
    try:
        with np.load(path, allow_pickle=False) as entry:  # plain arrays only: never unpickles, never runs code
            if int(entry["format"]) != _FORMAT or str(entry["key"]) != key:
                return None
            tensors = {name[2:]: torch.from_numpy(entry[name].copy()) for name in entry.files if name.startswith("t_")}
            extra, digest = json.loads(str(entry["extra"])), str(entry["sha256"])
    except FileNotFoundError:
        return None
    except Exception:  # truncated, not an .npz, missing fields, or object arrays that allow_pickle=False refuses
        return None
    if digest != tensor_digest(tensors):
        return None
    return tensors, extra


def save_tensors(path: str | os.PathLike, key: str, tensors: dict[str, torch.Tensor],
                 extra: dict[str, Any] | None = None) -> bool:
    """Write an entry atomically (a unique temporary file, then a rename); ``False`` if the folder is not writable.

    ``extra`` must be JSON-serialisable (names, counts).
    """
    path = Path(path)
    arrays = {f"t_{name}": tensor.detach().cpu().numpy() for name, tensor in tensors.items()}
    arrays.update(format=np.array(_FORMAT), key=np.array(key), extra=np.array(json.dumps(dict(extra or {}))),
                  sha256=np.array(tensor_digest(tensors)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError:  # a read-only data folder: the data still loads, it is just decoded again next time
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(name, path)
        return True
    except OSError:
        return False
    finally:
        Path(name).unlink(missing_ok=True)
