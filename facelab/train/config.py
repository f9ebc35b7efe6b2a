"""The settings every training loop shares, and the one validator of every loop's settings.

A loop's config (``GANTrainConfig``, ``RecognizerTrainConfig``, ``VAETrainConfig``) is a dataclass that
inherits :class:`TrainConfig` and adds its own fields. Each class lists how its fields are checked in
``RULES`` (a name -> rule table, merged along the class hierarchy); :meth:`TrainConfig.validate` applies
them when the config is built, so a typo fails at once with a message naming the field, the value, the
valid range and the default, instead of a traceback from deep inside a training run.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

from .fast import OPTIMIZER_IMPLS

__all__ = ["TrainConfig", "Rule", "integer", "rate", "number", "interval", "choice", "flag", "RESUMABLE_CHANGES"]

#: A rule returns what is wrong with a value (the part of the message after "Config.field "), or None.
Rule = Callable[[Any], "str | None"]

#: Fields a resumed run may change: where this call stops, what it shows, how often it saves, and
#: speed switches that change neither the optimiser state nor the result's meaning.
RESUMABLE_CHANGES = ("progress", "max_steps", "checkpoint_every", "checkpoint_path",
                     "compile", "cudnn_benchmark", "data_on_device", "optimizer_impl")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def integer(minimum: int = 1, optional: bool = False) -> Rule:
    """An integer ``>= minimum`` (or None when ``optional``)."""
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            return f"must be an integer >= {minimum}{' or None' if optional else ''}"
        return None
    return check


def rate(what: str = "a learning rate") -> Rule:
    """A finite number > 0."""
    def check(value: Any) -> str | None:
        if not (_is_real(value) and math.isfinite(value) and value > 0):
            return f"must be > 0 ({what} must be a finite number > 0)"
        return None
    return check


def number(minimum: float = 0.0, optional: bool = False) -> Rule:
    """A finite number ``>= minimum`` (or None when ``optional``)."""
    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if not (_is_real(value) and math.isfinite(value) and value >= minimum):
            return f"must be a finite number >= {minimum:g}{' or None' if optional else ''}"
        return None
    return check


def interval(low: float, high: float, *, closed: bool = False, what: str = "") -> Rule:
    """A number in ``[low, high)`` (``[low, high]`` when ``closed``)."""
    def check(value: Any) -> str | None:
        inside = _is_real(value) and low <= value and (value <= high if closed else value < high)
        if not inside:
            about = f" ({what})" if what else ""
            bracket = "]" if closed else ")"
            return (f"{about} must lie in [{low:g}, {high:g}{bracket}, i.e. {low:g} <= value "
                    f"{'<=' if closed else '<'} {high:g}")
        return None
    return check


def choice(options: Sequence[Any], optional: bool = False) -> Rule:
    """One of ``options`` (or None, meaning automatic, when ``optional``)."""
    def check(value: Any) -> str | None:
        if (optional and value is None) or value in options:
            return None
        return f"must be one of {tuple(options)}{' or None (automatic)' if optional else ''}"
    return check


def flag(optional: bool = False) -> Rule:
    """True or False (or None, meaning automatic, when ``optional``)."""
    def check(value: Any) -> str | None:
        if value is True or value is False or (optional and value is None):
            return None
        return f"must be True or False{' or None (automatic)' if optional else ''}"
    return check


@dataclass
class TrainConfig:
    """The fields every training loop has (a loop's config adds its own; all are stored in checkpoints)."""

    steps: int = 500                 # optimisation steps (the generator's, for a GAN)
    batch_size: int = 64
    log_every: int = 10              # steps between history records (the only host sync)
    checkpoint_path: str | None = None
    checkpoint_every: int = 0        # steps between checkpoints; 0: only at the end
    seed: int = 0
    max_steps: int | None = None     # stop after this many steps of this call (tests, dry runs)
    progress: bool = True            # tqdm progress bar
    # --- the fast path (facelab.train.fast); None: on where it helps ---
    amp: bool = True                 # bf16 (else fp16 + GradScaler) autocast on CUDA; CPU always runs float32
    channels_last: bool | None = None  # NHWC memory layout; None: on CUDA (and where a loop measured it faster)
    optimizer_impl: str | None = None  # "fused", "foreach" or "for-loop"; None: fused on CUDA, foreach on CPU
    data_on_device: bool | None = None  # hold in-memory data on the device; None: when it fits in half the free memory
    cudnn_benchmark: bool = True     # cuDNN autotuning (CUDA only)
    compile: bool = False            # torch.compile the models: pays only on long runs

    RULES: ClassVar[dict[str, Rule]] = {
        "steps": integer(1), "batch_size": integer(1), "log_every": integer(1),
        "checkpoint_every": integer(0), "seed": integer(0), "max_steps": integer(0, optional=True),
        "progress": flag(), "amp": flag(), "channels_last": flag(optional=True),
        "optimizer_impl": choice(OPTIMIZER_IMPLS, optional=True), "data_on_device": flag(optional=True),
        "cudnn_benchmark": flag(), "compile": flag(),
    }
    #: Fields a resumed run may change too: ``steps`` trains a run on for longer (a recogniser's cosine
    #: schedule then stretches to the new end from the current step; its peak rate stays the stored one).
    RESUMABLE: ClassVar[tuple[str, ...]] = ("steps",)
    #: Advice for a field, appended to its error (e.g. "the DCGAN paper uses lr_g=2e-4").
    HINTS: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field against its rule (the ``RULES`` of this class and its bases).

        Raises:
            ValueError: naming the class, the field, the value, what is valid and the default.
        """
        rules: dict[str, Rule] = {}
        hints: dict[str, str] = {}
        for cls in reversed(type(self).__mro__):
            rules.update(getattr(cls, "__dict__", {}).get("RULES", {}))
            hints.update(getattr(cls, "__dict__", {}).get("HINTS", {}))
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name, rule in rules.items():
            value = getattr(self, name)
            problem = rule(value)
            if problem is not None:
                problem = problem.replace("value", name)
                hint = hints.get(name, f"e.g. {name}={defaults.get(name)!r} (the default)")
                raise ValueError(f"{type(self).__name__}.{name}{'' if problem.startswith(' ') else ' '}{problem}, "
                                 f"got {value!r}; {hint}.")

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what checkpoints store): paths as strings, since a checkpoint is read back
        with ``weights_only=True``, which refuses a ``pathlib.Path`` object."""
        return {key: os.fspath(value) if isinstance(value, os.PathLike) else value
                for key, value in dataclasses.asdict(self).items()}
