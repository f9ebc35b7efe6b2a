"""Chapters 1-2 and 8's toy GAN, one member per seed, trained as one computation.

The toy networks and their settings are :mod:`facelab.baselines.toy`'s; the batched training is
:func:`facelab.train.ensemble_gan.train_gan_ensemble`. Member ``k`` equals ``train_toy_gan(..., seed=seeds[k])``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from facelab.baselines.toy import make_toy_models, toy_settings
from facelab.profile import get_profile
from facelab.train.ensemble_gan import GANEnsemble, train_gan_ensemble
from facelab.train.gan import GANTrainConfig

__all__ = ["train_toy_gan_ensemble"]


def train_toy_gan_ensemble(mixture, loss: str = "nonsaturating", *, seeds: Sequence[int] = (0, 1, 2, 3, 4),
                           steps: int | None = None, settings=None, lrs: float | Sequence[float] | None = None,
                           gp_weight: float | Sequence[float] | None = None, num_samples: int | None = None,
                           max_steps: int | None = None, threads: int = 1) -> GANEnsemble:
    """The toy GAN of chapters 1-2 and 8 (``facelab.baselines.toy``), one member per seed, as one computation.

    Member k is ``train_toy_gan(mixture, loss, seed=seeds[k], settings=...)``'s network pair
    trained the same way (same initial weights, data and noise streams). ``histories[k].samples[-1]``
    are the final generator's outputs on ``num_samples`` (default ``settings.num_samples``)
    fixed noise vectors, ready for ``modes_covered`` and ``high_quality_fraction``.

    Args:
        mixture: a ``GaussianMixture`` (``ring_2d()``, ``mixture_1d()``).
        loss: a GAN objective name (``facelab.losses.GAN_LOSSES``).
        seeds: one member per seed.
        steps: generator updates; default the profile's ``toy_steps``.
        settings: ``ToySettings``; default ``toy_settings(mixture)``.
        lrs: Adam learning rate of both players, one or one per member; default ``settings.lr``.
        gp_weight: the WGAN-GP lambda, one or one per member; default the loss's (10 for ``wgan-gp``).
        max_steps: stop early (tests).
        threads: ``torch.set_num_threads`` during training (restored after).
    """
    settings = settings or toy_settings(mixture)
    steps = steps or get_profile().toy_steps
    config = GANTrainConfig(loss=loss, steps=steps, batch_size=settings.batch_size, lr_g=settings.lr,
                            lr_d=settings.lr, beta1=settings.beta1, beta2=settings.beta2, d_steps=settings.d_steps,
                            log_every=min(10, steps), sample_every=steps, num_samples=num_samples or settings.num_samples,
                            max_steps=max_steps, progress=False, amp=False)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return train_gan_ensemble(lambda s: make_toy_models(mixture, settings, s), mixture.sample, seeds, config,
                                  lr_g=lrs, lr_d=lrs, gp_weight=gp_weight)
    finally:
        torch.set_num_threads(previous)
