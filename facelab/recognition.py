"""Using a trained embedder: identification (which of N?) and verification (same person?).

* **Identification** is closed-set classification: every probe face belongs to one
  of the ``N`` people in a gallery, and the answer is the most similar one. Here a
  probe goes to the gallery identity whose mean embedding (class centroid) has the
  highest cosine similarity, so new people can be enrolled without retraining.
* **Verification** is open-set: given two faces, possibly of people never seen in
  training, decide "same person" when the cosine similarity of their embeddings
  is at least a threshold. Its errors are false accepts and false rejects
  (``facelab.metrics.verification``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facelab.metrics.classification import to_numpy
from facelab.metrics.verification import cosine_scores, make_pairs
from .utils import evaluating

__all__ = ["embed", "class_centroids", "identify", "verification_pairs", "verify"]


@torch.no_grad()
def embed(embedder: nn.Module, images: Any, batch_size: int = 512,
          device: torch.device | str | None = None) -> torch.Tensor:
    """L2-normalised embeddings of ``images``, computed in eval mode, on the CPU as float32.

    Args:
        embedder: maps ``(B, 3, S, S)`` images to ``(B, D)`` embeddings.
        images: ``(N, 3, S, S)`` tensor in ``[-1, 1]``, or a dataset with ``.images``.
        batch_size: images per forward pass.
        device: where to compute; default the embedder's device.

    Returns:
        ``(N, D)`` float32 tensor of unit vectors (on the CPU).
    """
    images = getattr(images, "images", images)
    if device is None:
        device = next(embedder.parameters()).device
    out = []
    with evaluating(embedder):  # batch norm with running statistics: an embedding does not depend on its batch
        for chunk in images.split(batch_size):
            chunk = chunk.to(device).contiguous(memory_format=torch.channels_last)  # the fast layout for convs
            out.append(F.normalize(embedder(chunk).float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, 0)


def class_centroids(embeddings: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean embedding of each identity, re-normalised to unit length.

    Returns:
        ``(centroids, classes)``: ``(K, D)`` unit vectors and the ``(K,)`` sorted label of each.
    """
    e = torch.as_tensor(to_numpy(embeddings), dtype=torch.float32)
    y = torch.as_tensor(to_numpy(labels)).long()
    if e.ndim != 2 or y.shape != (e.shape[0],):
        raise ValueError(f"embeddings must be (N, D) and labels (N,), got {tuple(e.shape)} and {tuple(y.shape)}.")
    classes, index = torch.unique(y, return_inverse=True)
    sums = torch.zeros(len(classes), e.shape[1]).index_add_(0, index, F.normalize(e, dim=1))
    return F.normalize(sums, dim=1), classes


def identify(gallery_embeddings: Any, gallery_labels: Any, probe_embeddings: Any) -> torch.Tensor:
    """Closed-set identification: the gallery identity nearest to each probe by cosine.

    Each identity is represented by the normalised mean of its gallery embeddings;
    each probe gets the label of the centroid with the highest cosine similarity.

    Args:
        gallery_embeddings: ``(G, D)`` embeddings of enrolled faces.
        gallery_labels: ``(G,)`` their identity labels.
        probe_embeddings: ``(P, D)`` embeddings of faces to identify.

    Returns:
        ``(P,)`` long tensor of predicted gallery labels.
    """
    centroids, classes = class_centroids(gallery_embeddings, gallery_labels)
    probes = torch.as_tensor(to_numpy(probe_embeddings), dtype=torch.float32)
    if probes.ndim != 2 or probes.shape[1] != centroids.shape[1]:
        raise ValueError(f"probe_embeddings must be (P, {centroids.shape[1]}) like the gallery, "
                         f"got {tuple(probes.shape)}.")
    similarity = F.normalize(probes, dim=1) @ centroids.T  # (P, K) cosines
    return classes[similarity.argmax(1)]


def verification_pairs(dataset: Any, num_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Half genuine, half impostor pairs of images of ``dataset`` (by identity label).

    Args:
        dataset: anything with ``.labels`` (e.g. a ``FaceTensorDataset``), or the labels.
        num_pairs: total number of pairs (even: half of each kind).
        seed: seed of the pair sampler.

    Returns:
        ``(pairs, same)``: ``(P, 2)`` image indices and ``(P,)`` bool, True for genuine pairs
        (:func:`facelab.metrics.verification.make_pairs`).
    """
    labels = getattr(dataset, "labels", dataset)
    if isinstance(num_pairs, bool) or not isinstance(num_pairs, (int, np.integer)) or num_pairs < 2:
        raise ValueError(f"num_pairs must be an integer >= 2 (half genuine, half impostor), got {num_pairs!r}.")
    return make_pairs(labels, num_pairs // 2, num_pairs - num_pairs // 2, seed=seed)


def verify(embeddings: Any, pairs: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Decide "same person" for each pair: cosine similarity ``>= threshold``.

    Args:
        embeddings: ``(N, D)`` embeddings.
        pairs: ``(P, 2)`` image indices.
        threshold: the decision threshold on the cosine similarity.

    Returns:
        ``(accept, scores)``: ``(P,)`` bool decisions and the ``(P,)`` cosine scores.
    """
    scores = cosine_scores(embeddings, pairs)
    return scores >= threshold, scores
