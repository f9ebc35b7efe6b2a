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
from typing import Any

from facelab.profile import Profile

__all__ = ["RUNS_DIR_ENV", "runs_dir", "reuse_runs", "run_key", "run_checkpoint_path", "settings_checkpoint_path"]

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
