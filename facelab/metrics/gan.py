"""Sample-quality metrics for GANs: FID and KID on feature vectors.

* FID, Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two
  Time-Scale Update Rule Converge to a Local Nash Equilibrium"): the Fréchet
  (2-Wasserstein) distance between Gaussians fitted to the two feature sets,
  ``||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})``. The square-root
  handling follows the reference ``pytorch-fid`` implementation.
* KID, Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD
  GANs"): the unbiased squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets. Unlike FID it is
  unbiased, so it can be compared across sample sizes.

Both are defined on *any* features. The published numbers use Inception-v3
pool features (:func:`inception_feature_extractor`, needs a weight download);
offline, the course uses the trained face embedder through
:func:`extract_features`, which measures quality in "face identity" space.
Numbers from different feature extractors are not comparable.
"""
from __future__ import annotations

import os
import re
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from facelab.data.download import sha256sum
from facelab.metrics.classification import to_numpy

__all__ = [
    "frechet_distance",
    "kernel_inception_distance",
    "extract_features",
    "inception_feature_extractor",
    "fid_kid_baselines",
    "FIDSampleSizeWarning",
]


class FIDSampleSizeWarning(UserWarning):
    """A FID was computed from fewer samples than feature dimensions: its value is unreliable."""


def _features(x: Any, name: str, min_rows: int = 2) -> np.ndarray:
    f = np.asarray(to_numpy(x), dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(
            f"{name} must be an (N, D) feature matrix, got shape {f.shape}; flatten with .reshape(N, -1)."
        )
    if f.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} feature vectors, got {f.shape[0]}.")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contains NaN or infinity; check the network that produced the features.")
    return f


