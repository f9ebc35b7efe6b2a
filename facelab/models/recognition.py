"""A small residual face embedder: image -> L2-normalised identity embedding.

The feature extractor of a face recogniser is an image-to-vector convolutional
network, like a GAN's *discriminator* (not its generator): D ends in one score,
the embedder in ``embedding_dim`` numbers. Its body is a ResNet (He, Zhang, Ren &
Sun, CVPR 2016, "Deep Residual Learning for Image Recognition") made of
``BasicBlock``s (two 3x3 convolutions with batch norm and a shortcut), one
stride-2 stage per halving of the resolution. Its output layer is ArcFace's
"BN-Dropout-FC-BN" (Deng, Guo, Xue & Zafeiriou, CVPR 2019, "ArcFace: Additive
Angular Margin Loss for Deep Face Recognition", option E of their Table 2),
applied after global average pooling: batch norm, dropout, a linear map to the
embedding, and a final batch norm that keeps the embedding centred with a stable
scale while the classification head trains.

Shapes for ``image_size=32``, ``channels=C``: ``(B, 3, 32, 32)`` -> stem
``(B, C, 32, 32)`` -> stages ``(B, C, 16, 16)``, ``(B, 2C, 8, 8)``, ``(B, 4C, 4, 4)``
-> pool ``(B, 4C)`` -> ``(B, embedding_dim)``. ``image_size=64`` adds one stage
(``8C`` channels), so both end on a 4x4 map.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SUPPORTED_SIZES = (32, 64)

__all__ = ["BasicBlock", "FaceEmbedder", "SUPPORTED_SIZES"]


class BasicBlock(nn.Module):
    """ResNet's basic block: ``relu(bn(conv(relu(bn(conv(x))))) + shortcut(x))``.

    The shortcut is the identity, or a projection with batch norm when the block
    changes the resolution or the width (He et al. 2016, option B). Its downsampling
    is a 2x2 average pool before a 1x1 convolution ("ResNet-D", He et al. 2019,
    "Bag of Tricks for Image Classification with CNNs") instead of a stride-2 1x1
    convolution, which would ignore three pixels in four. (It also sidesteps a
    PyTorch CPU bug: the backward pass of stride-2 1x1 convolutions in
    channels-last layout can corrupt memory.)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            pool = nn.AvgPool2d(stride) if stride != 1 else nn.Identity()
            self.shortcut = nn.Sequential(pool, nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class FaceEmbedder(nn.Module):
    """Residual CNN mapping faces ``(B, 3, S, S)`` in ``[-1, 1]`` to unit embeddings ``(B, D)``.

    Args:
        embedding_dim: ``D``, the size of the embedding (512 in ArcFace, 128 in FaceNet).
        channels: width of the first stage; each later stage doubles it.
        image_size: 32 or 64 (one stride-2 stage per halving down to 4x4).
        blocks_per_stage: basic blocks per stage (1 is enough for 32x32 synthetic faces).
        dropout: dropout before the embedding layer (ArcFace's output layer uses 0.4 on
            large data; small models on small data need none).
    """

    def __init__(self, *, embedding_dim: int = 128, channels: int = 32, image_size: int = 32,
                 blocks_per_stage: int = 1, dropout: float = 0.0):
        super().__init__()
        if image_size not in SUPPORTED_SIZES:
            raise ValueError(f"FaceEmbedder supports image_size in {SUPPORTED_SIZES}, got {image_size!r}; "
                             "resize the faces (torch.nn.functional.interpolate) or pick a supported size.")
        for name, value in (("embedding_dim", embedding_dim), ("channels", channels),
                            ("blocks_per_stage", blocks_per_stage)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FaceEmbedder {name} must be a positive integer, got {value!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"FaceEmbedder dropout must lie in [0, 1), got {dropout!r}.")
        self.embedding_dim, self.image_size = embedding_dim, image_size
        num_stages = int(math.log2(image_size)) - 2  # 32 -> 3 stages, 64 -> 4: both end at 4x4

        # stem: (B, 3, S, S) -> (B, C, S, S)
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 1, 1, bias=False), nn.BatchNorm2d(channels),
                                  nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        width = channels
        for stage in range(num_stages):  # each stage halves the resolution
            out = channels * 2**stage
            for b in range(blocks_per_stage):
                blocks.append(BasicBlock(width, out, stride=2 if b == 0 else 1))
                width = out
        self.body = nn.Sequential(*blocks)
        # output layer "BN-Dropout-FC-BN" (ArcFace), after global average pooling
        self.output = nn.Sequential(
            nn.BatchNorm2d(width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width, embedding_dim),
            nn.BatchNorm1d(embedding_dim),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, BasicBlock):  # zero-init the last BN: each block starts as identity
                nn.init.zeros_(module.bn2.weight)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The un-normalised embedding ``(B, D)`` (what a classification head is trained on)."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"FaceEmbedder expects images of shape (B, 3, {self.image_size}, {self.image_size}), "
                             f"got {tuple(images.shape)}; resize them or build the embedder with "
                             f"image_size={images.shape[-1]}.")
        if not images.is_floating_point():
            raise TypeError(f"FaceEmbedder expects float images in [-1, 1], got dtype {images.dtype}; "
                            "convert uint8 pixels with images.float() / 127.5 - 1.")
        return self.output(self.body(self.stem(images)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings ``(B, D)``: cosine similarity is then a dot product."""
        return F.normalize(self.features(images).float(), dim=1)
