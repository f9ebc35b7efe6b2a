"""Where training runs keep their checkpoints, and how a finished run is found again.

Every training run the chapters start is named by a hash of everything that determines it: the profile,
the objective, the seed, the number of steps and every other training setting. Two calls with the same
settings therefore share one checkpoint file, and the second call resumes from it: when that checkpoint
is already at its last step, nothing is trained again and the saved history comes back with the weights.

That is how

* a long run survives a Colab disconnect: on the full profile, checkpoints go to ``$FACELAB_RUNS_DIR``
  (default ``~/facelab_runs``); point it at a folder in Google Drive and re-run the cell;
* the book does not train chapter 03's GAN and chapter 04's recogniser again in chapters 06-08: the
  Makefile sets ``FACELAB_RUNS_DIR`` to a folder inside ``_build`` that it empties before each build, so a
  chapter reuses what an earlier chapter trained *in the same build*, and every number still comes from
  code that ran in that build.

On the quick profile, runs are reused only when ``FACELAB_RUNS_DIR`` is set; a reader who runs one
chapter alone trains what it needs (about half a minute on a CPU).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from facelab.profile import Profile

__all__ = ["RUNS_DIR_ENV", "runs_dir", "reuse_runs", "run_key", "run_checkpoint_path", "settings_checkpoint_path",
           "data_key", "run_plan", "train_or_reuse", "describe_start"]

T = TypeVar("T")

#: Environment variable naming the directory that holds training checkpoints.
RUNS_DIR_ENV = "FACELAB_RUNS_DIR"
#: Training settings that change how a run is shown or where a call stops, not what it computes.
NOT_IN_KEY = ("progress", "max_steps", "checkpoint_every", "checkpoint_path")


def runs_dir() -> Path:
    """Where runs keep their checkpoints: ``$FACELAB_RUNS_DIR``, else ``~/facelab_runs``.

    On Colab, mount Google Drive and point ``FACELAB_RUNS_DIR`` at a folder on it, so a
    disconnect does not lose the training: the next call resumes from the checkpoint.
    """
    value = os.environ.get(RUNS_DIR_ENV, "").strip()
    return Path(os.path.expandvars(value)).expanduser() if value else Path.home() / "facelab_runs"


def reuse_runs(profile: Profile) -> bool:
    """Whether the chapters' training functions checkpoint (and so reuse) runs by default.

    Always on the full profile (runs take hours); on the quick profile only when ``$FACELAB_RUNS_DIR``
    is set, as the Makefile does for the book build.
    """
    return profile.name == "full" or bool(os.environ.get(RUNS_DIR_ENV, "").strip())


def run_key(profile: Profile, **settings: Any) -> str:
    """A 12-hex-digit hash of the profile and the settings of a run (order-independent)."""
    payload = json.dumps({"profile": dataclasses.asdict(profile), **settings}, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def run_checkpoint_path(kind: str, profile: Profile, **settings: Any) -> Path:
    """The checkpoint file of a run: ``<runs_dir>/<kind>_<profile>_<data><size>_<hash>.pt``.

    Args:
        kind: what is trained, e.g. ``"dcgan_nonsaturating"`` or ``"recognizer_arcface"``.
        profile: the profile the run uses (every field enters the hash).
        **settings: everything else that determines the run (JSON-serialisable values; others by repr).

    Returns:
        The path (its directory may not exist yet; saving creates it).
    """
    name = f"{kind}_{profile.name}_{profile.dataset}{profile.image_size}_{run_key(profile, **settings)}.pt"
    return runs_dir() / name


def settings_checkpoint_path(kind: str, profile: Profile, settings: dict[str, Any], **extra: Any) -> Path:
    """:func:`run_checkpoint_path` of a training call's settings (a config's fields as a dict).

    Settings that do not change what the run computes (:data:`NOT_IN_KEY`: the progress bar, where
    this call stops, how often it saves) stay out of the name, so a call with ``max_steps`` and a later
    call without it name the same run, and the later one resumes it.

    Args:
        kind: what is trained, e.g. ``"dcgan_nonsaturating"``.
        profile: the profile of the run.
        settings: the training config's fields.
        **extra: what else determines the run but is not a config field (a head's options, the data).
    """
    identity = {name: value for name, value in settings.items() if name not in NOT_IN_KEY}
    return run_checkpoint_path(kind, profile, **extra, **identity)


def _tensor_digest(tensor: torch.Tensor, digest: "hashlib._Hash") -> None:
    flat = tensor.detach().cpu().contiguous().flatten()
    stride = max(1, flat.numel() // 65_536)  # ~64k evenly spaced values, and the sum of all of them
    digest.update(f"{tuple(tensor.shape)} {tensor.dtype} {float(flat.sum(dtype=torch.float64))!r}".encode())
    digest.update(flat[::stride].float().numpy().tobytes())


def data_key(data: Any) -> str | None:
    """A 12-hex-digit key of in-memory training data: its size, identities and a fingerprint of its pixels.

    Two data sets with other images (another source, folder, size, subset or fallback) get other keys, so
    a run trained on one is never reused for the other. Data that cannot be fingerprinted (a
    ``DataLoader``, a sampling function) has no key (None) and its runs are not reused.
    """
    images = data[0] if isinstance(data, (tuple, list)) and len(data) == 2 else getattr(data, "images", data)
    if not isinstance(images, torch.Tensor):
        return None
    labels = data[1] if isinstance(data, (tuple, list)) else getattr(data, "labels", None)
    digest = hashlib.sha256()
    _tensor_digest(images, digest)
    if isinstance(labels, torch.Tensor):
        _tensor_digest(labels, digest)
        digest.update(f"identities={int(torch.unique(labels).numel())}".encode())
    return digest.hexdigest()[:12]


def run_plan(kind: str, profile: Profile, settings: dict[str, Any], data: Any, *, reusable: bool = True,
             **extra: Any) -> dict[str, Any]:
    """A training call's settings with the checkpoint the reuse policy gives it (the one place that decides).

    A run gets a checkpoint named by the profile, every setting that changes what it computes, ``extra``
    (a head's options, a likelihood) **and the key of its data** (:func:`data_key`) when

    * no ``checkpoint_path`` was given (a given one is used as it is),
    * :func:`reuse_runs` says so for the profile,
    * ``reusable`` (the caller's own policy: e.g. callbacks that measure would miss a reused run), and
    * the data has a key.

    Returns:
        The settings with ``checkpoint_path`` (a string or None) and, with a checkpoint, ``checkpoint_every``
        (default 1,000 steps).
    """
    settings = dict(settings)
    if settings.get("checkpoint_path") is None:
        key = data_key(data) if reusable and reuse_runs(profile) else None
        path = settings_checkpoint_path(kind, profile, settings, data=key, **extra) if key is not None else None
        settings["checkpoint_path"] = str(path) if path is not None else None
    else:
        settings["checkpoint_path"] = str(settings["checkpoint_path"])
    if settings["checkpoint_path"] is not None:
        settings.setdefault("checkpoint_every", 1000)
    return settings


def describe_start(label: str, checkpoint_path: str | os.PathLike | None, steps: int) -> str | None:
    """What a training call is about to do, in words (never a file path: the book prints this line).

    Returns:
        ``"Reusing ..."`` for a finished run, ``"Resuming ..."`` for an interrupted one, None for a fresh run.
    """
    if checkpoint_path is None or not Path(checkpoint_path).is_file():
        return None
    from facelab.train.checkpoint import load_checkpoint  # a run's checkpoint: read safely

    done = int(load_checkpoint(checkpoint_path).get("step", 0))
    if done >= steps:
        return (f"Reusing the finished {label} run ({done} steps, trained earlier with the same settings and "
                "data): nothing is trained again.")
    return f"Resuming the {label} run at step {done} of {steps} (an earlier call stopped there)."


def train_or_reuse(kind: str, profile: Profile, config_type: Callable[..., Any], settings: dict[str, Any],
                   data: Any, train: Callable[[Any], T], *, reusable: bool = True, label: str = "",
                   **extra: Any) -> tuple[Any, T]:
    """Train a run, or reuse (resume) the one an earlier call with the same profile, settings and data wrote.

    Args:
        kind: what is trained, e.g. ``"dcgan_nonsaturating"`` (the start of the checkpoint's name).
        profile: the profile of the run.
        config_type: the loop's config class (``GANTrainConfig``).
        settings: the config's fields.
        data: the training data (keyed by :func:`data_key`).
        train: ``config -> result``: runs the training loop (which resumes from the checkpoint).
        reusable: the caller's part of the policy (see :func:`run_plan`).
        label: the run's name in the message, e.g. ``"DCGAN"``.
        **extra: what else determines the run but is not a config field.

    Returns:
        ``(config, train(config))``.
    """
    config = config_type(**run_plan(kind, profile, settings, data, reusable=reusable, **extra))
    message = describe_start(label or kind, config.checkpoint_path, config.steps)
    if message:
        print(message)
    return config, train(config)