def _two_sets(a: Any, b: Any, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    fa, fb = _features(a, "features_a", min_rows), _features(b, "features_b", min_rows)
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(
            f"features_a and features_b must have the same dimension, got {fa.shape[1]} and {fb.shape[1]}; "
            "extract both with the same network."
        )
    return fa, fb


def frechet_distance(features_a: Any, features_b: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Args:
        features_a: ``(N, D)`` features of one image set (e.g. real faces).
        features_b: ``(M, D)`` features of the other (e.g. generated faces).
        eps: diagonal offset added to both covariances if their product's square
            root is not finite (singular covariances, e.g. fewer samples than ``D``).

    Returns:
        The distance (0 for identical statistics), in float64. It is biased
        upwards for small sample sizes: compare values only at equal ``N``, ``M``.
        With ``min(N, M) <= D`` it warns (:class:`FIDSampleSizeWarning`): the
        value is then mostly estimation error.

    Raises:
        ValueError: bad shapes, or a matrix square root with a large imaginary
            part (numerically unreliable statistics: use more samples than ``D``).
    """
    a, b = _two_sets(features_a, features_b)
    if min(a.shape[0], b.shape[0]) <= a.shape[1]:
        warnings.warn(
            f"FID from {a.shape[0]} and {b.shape[0]} samples of {a.shape[1]}-dimensional features: with no more "
            "samples than dimensions the covariances are singular and the value is mostly estimation error (two "
            "samples of one distribution score far above 0). Use more samples than feature dimensions (ideally "
            "10x), or lower-dimensional features; compare such values only at equal sample sizes.",
            FIDSampleSizeWarning, stacklevel=2)
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a = np.atleast_2d(np.cov(a, rowvar=False))
    sigma_b = np.atleast_2d(np.cov(b, rowvar=False))
    covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma_a.shape[0]) * eps
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"the covariance square root has an imaginary part of {np.abs(covmean.imag).max():.3g}: "
                f"the statistics are unreliable ({a.shape[0]} and {b.shape[0]} samples for {a.shape[1]} "
                "dimensions); use more samples than feature dimensions."
            )
        covmean = covmean.real
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(covmean)
    return float(max(value, 0.0))  # tiny negative values are round-off


def kernel_inception_distance(
    features_a: Any,
    features_b: Any,
    num_subsets: int = 10,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel (Inception) distance: unbiased MMD^2 with a cubic polynomial kernel.

    Each of ``num_subsets`` rounds draws ``m`` vectors from each set without
    replacement and computes the unbiased estimate
    ``mean_{i!=j} k(a_i,a_j) + mean_{i!=j} k(b_i,b_j) - 2 mean_{i,j} k(a_i,b_j)``.

    Args:
        features_a: ``(N, D)`` features of one image set.
        features_b: ``(M, D)`` features of the other.
        num_subsets: number of random subsets averaged.
        subset_size: ``m``, clipped to ``min(N, M)``.
        seed: seed of the subset sampler.

    Returns:
        ``(mean, std)`` of the estimate over subsets. The estimate is unbiased,
        so it can be slightly negative when both sets come from one distribution.
    """
    a, b = _two_sets(features_a, features_b)
    if num_subsets < 1 or subset_size < 2:
        raise ValueError(f"need num_subsets >= 1 and subset_size >= 2, got {num_subsets} and {subset_size}.")
    m = min(int(subset_size), a.shape[0], b.shape[0])
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(int(num_subsets)):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        k_xx = (x @ x.T / d + 1.0) ** 3
        k_yy = (y @ y.T / d + 1.0) ** 3
        k_xy = (x @ y.T / d + 1.0) ** 3
        within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
        estimates.append(within - 2.0 * k_xy.mean())
    values = np.asarray(estimates)
    return float(values.mean()), float(values.std())


@torch.no_grad()
def extract_features(
    network: nn.Module,
    images: Any,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Run a network over images in batches and collect its outputs as features.

    The network is put in eval mode for the pass (and restored afterwards); no
    gradients are kept.

    Args:
        network: any module mapping ``(B, 3, H, W)`` images to features, e.g. the
            trained face embedder or :func:`inception_feature_extractor`.
        images: ``(N, 3, H, W)`` tensor, or any object with an ``.images`` tensor
            (a :class:`facelab.data.base.FaceTensorDataset`).
        batch_size: images per forward pass.
        device: where to run; defaults to the network's device.

    Returns:
        ``(N, D)`` float32 features on the CPU (outputs are flattened per image).
    """
    images = getattr(images, "images", images)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"images must be an (N, C, H, W) tensor or a FaceTensorDataset, got {shape}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if device is None:
        param = next(iter(network.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = network.training
    network.eval()
    try:
        chunks = []
        for start in range(0, images.shape[0], batch_size):
            out = network(images[start : start + batch_size].to(device))
            if isinstance(out, (tuple, list)):
                out = out[0]
            chunks.append(out.reshape(out.shape[0], -1).float().cpu())
    finally:
        network.train(was_training)
    if not chunks:
        raise ValueError("images is empty; pass at least one image.")
    return torch.cat(chunks)


class _InceptionPool(nn.Module):
    """Inception-v3 up to its 2048-d average pool, fed ``[-1, 1]`` images of any size."""

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        inception.fc = nn.Identity()
        self.inception = inception

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        return self.inception(x)


# torch.hub's rule (HASH_REGEX): a weight file is named "<name>-<first hex digits of its SHA-256>.pth".
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")


def _verified_state_dict(url: str, model_dir: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The state dict published at ``url``, from torch's hub cache (downloading it if absent), checked first.

    torchvision's own loader (``torch.hub.load_state_dict_from_url``) checks the hash only when it
    downloads, and unpickles a cached file with ``weights_only=False``: a file planted in the cache
    runs code. Here the cached file's SHA-256 must start with the prefix in its published name, and
    it is read with ``weights_only=True`` (tensors only) even then.
    """
    name = os.path.basename(urllib.parse.urlparse(url).path)
    match = _HASH_PREFIX.search(name)
    if match is None:
        raise ValueError(f"{url} does not name its SHA-256 prefix ('<name>-<hex digits>.pth'), so the weights "
                         "cannot be verified; pass a torchvision weights URL.")
    prefix = match.group(1)
    folder = Path(model_dir) if model_dir is not None else Path(torch.hub.get_dir()) / "checkpoints"
    path = folder / name
    if not path.is_file():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(url, str(path), hash_prefix=prefix, progress=False)  # checks the hash
        except (OSError, RuntimeError, ValueError) as error:  # URLError is an OSError
            raise RuntimeError(
                f"Could not download the weights {url} to {path} ({type(error).__name__}: {error}). Offline, "
                "compute the features with the trained face embedder instead: extract_features(embedder, "
                "images), then frechet_distance / kernel_inception_distance on those features."
            ) from error
    actual = sha256sum(path)
    if not actual.startswith(prefix):
        raise RuntimeError(
            f"The cached weights {path} have SHA-256 {actual[:16]}..., but the published file's SHA-256 starts "
            f"with {prefix}: the file is damaged or was replaced (possibly by a malicious file), so it was not "
            "loaded and nothing in it ran. Delete it and run again to download a fresh copy."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # tensors only: never runs code
    except Exception as error:  # torch's own text suggests weights_only=False: quote only what it met
        found = next((line.strip() for line in str(error).splitlines() if "GLOBAL" in line), type(error).__name__)
        raise RuntimeError(
            f"The cached weights {path} hold more than tensors ({found}); refused for safety, nothing in it ran. "
            "Delete it and run again to download a fresh copy."
        ) from error


def inception_feature_extractor(*, weights_url: str | None = None,
                                model_dir: str | os.PathLike | None = None) -> nn.Module:
    """torchvision's ImageNet Inception-v3 returning 2048-d pool features.

    Downloads the weights (about 100 MB) on first use, so it is meant for Colab.
    Images are expected in ``[-1, 1]`` (the range the original weights were
    trained on; torchvision's ``transform_input`` is switched off for that
    reason) and resized to 299x299. These are not the TF-FID weights of
    ``pytorch-fid``, so values differ slightly from published FIDs. The cached
    weight file is verified against its published hash and read as tensors only.

    Args:
        weights_url: where the weights are published; defaults to
            ``torchvision.models.Inception_V3_Weights.DEFAULT.url``.
        model_dir: the cache folder; defaults to ``$TORCH_HOME/hub/checkpoints``.

    Returns:
        A module for :func:`extract_features`.

    Raises:
        RuntimeError: the weights could not be downloaded (e.g. offline), or the
            cached file does not match the published hash or holds more than tensors.
    """
    from torchvision import models

    default = models.Inception_V3_Weights.DEFAULT
    state = _verified_state_dict(weights_url or default.url, model_dir)
    network = models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False,
                                  num_classes=len(default.meta["categories"]))  # as torchvision builds it
    network.load_state_dict(state)
    return _InceptionPool(network).eval()


def fid_kid_baselines(features_real: Any, features_noise: Any = None, seed: int = 0) -> dict[str, float]:
    """Reference values that put a FID/KID in context.

    * real vs real: two random halves of the real features; the floor a
      perfect generator would reach at this sample size.
    * real vs noise: the first real half against features of noise images
      (e.g. uniform ``[-1, 1]`` pixels); a useless generator's score.

    Args:
        features_real: ``(N, D)`` features of real images, ``N >= 4``.
        features_noise: optional ``(M, D)`` features of noise images.
        seed: seed of the random split and of the KID subsets.

    Returns:
        ``{"fid_real_vs_real", "kid_real_vs_real", "kid_real_vs_real_std"}``, and
        with noise features also ``"fid_real_vs_noise"``, ``"kid_real_vs_noise"``,
        ``"kid_real_vs_noise_std"``.
    """
    real = _features(features_real, "features_real", min_rows=4)
    order = np.random.default_rng(seed).permutation(real.shape[0])
    half = real.shape[0] // 2
    first, second = real[order[:half]], real[order[half : 2 * half]]
    kid, kid_std = kernel_inception_distance(first, second, seed=seed)
    result = {
        "fid_real_vs_real": frechet_distance(first, second),
        "kid_real_vs_real": kid,
        "kid_real_vs_real_std": kid_std,
    }
    if features_noise is not None:
        noise = _features(features_noise, "features_noise")
        kid, kid_std = kernel_inception_distance(first, noise, seed=seed)
        result.update(
            fid_real_vs_noise=frechet_distance(first, noise), kid_real_vs_noise=kid, kid_real_vs_noise_std=kid_std
        )
    return result
