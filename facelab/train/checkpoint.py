"""Checkpoints that survive a crash and cannot run code when loaded.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts:
model and optimiser state, the step, the training config (as a dict), the history
and the random-number state. It is written to a temporary file and moved into
place with ``os.replace`` (atomic on POSIX and Windows), so an interruption while
saving never leaves a broken checkpoint behind. It is read with
``torch.load(weights_only=True)``, which refuses pickled code.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path`` (parent folders are created).

    Args:
        path: destination file, e.g. ``checkpoints/dcgan.pt``.
        state: a dict of tensors, numbers, strings and nested lists/dicts of them.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``, refusing anything but data.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        RuntimeError: when the file is truncated, corrupt or holds code (not weights only).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train first or pass the right path.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncation, unsafe globals
        raise RuntimeError(
            f"Could not load checkpoint {path}: {err}. It is truncated, corrupt, or contains objects "
            "other than weights (refused for safety). Delete it and train again, or load a checkpoint "
            "written by facelab."
        ) from err


def rng_state() -> dict[str, Any]:
    """The CPU (and CUDA, if any) random-number state, for exact resumption."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state captured by ``rng_state``."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
