"""What every training loop records: a dataclass of lists that survives a checkpoint round trip.

The GAN, recognition and VAE loops each keep a history dataclass (its fields are the curves the chapters
plot). :class:`History` gives them the same three methods: to and from the plain dict stored in a checkpoint,
and the mean of the latest records.
"""
from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["History"]

H = TypeVar("H", bound="History")


class History:
    """Base of the loops' history dataclasses (subclasses are ``@dataclass``es of lists and numbers)."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python and tensors, for ``save_checkpoint``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls: type[H], state: dict[str, Any]) -> H:
        """The history that :meth:`to_dict` stored."""
        return cls(**state)

    def mean_last(self, key: str, n: int = 10) -> float:
        """Mean of the last ``n`` records of the list field ``key`` (0 when it is empty)."""
        values = getattr(self, key)[-n:]
        return sum(values) / max(len(values), 1)
