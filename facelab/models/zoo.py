"""The model zoo: every network the course trains, built at a profile's size, and the head settings.

One place for the factories the chapters, the experiments and the CLI share: the DCGAN of Radford,
Metz & Chintala (ICLR 2016), the face recogniser (an embedder and a softmax or margin head, with the
course's :data:`HEAD_OPTIONS`), the VAE of chapter 08, and the toy minibatch-std discriminator of the
mode-collapse experiment.
"""
from __future__ import annotations

import torch
from torch import nn

from ..losses.margin import get_head
from ..profile import Profile
from ..runtime import seed_everything
from .dcgan import Discriminator, Generator
from .recognition import FaceEmbedder
from .vae import VAE

__all__ = ["HEAD_OPTIONS", "DEFAULT_PIXEL_STD", "build_dcgan", "initial_dcgan", "build_recognizer", "build_vae",
           "MinibatchStdDiscriminator"]

#: Head settings of the course. ArcFace and CosFace use s = 64 on 85k identities; with a
#: hundred or so identities and a few hundred steps, s = 64 saturates the softmax before the
#: embedding has learnt anything and training stalls; s = 16 trains (AdaCos, Zhang et al.
#: 2019, derives a scale that grows only with log(number of classes)). The margins are the papers'.
HEAD_OPTIONS: dict[str, dict[str, float]] = {
    "softmax": {},
    "normface": {"scale": 16.0},
    "arcface": {"scale": 16.0, "margin": 0.5},
    "cosface": {"scale": 16.0, "margin": 0.35},
}
#: Pixel standard deviation of the VAE's Gaussian likelihood on the [-1, 1] scale (see build_vae).
DEFAULT_PIXEL_STD = 0.5


def build_dcgan(profile: Profile) -> tuple[Generator, Discriminator]:
    """The DCGAN generator and discriminator at the profile's size (paper size in the full profile)."""
    generator = Generator(latent_dim=profile.latent_dim, channels=profile.gan_channels,
                          image_size=profile.image_size)
    discriminator = Discriminator(channels=profile.gan_channels, image_size=profile.image_size)
    return generator, discriminator


def initial_dcgan(profile: Profile, seed: int = 0) -> tuple[Generator, Discriminator]:
    """The DCGAN of the profile with the initial weights that seed ``seed`` gives (those of every run with it)."""
    seed_everything(seed)
    return build_dcgan(profile)


def build_recognizer(profile: Profile, head: str, num_classes: int,
                     **head_options: float) -> tuple[FaceEmbedder, torch.nn.Module]:
    """The embedder of the profile's size and a head (``"softmax"``, ``"arcface"``, ...)."""
    embedder = FaceEmbedder(embedding_dim=profile.embedding_dim, channels=profile.recognizer_channels,
                            image_size=profile.image_size)
    return embedder, get_head(head, profile.embedding_dim, num_classes, **head_options)


def build_vae(profile: Profile, likelihood: str = "gaussian", pixel_std: float = DEFAULT_PIXEL_STD) -> VAE:
    """The course's VAE at the profile's size: decoder = chapter 03's DCGAN generator.

    Args:
        profile: the course profile (``image_size``, ``latent_dim``, ``gan_channels``).
        likelihood: ``"gaussian"`` (L2, the default) or ``"bernoulli"``.
        pixel_std: ``s`` of the Gaussian likelihood. It sets the weight ``1 / (2 s^2)`` of the squared error
            against the KL term. On the quick profile's budget (1,000 steps) we tried 0.1, 0.2, 0.3 and 0.5:
            smaller values reconstruct a little better, but the encoder then spreads its codes far from the
            prior (KL of 80-250 nats) and decoded prior samples are smeared; 0.5 (KL about 45 nats) gives
            the most face-like samples. The maximum-likelihood value (the reconstructions' RMS error) is
            about 0.16, so 0.5 is a deliberate, beta-VAE-like weighting towards the prior.

    Returns:
        The untrained :class:`facelab.models.vae.VAE`.
    """
    return VAE(latent_dim=profile.latent_dim, channels=profile.gan_channels, image_size=profile.image_size,
               likelihood=likelihood, pixel_std=pixel_std)


class MinibatchStdDiscriminator(nn.Module):
    """A toy discriminator that also sees how spread out its whole batch is.

    The batch's mean standard deviation is appended to every input as one more
    feature: the *minibatch standard deviation* of Karras et al. (2018), the simplest
    form of the minibatch discrimination of Salimans et al. (2016). A collapsed
    generator produces batches with too little spread, which D can now detect, so G
    is pushed to diversify. (Batches are all-real or all-fake in the training loop.)
    """

    def __init__(self, *, data_dim: int = 2, hidden: int = 64, depth: int = 3):
        super().__init__()
        from facelab.models.toy import ToyDiscriminator

        self.data_dim = data_dim
        self.inner = ToyDiscriminator(data_dim=data_dim + 1, hidden=hidden, depth=depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.std(dim=0).mean().expand(x.shape[0], 1)  # (B, 1): one number for the batch
        return self.inner(torch.cat([x, spread], dim=1))
