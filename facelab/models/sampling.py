"""Drawing from a trained generator: ``sample`` beside the models it runs (inference needs no training code)."""
from __future__ import annotations

import torch
from torch import nn

from ..utils import evaluating

__all__ = ["sample", "is_conditional"]


def standard_normal_latents(n: int, latent_dim: int, device=None,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` latent vectors ``z ~ N(0, I)``, shape ``(n, latent_dim)``: every generator's prior.

    Drawn on the CPU (so a seeded ``generator`` gives the same noise on every device), then moved to ``device``.
    """
    z = torch.randn(n, latent_dim, generator=generator)
    return z.to(device) if device is not None else z


def is_conditional(module: nn.Module) -> bool:
    """Whether a generator or discriminator takes class labels (it has ``num_classes > 0``)."""
    return bool(getattr(module, "num_classes", 0))


@torch.no_grad()
def sample(generator: nn.Module, z: torch.Tensor, labels: torch.Tensor | None = None,
           batch_size: int = 256) -> torch.Tensor:
    """Generator outputs for the latent batch ``z``, in eval mode, as float32.

    Eval mode makes batch norm use its running statistics, so a sample does not
    depend on the other samples in its batch; the module's mode is restored after.

    Args:
        generator: an unconditional generator, or a conditional one (``num_classes > 0``).
        z: latent vectors, shape ``(B, latent_dim)``.
        labels: class labels, shape ``(B,)``: required for a conditional generator,
            forbidden for an unconditional one.
        batch_size: largest batch run at once.
    """
    if is_conditional(generator) != (labels is not None):
        raise ValueError("sample(): pass labels of shape (B,) for a conditional generator and none for an "
                         f"unconditional one; got num_classes={getattr(generator, 'num_classes', None)} and "
                         f"labels={'None' if labels is None else tuple(labels.shape)}.")
    if labels is not None and labels.shape != (z.shape[0],):
        raise ValueError(f"sample(): labels must have shape ({z.shape[0]},) to match z, got {tuple(labels.shape)}.")
    with evaluating(generator):
        if labels is None:
            return torch.cat([generator(chunk).float() for chunk in z.split(batch_size)])
        return torch.cat([generator(chunk, y).float() for chunk, y in zip(z.split(batch_size), labels.split(batch_size))])
