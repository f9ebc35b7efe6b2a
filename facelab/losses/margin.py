"""Classification heads for face recognition: softmax and the angular-margin family.

A recogniser is trained as a classifier over the ``K`` training identities with
**multi-class** cross-entropy on the head's logits ``z``::

    L = -1/N * sum_i log( exp(z_{i,y_i}) / sum_j exp(z_{i,j}) )

(the binary form ``-[y log p + (1 - y) log(1 - p)]`` is the GAN discriminator's
loss, one real/fake decision, not a choice among ``K`` people).

* :func:`softmax_head` is the baseline: a linear layer ``z_j = w_j . x + b_j``.
* :class:`MarginHead` normalises the embedding ``x`` and the class weights ``w_j``,
  so ``w_j . x = cos(theta_j)``, and implements the combined margin of ArcFace
  (Deng, Guo, Xue & Zafeiriou, CVPR 2019, "ArcFace: Additive Angular Margin Loss
  for Deep Face Recognition", Sec. 3.2)::

      z_{i,y_i} = s * (cos(m1 * theta_{y_i} + m2) - m3)     # the true class
      z_{i,j}   = s * cos(theta_j)                         # every other class

  ``m1`` is SphereFace's multiplicative angular margin (Liu et al., CVPR 2017),
  ``m2`` ArcFace's additive angular margin (:func:`arcface_head`), ``m3`` CosFace's
  additive cosine margin (Wang et al., CVPR 2018, :func:`cosface_head`); with no
  margin it is the "normalised softmax" ``s * cos(theta)``. The true class must
  beat the others by a margin, which pulls the images of one person together and
  pushes people apart on the sphere: what verification by cosine needs.

The heads map ``(embeddings, labels)`` to logits, as insightface's ``arcface_torch``
margin modules do; without labels they return margin-free logits (for prediction).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MarginHead", "SoftmaxHead", "softmax_head", "arcface_head", "cosface_head", "get_head", "HEADS"]

_EPS = 1e-7  # keeps acos away from +-1, where its gradient is infinite


class SoftmaxHead(nn.Linear):
    """The baseline classifier: a linear layer with bias, ``z = W x + b`` (plain softmax loss).

    Takes ``labels`` only for a common interface with :class:`MarginHead`; it ignores them.
    """

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(embeddings)


class MarginHead(nn.Module):
    """Combined angular-margin head (ArcFace Sec. 3.2): ``s*(cos(m1*theta+m2)-m3)`` on the true class.

    Args:
        embedding_dim: size ``D`` of the embeddings it receives (normalised inside).
        num_classes: number of training identities ``K``.
        scale: ``s``, the radius of the hypersphere; the logits lie in ``[-s, s]``, so ``s``
            bounds how confident the softmax can become (64 in ArcFace; small problems train
            better with 16-32).
        m1: multiplicative angular margin (SphereFace; 1 = none).
        m2: additive angular margin in radians (ArcFace; 0.5 in the paper).
        m3: additive cosine margin (CosFace; 0.35 in the paper).
        easy_margin: apply the margin only where ``cos(theta) > 0`` (an option of insightface's
            early ArcFace code); by default the margin applies everywhere, with the fallback below.

    Numerical care, as in insightface's ``ArcFace`` module:

    * cosines are clamped to ``[-1 + 1e-7, 1 - 1e-7]`` before ``acos``;
    * ``cos(m1*theta + m2)`` stops decreasing once ``m1*theta + m2 > pi``, and would then
      *reward* a larger angle to the true class; there the target logit continues as
      ``cos(theta) - m2*sin(m2) - m3``, which keeps decreasing in ``theta``;
    * the cosines are computed in float32 even under mixed precision.
    """

    def __init__(self, embedding_dim: int, num_classes: int, *, scale: float = 64.0, m1: float = 1.0,
                 m2: float = 0.0, m3: float = 0.0, easy_margin: bool = False):
        super().__init__()
        for name, value in (("embedding_dim", embedding_dim), ("num_classes", num_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"MarginHead {name} must be a positive integer, got {value!r}.")
        if not scale > 0:
            raise ValueError(f"MarginHead scale s must be > 0 (e.g. 64 or 32), got {scale!r}.")
        if not m1 >= 1.0 or not 0.0 <= m2 < math.pi or not m3 >= 0.0:
            raise ValueError(f"MarginHead margins must satisfy m1 >= 1, 0 <= m2 < pi, m3 >= 0; got m1={m1!r}, "
                             f"m2={m2!r}, m3={m3!r} (ArcFace: m2=0.5; CosFace: m3=0.35; none: 1, 0, 0).")
        self.embedding_dim, self.num_classes = embedding_dim, num_classes
        self.scale, self.m1, self.m2, self.m3 = float(scale), float(m1), float(m2), float(m3)
        self.easy_margin = easy_margin
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))  # (K, D), one "centre" per identity
        # Rows start near unit length. The logits see only their direction; their length sets how fast
        # SGD turns them (the gradient of w/|w| scales as 1/|w|): insightface's std=0.01 rows (length
        # ~0.01*sqrt(D)) swing wildly at lr 0.1 when a small data set gives them few updates.
        nn.init.normal_(self.weight, std=embedding_dim ** -0.5)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``cos(theta_j)`` between each embedding and each class weight, ``(B, K)``."""
        return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``(B, K)``: with ``labels``, the true class gets the margin; without, ``s * cos(theta)``."""
        cosine = self.cosine(embeddings)  # (B, K)
        if labels is None or (self.m1 == 1.0 and self.m2 == 0.0 and self.m3 == 0.0):
            return self.scale * cosine
        target = cosine.gather(1, labels.view(-1, 1)).clamp(-1.0 + _EPS, 1.0 - _EPS)  # (B, 1) cos(theta_y)
        if self.m1 == 1.0 and self.m2 == 0.0:
            margin_target = target - self.m3  # CosFace: no angle needed
        else:
            theta = torch.acos(target)
            margin_target = torch.cos(self.m1 * theta + self.m2) - self.m3
            if self.easy_margin:
                margin_target = torch.where(target > 0, margin_target, target)
            else:  # beyond m1*theta + m2 = pi the cosine would rise again: insightface's linear fallback
                fallback = target - self.m2 * math.sin(self.m2) - self.m3
                margin_target = torch.where(self.m1 * theta + self.m2 <= math.pi, margin_target, fallback)
        logits = cosine.scatter(1, labels.view(-1, 1), margin_target)  # only the true class changes
        return self.scale * logits

    def extra_repr(self) -> str:
        return (f"embedding_dim={self.embedding_dim}, num_classes={self.num_classes}, scale={self.scale}, "
                f"m1={self.m1}, m2={self.m2}, m3={self.m3}")


def softmax_head(embedding_dim: int, num_classes: int) -> SoftmaxHead:
    """The plain softmax baseline: a linear classifier with bias on the un-normalised embedding."""
    return SoftmaxHead(embedding_dim, num_classes, bias=True)


def arcface_head(embedding_dim: int, num_classes: int, *, scale: float = 64.0, margin: float = 0.5) -> MarginHead:
    """ArcFace (Deng et al. 2019): ``s * cos(theta + m)`` on the true class (paper: s=64, m=0.5)."""
    return MarginHead(embedding_dim, num_classes, scale=scale, m2=margin)


def cosface_head(embedding_dim: int, num_classes: int, *, scale: float = 64.0, margin: float = 0.35) -> MarginHead:
    """CosFace (Wang et al. 2018): ``s * (cos(theta) - m)`` on the true class (paper: s=64, m=0.35)."""
    return MarginHead(embedding_dim, num_classes, scale=scale, m3=margin)


def normface_head(embedding_dim: int, num_classes: int, *, scale: float = 64.0) -> MarginHead:
    """Normalised softmax, ``s * cos(theta)`` with no margin (the margin heads at m = 0)."""
    return MarginHead(embedding_dim, num_classes, scale=scale)


HEADS = {"softmax": softmax_head, "normface": normface_head, "arcface": arcface_head, "cosface": cosface_head}


def get_head(name: str, embedding_dim: int, num_classes: int, **kwargs) -> nn.Module:
    """Build a head by name: ``"softmax"``, ``"normface"``, ``"arcface"`` or ``"cosface"``.

    Args:
        name: the head's name (case-insensitive).
        embedding_dim: size of the embeddings.
        num_classes: number of training identities.
        **kwargs: passed on, e.g. ``scale=32, margin=0.3`` for the margin heads.

    Returns:
        The head module, called as ``head(embeddings, labels)``.
    """
    key = str(name).strip().lower()
    if key not in HEADS:
        raise ValueError(f"Unknown recognition head {name!r}; expected one of {sorted(HEADS)} "
                         "(e.g. get_head('arcface', 128, num_classes, scale=32, margin=0.5)).")
    if key == "softmax" and kwargs:
        raise ValueError(f"The softmax head takes no options, got {sorted(kwargs)}; "
                         "scale and margin belong to 'arcface', 'cosface' and 'normface'.")
    return HEADS[key](embedding_dim, num_classes, **kwargs)
