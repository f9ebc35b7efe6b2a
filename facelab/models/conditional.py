"""An identity-conditioned DCGAN: a generator that makes faces *of a given person*.

A conditional GAN (Mirza & Osindero 2014) gives both networks the class label ``y``
(here: an identity) and plays the minimax game on the joint distribution,

    min_G max_D  E_{(x, y) ~ p_data} [log D(x, y)] + E_{z ~ p_z, y ~ p(y)} [log(1 - D(G(z, y), y))],

so that at the optimum ``p_G(x | y) = p_data(x | y)`` for every identity ``y``.

**Generator** (:class:`ConditionalGenerator`): the label goes through a learnt embedding
and is concatenated to ``z`` (the cGAN paper's construction); the result feeds the
unchanged DCGAN generator of :mod:`facelab.models.dcgan`, so sizes and channels are
those of chapter 03's GAN.

**Discriminator** (:class:`ProjectionDiscriminator`): the projection discriminator of
Miyato & Koyama (2018). The DCGAN discriminator's convolutional features ``phi(x)``
give the unconditional score ``psi(phi(x))`` (DCGAN's last convolution), and the label
adds an inner product with a learnt class embedding,

    D(x, y) = psi(phi(x)) + embed(y) . sum_{h, w} phi(x).

We chose projection over an auxiliary classifier (AC-GAN, Odena et al. 2017) for two
reasons. (1) The projection form is what the log-density ratio ``log p(x, y) / q(x, y)``
looks like when ``p(y | x)`` is a softmax model, so the conditional information enters
the one adversarial score: *every* objective of ``facelab.losses.gan`` and the unchanged
step of ``facelab.train.gan.train_gan`` train it, with no extra classification loss.
(2) AC-GAN's auxiliary classification loss rewards the generator for faces that are
*easy to classify*, which reduces within-class diversity (Miyato & Koyama discuss it;
Gong et al. 2019, "Twin Auxiliary Classifiers GAN", analyse and show it); new, *varied*
faces of a person are exactly what an augmentation experiment needs.
"""
from __future__ import annotations

import torch
from torch import nn

from .dcgan import Discriminator, Generator
from .sampling import standard_normal_latents

__all__ = ["ConditionalGenerator", "ProjectionDiscriminator", "check_labels"]


def check_labels(labels: torch.Tensor, num_classes: int, batch: int, who: str) -> torch.Tensor:
    """Validate a batch of class labels and return it as a long tensor.

    Args:
        labels: integer tensor of shape ``(batch,)`` with values in ``0..num_classes-1``.
        num_classes: the number of classes the model was built for.
        batch: the batch size the labels must match.
        who: the model's name, for the error message.

    Raises:
        TypeError: labels are not an integer tensor.
        ValueError: wrong shape or a label out of range.
    """
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool:
        got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise TypeError(f"{who} needs integer class labels (a torch.long tensor), got {got}; "
                        "pass e.g. torch.tensor([0, 3, 1]) or dataset.labels.")
    if labels.shape != (batch,):
        raise ValueError(f"{who} needs one label per image, shape ({batch},), got {tuple(labels.shape)}.")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"{who} was built for {num_classes} classes (labels 0..{num_classes - 1}) but got labels "
                         f"from {int(labels.min())} to {int(labels.max())}; relabel the data "
                         "(dataset.subset(..., relabel=True)) or build the model with more classes.")
    return labels.long()


class ConditionalGenerator(nn.Module):
    """DCGAN generator conditioned on a class: ``(z, y) -> (B, C, S, S)`` images in ``[-1, 1]``.

    ``y`` is embedded into ``embed_dim`` numbers and concatenated to ``z``; the DCGAN
    generator (:class:`facelab.models.dcgan.Generator`) with input size
    ``latent_dim + embed_dim`` does the rest.

    Args:
        num_classes: number of identities (labels ``0..num_classes-1``).
        latent_dim: size of ``z``.
        embed_dim: size of the label embedding; default ``latent_dim // 2``.
        channels: width of the generator's last hidden layer (as in the DCGAN generator).
        image_size: 32 or 64.
        out_channels: 3 for colour images.
    """

    def __init__(self, num_classes: int, *, latent_dim: int = 100, embed_dim: int | None = None,
                 channels: int = 64, image_size: int = 64, out_channels: int = 3):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ConditionalGenerator needs num_classes >= 1, got {num_classes}.")
        self.num_classes, self.latent_dim, self.image_size = num_classes, latent_dim, image_size
        self.embed_dim = embed_dim if embed_dim is not None else max(1, latent_dim // 2)
        self.embed = nn.Embedding(num_classes, self.embed_dim)  # N(0, 1): the same scale as z
        self.body = Generator(latent_dim=latent_dim + self.embed_dim, channels=channels, image_size=image_size,
                              out_channels=out_channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"ConditionalGenerator needs z of shape (B, {self.latent_dim}), got {tuple(z.shape)}; "
                             "draw it with generator.sample_latent(n).")
        labels = check_labels(labels, self.num_classes, z.shape[0], "ConditionalGenerator")
        return self.body(torch.cat([z, self.embed(labels).to(z.dtype)], dim=1))  # (B, 3, S, S)

    def sample_latent(self, n: int, device=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` latent vectors ``z ~ N(0, I)``, shape ``(n, latent_dim)``."""
        return standard_normal_latents(n, self.latent_dim, device, generator)


class ProjectionDiscriminator(nn.Module):
    """DCGAN discriminator with a projection head: ``(x, y) -> (B,)`` raw scores.

    Args:
        num_classes: number of identities (labels ``0..num_classes-1``).
        channels: width of the first layer (as in the DCGAN discriminator).
        image_size: 32 or 64.
        in_channels: 3 for colour images.
    """

    def __init__(self, num_classes: int, *, channels: int = 64, image_size: int = 64, in_channels: int = 3):
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"ProjectionDiscriminator needs num_classes >= 1, got {num_classes}.")
        self.num_classes, self.image_size = num_classes, image_size
        self.body = Discriminator(channels=channels, image_size=image_size, in_channels=in_channels)
        width = self.body.net[-1].in_channels  # channels of the last feature map phi(x)
        self.embed = nn.Embedding(num_classes, width)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # DCGAN's initialisation scale

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``phi(x)``: the DCGAN discriminator's last feature map, ``(B, width, 4, 4)``."""
        if images.ndim != 4 or images.shape[-1] != self.image_size or images.shape[-2] != self.image_size:
            raise ValueError(
                f"ProjectionDiscriminator built for (B, C, {self.image_size}, {self.image_size}) images got "
                f"{tuple(images.shape)}; resize the data or build it with image_size={images.shape[-1]}.")
        h = images
        for layer in self.body.net[:-1]:
            h = layer(h)
        return h

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = check_labels(labels, self.num_classes, images.shape[0], "ProjectionDiscriminator")
        h = self.features(images)
        unconditional = self.body.net[-1](h).flatten()  # psi(phi(x)), DCGAN's score
        projection = (self.embed(labels).to(h.dtype) * h.sum(dim=(2, 3))).sum(dim=1)
        return unconditional + projection  # (B,)
