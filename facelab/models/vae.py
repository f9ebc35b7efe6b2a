"""A small convolutional variational autoencoder (Kingma & Welling, ICLR 2014).

A VAE is a latent-variable model ``p(x) = ∫ p(x | z) p(z) dz`` with a standard normal prior
``p(z) = N(0, I)`` and a *decoder* that gives the likelihood ``p(x | z)``. It is trained by maximising
the evidence lower bound (ELBO) on ``log p(x)``, with an *encoder* ``q(z | x) = N(mu(x), diag sigma(x)^2)``
that guesses which latents could have produced an image:

    log p(x) >= ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z)).

The expectation is estimated with one sample drawn by the *reparameterisation trick*,
``z = mu + sigma * eps`` with ``eps ~ N(0, I)``, so gradients flow into ``mu`` and ``sigma``; the KL term
between two Gaussians has a closed form.

Architecture. To compare a VAE with chapter 03's GAN on equal terms, the decoder *is* the DCGAN
generator (:class:`facelab.models.dcgan.Generator`, same widths, batch norm and ``tanh`` output), and
the encoder mirrors the DCGAN discriminator (strided convolutions, LeakyReLU) with a last convolution
that outputs ``mu`` and ``log sigma^2`` instead of one score. Samples of the two models then differ
only by how the same network was trained.

Likelihood (the choice matters, so it is a parameter):

* ``"gaussian"`` (default): ``p(x | z) = N(decoder(z), s^2 I)`` with a fixed pixel standard deviation
  ``s`` (``pixel_std``). Its negative log-likelihood is ``||x - decoder(z)||^2 / (2 s^2)`` plus a
  constant: the L2 (squared-error) reconstruction loss. Smaller ``s`` weights reconstruction more
  against the KL term (it is equivalent to the ``beta`` of a beta-VAE, ``beta = 2 s^2`` on the squared
  error). Images live in ``[-1, 1]``, the range of the decoder's ``tanh``.
* ``"bernoulli"``: pixels rescaled to ``[0, 1]`` and scored with binary cross-entropy, the common
  "Bernoulli" choice for images. It is not a normalised density for continuous pixels (the continuous
  Bernoulli of Loaiza-Ganem & Cunningham, NeurIPS 2019, corrects that); it is offered for comparison
  with the many VAEs that use it.

Both likelihoods reward the decoder for predicting the *mean* of the images that are consistent with a
latent vector. When the latent cannot pin down every detail (it never can: the KL term limits how much
information it carries), that mean is an average of several sharp faces: the reason VAE samples are
blurrier than a GAN's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from facelab.models.dcgan import Generator, dcgan_init_, num_blocks
from facelab.models.sampling import standard_normal_latents
from facelab.utils import evaluating

__all__ = ["LIKELIHOODS", "VAEOutput", "Encoder", "VAE", "kl_to_standard_normal", "reconstruction_nll"]

LIKELIHOODS = ("gaussian", "bernoulli")
_LOG_2PI = math.log(2 * math.pi)


@dataclass
class VAEOutput:
    """What a forward pass of the VAE returns (all per image, shape ``(B,)`` unless stated)."""

    reconstruction: torch.Tensor  # (B, 3, S, S) decoder mean for the sampled z, in [-1, 1]
    mu: torch.Tensor              # (B, latent_dim) mean of q(z | x)
    logvar: torch.Tensor          # (B, latent_dim) log variance of q(z | x)
    z: torch.Tensor               # (B, latent_dim) the reparameterised sample
    nll: torch.Tensor             # (B,) -log p(x | z) in nats (reconstruction term)
    kl: torch.Tensor              # (B,) KL(q(z | x) || N(0, I)) in nats

    @property
    def loss(self) -> torch.Tensor:
        """The negative ELBO averaged over the batch (nats per image): what training minimises."""
        return (self.nll + self.kl).mean()


class Encoder(nn.Module):
    """DCGAN-discriminator-shaped encoder: images ``(B, 3, S, S)`` -> ``(mu, logvar)``, each ``(B, latent_dim)``.

    Args:
        latent_dim: size of ``z``.
        channels: width of the first layer; later layers have 2x, 4x (and 8x at 64x64).
        image_size: 32 or 64.
        in_channels: 3 for colour images.
    """

    def __init__(self, *, latent_dim: int = 100, channels: int = 64, image_size: int = 64, in_channels: int = 3):
        super().__init__()
        self.latent_dim, self.image_size = latent_dim, image_size
        width = channels
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(num_blocks(image_size)):  # each block halves the resolution and doubles the width
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        self.features = nn.Sequential(*layers)               # (B, width, 4, 4)
        self.head = nn.Conv2d(width, 2 * latent_dim, 4, 1, 0)  # (B, 2 * latent_dim, 1, 1)
        self.apply(dcgan_init_)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"Encoder built for (B, 3, {self.image_size}, {self.image_size}) images got {tuple(images.shape)}; "
                f"resize the data or build the VAE with image_size={images.shape[-1]}."
            )
        mu, logvar = self.head(self.features(images)).flatten(1).chunk(2, dim=1)  # (B, latent_dim) each
        # a bounded log variance keeps exp(logvar) finite early in training (sigma in [e^-7.5, e^2.5])
        return mu, logvar.clamp(-15.0, 5.0)


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag exp(logvar)) || N(0, I))`` per row, in nats.

    The closed form ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)`` (Kingma & Welling 2014, appendix B).

    Args:
        mu: ``(B, d)`` means.
        logvar: ``(B, d)`` log variances.

    Returns:
        ``(B,)`` non-negative divergences.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def reconstruction_nll(reconstruction: torch.Tensor, images: torch.Tensor, likelihood: str = "gaussian",
                       pixel_std: float = 0.1) -> torch.Tensor:
    """``-log p(x | z)`` per image, in nats, for a decoder output and the true images (both in ``[-1, 1]``).

    Args:
        reconstruction: ``(B, C, H, W)`` decoder mean in ``[-1, 1]``.
        images: ``(B, C, H, W)`` true images in ``[-1, 1]``.
        likelihood: ``"gaussian"`` (fixed standard deviation ``pixel_std``; the full normalised density,
            including ``log(2 pi s^2) / 2`` per pixel) or ``"bernoulli"`` (binary cross-entropy on pixels
            mapped to ``[0, 1]``).
        pixel_std: ``s`` of the Gaussian likelihood, on the ``[-1, 1]`` pixel scale.

    Returns:
        ``(B,)`` negative log-likelihoods.

    Raises:
        ValueError: an unknown likelihood, a non-positive ``pixel_std``, or mismatched shapes.
    """
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}.")
    if reconstruction.shape != images.shape:
        raise ValueError(f"reconstruction {tuple(reconstruction.shape)} and images {tuple(images.shape)} must have "
                         "the same shape; decode at the images' size.")
    if likelihood == "gaussian":
        if not pixel_std > 0:
            raise ValueError(f"pixel_std must be > 0, got {pixel_std}; 0.1 on the [-1, 1] scale is a common choice.")
        squared = (images - reconstruction).pow(2).flatten(1).sum(1)  # (B,)
        pixels = images[0].numel()
        return squared / (2 * pixel_std**2) + 0.5 * pixels * (_LOG_2PI + 2 * math.log(pixel_std))
    # Bernoulli: probabilities p = (reconstruction + 1) / 2, targets (images + 1) / 2, both in [0, 1]
    probs = ((reconstruction + 1) / 2).clamp(1e-6, 1 - 1e-6)
    targets = ((images + 1) / 2).clamp(0, 1)
    return F.binary_cross_entropy(probs, targets, reduction="none").flatten(1).sum(1)


class VAE(nn.Module):
    """Convolutional VAE whose decoder is the DCGAN generator.

    Args:
        latent_dim: size of ``z``.
        channels: base width of encoder and decoder (the DCGAN ``channels``).
        image_size: 32 or 64.
        likelihood: ``"gaussian"`` (L2) or ``"bernoulli"`` (binary cross-entropy); see the module docstring.
        pixel_std: standard deviation ``s`` of the Gaussian likelihood on the ``[-1, 1]`` scale.
    """

    def __init__(self, *, latent_dim: int = 100, channels: int = 64, image_size: int = 64,
                 likelihood: str = "gaussian", pixel_std: float = 0.1):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"Unknown likelihood {likelihood!r}; expected one of {LIKELIHOODS}.")
        if not pixel_std > 0:
            raise ValueError(f"pixel_std must be > 0, got {pixel_std}; 0.1 on the [-1, 1] scale is a common choice.")
        self.latent_dim, self.image_size = latent_dim, image_size
        self.likelihood, self.pixel_std = likelihood, float(pixel_std)
        self.encoder = Encoder(latent_dim=latent_dim, channels=channels, image_size=image_size)
        self.decoder = Generator(latent_dim=latent_dim, channels=channels, image_size=image_size)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of ``q(z | x)``, each ``(B, latent_dim)``."""
        return self.encoder(images)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image for each latent, ``(B, 3, S, S)`` in ``[-1, 1]``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = mu + sigma * eps`` with ``eps ~ N(0, I)``: a sample of ``q(z | x)`` that gradients flow through."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    def forward(self, images: torch.Tensor) -> VAEOutput:
        mu, logvar = self.encode(images)
        z = self.reparameterize(mu, logvar)
        reconstruction = self.decode(z)
        nll = reconstruction_nll(reconstruction.float(), images.float(), self.likelihood, self.pixel_std)
        return VAEOutput(reconstruction, mu, logvar, z, nll, kl_to_standard_normal(mu.float(), logvar.float()))

    def sample_latent(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` latent vectors from the prior ``N(0, I)``, shape ``(n, latent_dim)``."""
        return standard_normal_latents(n, self.latent_dim, device, generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, batch_size: int = 256) -> torch.Tensor:
        """``n`` new images: ``z ~ N(0, I)`` through the decoder, in eval mode, on the CPU.

        As is usual for image VAEs, a sample is the decoder's *mean* image for ``z``; drawing pixel noise
        from ``p(x | z)`` on top would only add independent per-pixel noise.
        """
        device = next(self.parameters()).device
        z = self.sample_latent(n, generator=generator)
        return self._eval_map(self.decode, z, device, batch_size)

    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Decoder mean at the encoder mean, ``decode(mu(x))``, in eval mode, on the CPU."""
        device = next(self.parameters()).device
        return self._eval_map(lambda x: self.decode(self.encode(x)[0]), images, device, batch_size)

    def _eval_map(self, fn, inputs: torch.Tensor, device, batch_size: int) -> torch.Tensor:
        with evaluating(self):  # batch norm with running statistics: an output does not depend on its batch
            return torch.cat([fn(chunk.to(device)).float().cpu() for chunk in inputs.split(batch_size)])
