"""The chapters' toy GAN pair, and discriminators trained over seeds against a frozen sampler.

``fit_discriminators`` trains one ``ToyDiscriminator`` per seed with the minimax D loss (the
binary cross-entropy) as one batched computation (``Stack`` + ``StackedAdam``) against samplers
that nothing moves: the "fixed G" of the optimal-discriminator argument, and the "strong D"
of a saturation experiment.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..losses.gan import minimax_loss_d
from ..models.toy import ToyDiscriminator, ToyGenerator
from .ensemble import Stack, StackedAdam

Tensor = torch.Tensor
Sampler = Callable[[int, torch.Generator], Tensor]

# the toy networks of chapters 1-2: MLPs 64 x 2, latent 8, batch 256
HIDDEN, DEPTH, LATENT, BATCH = 64, 2, 8, 256

__all__ = ["HIDDEN", "DEPTH", "LATENT", "BATCH", "make_models", "fit_discriminators"]


def make_models(dim: int, seed: int) -> tuple[ToyGenerator, ToyDiscriminator]:
    """The chapters' toy pair for ``dim``-D data, initialised from ``seed``."""
    torch.manual_seed(seed)
    return (ToyGenerator(data_dim=dim, latent_dim=LATENT, hidden=HIDDEN, depth=DEPTH),
            ToyDiscriminator(data_dim=dim, hidden=HIDDEN, depth=DEPTH))



def fit_discriminators(sample_real: Sampler, sample_fake: Sampler | Sequence[Sampler], dim: int, seeds: Sequence[int], *,
                       steps: int = 400, lr: float = 1e-3, batch_size: int = BATCH) -> Stack:
    """One discriminator per seed, trained together with the minimax D loss against fixed samplers.

    ``sample_real(n, rng)`` and ``sample_fake(n, rng)`` draw ``(n, dim)`` points; each member draws
    from its own generator seeded with its seed. ``sample_fake`` may be one sampler per member
    (member k against its own frozen generator). The fake samplers are frozen: nothing moves them.
    """
    if steps < 1:
        raise ValueError(f"fit_discriminators needs steps >= 1, got {steps}.")
    fakes = list(sample_fake) if isinstance(sample_fake, (list, tuple)) else [sample_fake] * len(seeds)
    if len(fakes) != len(seeds):
        raise ValueError(f"fit_discriminators got {len(fakes)} fake samplers for {len(seeds)} seeds; pass one, "
                         "or one per seed.")
    ds = []
    for s in seeds:
        torch.manual_seed(s)
        ds.append(ToyDiscriminator(data_dim=dim, hidden=HIDDEN, depth=DEPTH))
    stack = Stack(ds)
    params = list(stack.params.values())
    opt = StackedAdam(params, lr, (0.5, 0.999))
    rngs = [torch.Generator().manual_seed(10_000 + s) for s in seeds]
    for _ in range(steps):
        with torch.no_grad():
            real = torch.stack([sample_real(batch_size, r) for r in rngs])
            fake = torch.stack([f(batch_size, r) for f, r in zip(fakes, rngs)])
        real_s, fake_s = stack(torch.cat([real, fake], 1)).split(batch_size, 1)
        loss = torch.vmap(minimax_loss_d)(real_s, fake_s)
        opt.step(torch.autograd.grad(loss.sum(), params))
    return stack
