"""Privacy measures for generative models: memorisation and membership inference.

* Memorisation (:func:`nearest_neighbours`, :func:`memorisation_ratio`): a GAN
  that copies its training faces makes samples that lie much closer to a training
  face than a new real face does. So compare each sample's distance to its nearest
  training image with the same distance for held-out real images (Webster et al.
  2019 compare training and held-out images in the same spirit, by how well the
  generator can reproduce each).
* Membership inference (:func:`membership_auc`): an attacker who gets a score per
  image (LOGAN, Hayes et al. 2019, uses the GAN's discriminator output) guesses
  "this image was in the training set" when the score is high. The ROC AUC of that
  guess over members and non-members is its success: 0.5 is chance.

Distances are Euclidean on flattened pixels in ``[-1, 1]`` unless features are
passed in; they are crude (a shifted copy is "far") but need no trained network,
and for 32x32 aligned crops they find near-copies well.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from facelab.metrics.classification import to_numpy

__all__ = ["nearest_neighbours", "memorisation_ratio", "membership_auc"]


def _flat(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x).float()
    if t.ndim < 2 or t.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty batch (N, ...) of images or feature vectors, "
                         f"got shape {tuple(t.shape)}; add a batch dimension with x[None].")
    return t.flatten(1)


def nearest_neighbours(queries: Any, references: Any, k: int = 1,
                       exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest references of each query (Euclidean distance on flattened inputs).

    Args:
        queries: ``(Q, ...)`` images or features.
        references: ``(R, ...)`` images or features of the same shape per item.
        k: neighbours per query, ``1 <= k <= R`` (``R - 1`` with ``exclude_self``).
        exclude_self: the queries *are* the references (same order): skip each
            item's distance to itself, e.g. to measure how far a training face is
            from the other training faces.

    Returns:
        ``(distances, indices)``, both ``(Q, k)``, nearest first.

    Raises:
        ValueError: mismatched shapes or an impossible ``k``.
    """
    q, r = _flat(queries, "queries"), _flat(references, "references")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} values per item but references {r.shape[1]}; "
                         "compare images of the same size (or features of the same network).")
    if exclude_self and q.shape[0] != r.shape[0]:
        raise ValueError(f"exclude_self needs the queries to be the references, got {q.shape[0]} queries "
                         f"and {r.shape[0]} references.")
    available = r.shape[0] - int(exclude_self)
    if not 1 <= k <= available:
        raise ValueError(f"k must be between 1 and {available} (the references available), got {k}.")
    distances = torch.cdist(q, r)
    if exclude_self:
        distances.fill_diagonal_(float("inf"))
    values, indices = distances.topk(k, dim=1, largest=False)
    return values, indices


def memorisation_ratio(samples: Any, training: Any, held_out: Any) -> float:
    """How much closer generated samples lie to the training set than new real data does.

    The ratio of the median nearest-training-neighbour distance of held-out real
    images to that of the samples. About 1 (or below) when the generator is no
    closer to its training images than fresh data from the same distribution is;
    well above 1 when samples are near-copies of training images.

    Args:
        samples: ``(S, ...)`` generated images.
        training: ``(R, ...)`` the generator's training images.
        held_out: ``(H, ...)`` real images of the same distribution it never saw.

    Returns:
        ``median_d(held_out) / median_d(samples)``.
    """
    d_samples = nearest_neighbours(samples, training)[0][:, 0]
    d_held_out = nearest_neighbours(held_out, training)[0][:, 0]
    return float(d_held_out.median() / d_samples.median().clamp_min(1e-12))


def membership_auc(member_scores: Any, non_member_scores: Any) -> float:
    """ROC AUC of a membership-inference attack that calls high scores "member".

    Equal to the probability that a random member scores higher than a random
    non-member (ties count half): 0.5 is chance, 1 a perfect attack, below 0.5
    means the score points the other way.

    Args:
        member_scores: ``(M,)`` attack scores of training images.
        non_member_scores: ``(N,)`` attack scores of images not trained on.

    Returns:
        The AUC, computed by scikit-learn's ``roc_auc_score``.
    """
    from sklearn.metrics import roc_auc_score

    members = to_numpy(member_scores).astype(np.float64).ravel()
    others = to_numpy(non_member_scores).astype(np.float64).ravel()
    if members.size == 0 or others.size == 0:
        raise ValueError(f"need scores of both members and non-members, got {members.size} and {others.size}.")
    if not (np.isfinite(members).all() and np.isfinite(others).all()):
        raise ValueError("membership scores contain NaN or infinity; check the model that produced them.")
    labels = np.concatenate([np.ones(members.size), np.zeros(others.size)])
    return float(roc_auc_score(labels, np.concatenate([members, others])))
