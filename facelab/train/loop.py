"""What every training loop does around its step, written once: :class:`TrainingRun`.

A loop file (``gan.py``, ``recognition.py``, ``vae.py``) builds its models and optimisers, writes its
step as one named function (``gan_step``, ``recognizer_step``, ``vae_step``) and hands the rest to a
``TrainingRun``:

* **its checkpoint is safe to write before the first step**: the folder is created and a file written
  and removed in it, so a read-only folder or a path below a file fails in the first second, not after
  the training;
* **one process at a time** trains into a checkpoint: the run holds a lock file beside it (``.lock``)
  and a second process gets an error naming the first one's pid;
* **resume**: when the checkpoint exists, its settings are compared with this run's and a mismatch is
  refused (naming the fields and how to start fresh), then weights, optimiser and scaler states, the
  history, the fixed tensors, the step and the random state are restored, so a resumed run continues
  bit for bit;
* **no per-step host sync**: :meth:`TrainingRun.record` keeps each step's statistics on the device and
  averages them into the history once per ``log_every`` steps, where the
  :class:`~facelab.train.guards.DivergenceGuard` also checks them;
* **atomic checkpoints** every ``checkpoint_every`` steps and at the end (never of a diverged state),
  the training time, and one ``tqdm`` progress bar.

Mixed precision, memory format, DDP and data placement stay in :mod:`facelab.train.fast`: the run asks
its :class:`~facelab.train.fast.FastPath` for them, so the precision is decided in one place.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from .checkpoint import CheckpointMismatch, load_checkpoint, load_state_dict_checked, require_keys, rng_state, save_checkpoint, \
    set_rng_state
from .config import RESUMABLE_CHANGES, TrainConfig
from .fast import FastPath
from .guards import DivergenceGuard
from .history import History

try:  # POSIX; elsewhere the lock is an exclusively created file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["TrainingRun", "RunInUse", "update", "progress", "check_writable", "config_mismatch"]


class RunInUse(RuntimeError):
    """Another process is training into the same checkpoint."""


def update(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, loss: torch.Tensor) -> None:
    """One gradient step on ``loss``: clear the gradients, backpropagate (loss-scaled for fp16), step."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def progress(iterable, enabled: bool, desc: str, **kwargs):
    """``iterable`` with a tqdm progress bar (in a notebook, a widget) when ``enabled``."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="step", dynamic_ncols=True, mininterval=1.0, **kwargs)


def check_writable(path: Path, what: str = "checkpoint") -> None:
    """Make sure ``path`` can be written, before any work is spent on what goes there.

    Creates the parent folders and writes and removes a small file beside ``path``.

    Raises:
        NotADirectoryError / IsADirectoryError / PermissionError: naming the path and what to change.
    """
    if path.is_dir():
        raise IsADirectoryError(f"The {what} path {path} is a folder; expected a file name such as "
                                f"{path / 'run.pt'}. Pass a file path.")
    parent = path.parent
    blocker = next((p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise NotADirectoryError(f"Cannot write the {what} {path}: {blocker} is a file, not a folder. Point the "
                                 f"path (or $FACELAB_RUNS_DIR) at a folder, or move that file away.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise PermissionError(f"Cannot write the {what} {path}: the folder {parent} is not writable ({err}). "
                              "Nothing was trained. Choose a writable folder (checkpoint_path, or "
                              "$FACELAB_RUNS_DIR for the chapters' runs) or fix its permissions.") from err


def config_mismatch(stored: Mapping[str, Any], current: Mapping[str, Any], may_change: Sequence[str] = ()) -> list[str]:
    """The settings that differ between a checkpoint's config and this run's, as ``"name: old -> new"``.

    Fields in :data:`~facelab.train.config.RESUMABLE_CHANGES` (where a call stops, what it shows, speed
    switches) may differ, and so may ``may_change`` (a loop's ``RESUMABLE``); a field one side lacks counts
    as different.
    """
    names = sorted((set(stored) | set(current)) - set(RESUMABLE_CHANGES) - set(may_change))
    missing = object()
    return [f"{name}: {stored.get(name, '(absent)')!r} in the checkpoint, {current.get(name, '(absent)')!r} now"
            for name in names if stored.get(name, missing) != current.get(name, missing)]


class _Lock:
    """An exclusive lock file beside a checkpoint, held while a run trains into it."""

    def __init__(self, path: Path):
        self.path = path.with_name(path.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> None:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                elif os.fstat(fd).st_size:  # pragma: no cover - no flock: a file with a pid is held
                    raise BlockingIOError
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise RunInUse(f"Another process (pid {holder}) is training into {self.path.with_suffix('')} right "
                               "now; two runs into one checkpoint would overwrite each other. Wait for it to finish, "
                               f"stop it, or pass another checkpoint_path. (The lock is {self.path}; it is released "
                               "when that process ends.)") from None
            try:  # the file we locked may have been removed by a run that just finished: lock the new one
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                self.fd = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        os.close(self.fd)  # closing releases the flock
        self.fd = None


class TrainingRun:
    """Resume, lock, log, guard, time and checkpoint one training run (use it as a context manager).

    Args:
        loop: the training function's name, for messages (``"train_gan"``).
        config: the run's settings (a :class:`~facelab.train.config.TrainConfig`).
        fast: the run's fast path (device, precision, processes).
        history: a fresh history; replaced by the checkpoint's on resume.
        stats: names of the statistics each step returns, in order (history fields of that name).
        watch: how many of the first ``stats`` are losses the divergence guard watches.
        advice: what to try when training diverges (``"lower lr"``).
        resume: continue from ``config.checkpoint_path`` when that file exists.

    Example (the shape of every loop)::

        with TrainingRun("train_vae", config, fast, VAEHistory(), stats=("loss", "nll", "kl")) as run:
            run.resume(models={"vae": vae}, states={"optimizer": opt, "scaler": scaler})
            for step in run.steps():
                run.record(step, vae_step(...))
        return run.history
    """

    def __init__(self, loop: str, config: TrainConfig, fast: FastPath, history: History, *,
                 stats: Sequence[str], watch: int = 1, advice: str = "lower the learning rate",
                 resume: bool = True, label: str = "train") -> None:
        self.loop, self.config, self.fast, self.history = loop, config, fast, history
        self.stats, self.watch, self.advice, self.allow_resume, self.label = tuple(stats), watch, advice, resume, label
        self.path = Path(config.checkpoint_path) if config.checkpoint_path else None
        self.start = 0
        self.end = 0
        self.models: dict[str, nn.Module] = {}
        self.states: dict[str, Any] = {}
        self.tensors: dict[str, torch.Tensor] = {}
        self.guard: DivergenceGuard | None = None
        self._pending: list[torch.Tensor] = []
        self._lock = _Lock(self.path) if self.path is not None and fast.is_main else None
        self._bar: Any = None
        self._tic = 0.0

    # ------------------------------------------------------------------ set-up
    def __enter__(self) -> "TrainingRun":
        if self.path is not None and self.fast.is_main:
            check_writable(self.path)
        if self._lock is not None:
            self._lock.acquire()
        torch.manual_seed(self.config.seed)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._lock is not None:
            self._lock.release()

    def resume(self, *, models: Mapping[str, nn.Module], states: Mapping[str, Any],
               tensors: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Register what the checkpoint holds and restore it when the run resumes.

        Args:
            models: the modules whose weights are saved (``{"generator": g, ...}``).
            states: other objects with ``state_dict``/``load_state_dict`` (optimisers, schedulers, scalers).
            tensors: tensors fixed for the run (a fixed noise batch), made fresh by the caller.

        Returns:
            ``tensors``, replaced by the checkpoint's when resuming (on the device).

        Raises:
            ValueError: the checkpoint lacks an entry, holds other models, or was written with other settings.
        """
        self.models, self.states, self.tensors = dict(models), dict(states), dict(tensors or {})
        device = self.fast.device
        if self.allow_resume and self.path is not None and self.path.exists():
            state = load_checkpoint(self.path, map_location=device)
            require_keys(state, [*self.models, *self.states, *self.tensors, "history", "step", "rng", "config"],
                         self.path, self.loop)
            changed = config_mismatch(state["config"], self.config.to_dict(), type(self.config).RESUMABLE)
            if changed:
                raise CheckpointMismatch(
                    f"Checkpoint {self.path} was written by a run with other settings, so {self.loop} will not "
                    f"resume it (the result would mix two runs): {'; '.join(changed)}. To start fresh, call "
                    f"{self.loop}(..., resume=False) (it overwrites the checkpoint), pass another checkpoint_path "
                    "or delete the file; to continue the stored run, use its settings.")
            for name, module in self.models.items():
                load_state_dict_checked(module, state[name], name=name, path=self.path)
            for name, obj in self.states.items():
                obj.load_state_dict(state[name])
            self.tensors = {name: state[name].to(device) for name in self.tensors}
            self.history = type(self.history).from_dict(state["history"])
            self.start = state["step"]
            set_rng_state(state["rng"])
        self.fast.decorrelate_rng(self.config.seed, self.start)  # several processes: each rank its own stream
        self.guard = DivergenceGuard(self.stats[:self.watch], device=device, checkpoint_path=self.path,
                                     last_good_step=self.start, advice=self.advice)
        return dict(self.tensors)

    # ------------------------------------------------------------------ the loop
    def steps(self) -> Iterator[int]:
        """The steps still to run, 1-based (the count of steps done after each), with the bookkeeping.

        Checkpoints every ``checkpoint_every`` steps, and at the end (with the history's training time).
        """
        if self.guard is None:
            raise RuntimeError("TrainingRun.steps() needs run.resume(models=..., states=...) first.")
        config = self.config
        self.end = config.steps if config.max_steps is None else min(config.steps, self.start + config.max_steps)
        self._bar = progress(range(self.start, self.end), config.progress and self.fast.is_main, self.label,
                             total=config.steps, initial=self.start)
        self._tic = time.perf_counter()
        for step in self._bar:
            yield step + 1
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
                self.checkpoint(step + 1)
        self.guard.check()
        if self.end > self.start:  # a finished run that is only reloaded keeps its training time
            self.checkpoint(self.end)

    def due(self, step: int, every: int) -> bool:
        """Whether something done every ``every`` steps (and at the last step) is due at ``step``."""
        return step % every == 0 or step == self.end

    def record(self, step: int, stats: torch.Tensor) -> bool:
        """Keep a step's statistics (a 1-D tensor, ordered as ``stats``) on the device; log when due.

        Returns:
            True when this step wrote a history record (the one host sync of ``log_every`` steps).
        """
        self._pending.append(stats)
        self.guard.update(step, *stats[:self.watch])  # on the device: no sync
        if not self.due(step, self.config.log_every):
            return False
        self.guard.check()  # raises TrainingDiverged naming the first non-finite step
        means = self.fast.all_mean(torch.stack(self._pending).mean(0)).tolist()  # averaged over processes
        self._pending.clear()
        self.history.step.append(step)
        for name, value in zip(self.stats, means):
            getattr(self.history, name).append(value)
        if hasattr(self._bar, "set_postfix"):
            self._bar.set_postfix({name: f"{value:.3g}" for name, value in zip(self.stats, means)}, refresh=False)
        return True

    def checkpoint(self, step: int) -> None:
        """Write the run's state atomically (one writer; never a diverged state) and count the time."""
        now = time.perf_counter()
        self.history.seconds += now - self._tic
        self._tic = now
        if self.path is None:
            return
        self.guard.check(step, **self.models)
        if self.fast.is_main:
            save_checkpoint(self.path, {
                **{name: module.state_dict() for name, module in self.models.items()},
                **{name: obj.state_dict() for name, obj in self.states.items()},
                **{name: tensor.cpu() for name, tensor in self.tensors.items()},
                "history": self.history.to_dict(), "step": step, "config": self.config.to_dict(), "rng": rng_state(),
            })
        self.fast.barrier()
        self.guard.saved(step)
