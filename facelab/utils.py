"""Small helpers every layer may use: eval mode for a block, tensors to numpy, a thread count for a block.

This module imports only torch and numpy, so the data, models, losses, metrics, train and experiments
layers can all use it without an import cycle.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

__all__ = ["evaluating", "to_numpy", "torch_threads"]


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Run a block with ``modules`` in eval mode and give each its own previous mode back after.

    Eval mode makes batch norm use its running statistics and turns dropout off, so an output
    does not depend on the rest of its batch. ``with evaluating(generator): ...``
    """
    modes = [module.training for module in modules]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for module, mode in zip(modules, modes):
            module.train(mode)


def to_numpy(x: Any) -> np.ndarray:
    """Convert a torch tensor (any device, with or without grad), list or array to numpy."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)`` and restore the previous setting after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
