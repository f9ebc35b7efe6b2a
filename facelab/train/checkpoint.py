"""Checkpoints that survive a crash and cannot run code when loaded.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts:
model and optimiser state, the step, the training config (as a dict), the history
and the random-number state. It is written to a temporary file and moved into
place with ``os.replace`` (atomic on POSIX and Windows), so an interruption while
saving never leaves a broken checkpoint behind. It is read with
``torch.load(weights_only=True)``, which refuses pickled code.

Resuming also checks what it loads: :func:`require_keys` names the entries a loop needs
that a checkpoint lacks (one written by another loop), and :func:`load_state_dict_checked`
names the parameters that are missing, unexpected or of another shape (a checkpoint of
another architecture or image size), with what to do about it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn


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

    Args:
        path: the checkpoint file.
        map_location: device to load the tensors onto.

    Returns:
        The saved dictionary.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        RuntimeError: when the file is truncated or corrupt, or holds objects other than
            tensors and plain containers (a pickle that could run code is refused, never run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train first or pass the right path.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle errors, truncation, unsafe globals
        if "global" in str(err).lower():  # the unpickler met a class or function: code it would have run
            reason = ("it holds objects other than tensors, numbers, strings, lists and dicts, and loading "
                      "them could run code (refused for safety, nothing was executed). Expected a checkpoint "
                      "written by facelab.train.checkpoint.save_checkpoint. Only if you trust its source, "
                      "read it yourself with torch.load(path, weights_only=False); otherwise delete it")
        else:
            reason = ("it is truncated, corrupt, or not a PyTorch checkpoint (e.g. an interrupted download "
                      "or copy). Expected a file written by facelab.train.checkpoint.save_checkpoint. "
                      "Delete it and train again, or copy the checkpoint again")
        raise RuntimeError(f"Could not load checkpoint {path}: {reason}. (torch.load said: {err})") from err
    if not isinstance(state, dict):
        raise RuntimeError(f"Checkpoint {path} holds a {type(state).__name__}, expected the dict that "
                           "save_checkpoint writes; pass a facelab checkpoint.")
    return state


class CheckpointMismatch(ValueError, RuntimeError):
    """A checkpoint that this training loop cannot resume (another loop's, or another run's settings)."""


def require_keys(state: dict[str, Any], keys: Sequence[str], path: str | os.PathLike, loop: str) -> None:
    """Check that a checkpoint holds what a training loop needs to resume.

    Args:
        state: the loaded checkpoint.
        keys: the entries the loop reads.
        path: the checkpoint file (named in the error).
        loop: the loop's name, e.g. ``"train_gan"``.

    Raises:
        CheckpointMismatch: (a ``ValueError``) naming the missing entries and what to do.
    """
    missing = [key for key in keys if key not in state]
    if missing:
        raise CheckpointMismatch(
            f"Checkpoint {path} lacks {missing} (it holds {sorted(state)}), so {loop} cannot resume from it; "
            f"it was not written by {loop}: probably written by another training loop. Pass a different checkpoint_path, delete the "
            f"file, or call {loop}(..., resume=False) to start afresh."
        )


def load_state_dict_checked(module: nn.Module, state_dict: dict[str, Any], *, name: str = "model",
                            path: str | os.PathLike | None = None) -> None:
    """``module.load_state_dict(state_dict)`` with an error a user can act on.

    PyTorch's own error lists every tensor; this one says which parameters are missing,
    unexpected or of another shape (the first few of each), and what to do: a checkpoint
    of another architecture or image size cannot be loaded into this model.

    Args:
        module: the model to load into.
        state_dict: its saved state (e.g. ``checkpoint["generator"]``).
        name: what the model is, for the message (``"generator"``).
        path: the checkpoint file, for the message.

    Raises:
        ValueError: when the keys or shapes differ.
    """
    own = module.state_dict()
    missing = [key for key in own if key not in state_dict]
    unexpected = [key for key in state_dict if key not in own]
    shapes = [f"{key}: checkpoint {tuple(state_dict[key].shape)} vs model {tuple(own[key].shape)}"
              for key in own if key in state_dict and hasattr(state_dict[key], "shape")
              and tuple(state_dict[key].shape) != tuple(own[key].shape)]
    if missing or unexpected or shapes:
        problems = []
        for label, items in (("missing from the checkpoint", missing), ("unexpected", unexpected),
                             ("of another shape", shapes)):
            if items:
                more = f" and {len(items) - 5} more" if len(items) > 5 else ""
                problems.append(f"{len(items)} {label}: {', '.join(items[:5])}{more}")
        source = f"checkpoint {path}" if path is not None else "the checkpoint"
        raise ValueError(
            f"The {name} in {source} does not fit this {type(module).__name__}: {'; '.join(problems)}. "
            f"Expected the same architecture and sizes (image_size, channels, latent/embedding dims, "
            f"number of classes) as the run that wrote it. Build the {name} with the settings stored in the "
            f"checkpoint's 'config', or use another checkpoint_path (or resume=False) to train this one afresh."
        )
    module.load_state_dict(state_dict)


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
