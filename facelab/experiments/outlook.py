"""The experiments of chapter 08: GANs against a VAE, and why GANs are hard to train.

* A VAE on the same faces (:func:`build_vae`, :func:`train_face_vae`): the convolutional VAE of
  :mod:`facelab.models.vae`, whose decoder is chapter 03's DCGAN generator, trained for the same number of
  steps on the same batches' size as chapter 03's GAN (Kingma & Welling 2014).
* Measuring both (:func:`compare_generators`): FID (Heusel et al. 2017) and KID (Binkowski et al. 2018) in
  the feature space chapter 06 uses (the trained face embedder, :func:`facelab.recognition.embed`), next to
  the real-vs-real and real-vs-noise baselines, plus two pixel statistics: sharpness
  (:func:`laplacian_sharpness`) and diversity (:func:`facelab.experiments.face_gan.sample_diversity`).
* Why an L2 likelihood blurs (:func:`neighbour_averages`): the image that minimises the expected squared
  error over several equally likely faces is their pixel average.
* Instability (:func:`optimizer_instability`): chapter 03's GAN trained again with an aggressive optimiser
  (ten times the learning rate, Adam's default ``beta1 = 0.9``), compared with chapter 03's run over the
  same steps and the same fixed noise.

Mode collapse is chapter 03's experiment, :func:`facelab.experiments.face_gan.mode_collapse_experiment`.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from facelab.figures.outlook import plot_instability, plot_side_by_side
from facelab.metrics.gan import fid_kid_baselines, frechet_distance, kernel_inception_distance
from facelab.baselines.face_gan import train_face_gan
from facelab.data.faces import load_training_faces
from facelab.metrics.samples import laplacian_sharpness, sample_diversity
from facelab.models.vae import VAE
from facelab.models.zoo import DEFAULT_PIXEL_STD, build_vae
from facelab.profile import Profile
from facelab.recognition import embed
from facelab.runs import train_or_reuse
from facelab.runtime import get_device, seed_everything
from facelab.train.gan import GANHistory
from facelab.train.vae import VAEHistory, VAETrainConfig, train_vae

__all__ = [
    "DEFAULT_PIXEL_STD",
    "FaceVAERun",
    "build_vae",
    "train_face_vae",
    "laplacian_sharpness",
    "GeneratorScores",
    "GeneratorComparison",
    "compare_generators",
    "plot_side_by_side",
    "NeighbourAverages",
    "neighbour_averages",
    "InstabilityResult",
    "optimizer_instability",
    "plot_instability",
]

# ----------------------------------------------------------------------------- the VAE
@dataclass
class FaceVAERun:
    """A trained face VAE with its history and settings."""

    vae: VAE
    history: VAEHistory
    config: VAETrainConfig
    profile: Profile
    device: torch.device
    checkpoint_path: Path | None = None

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` new faces ``(n, 3, S, S)`` on the CPU: prior latents (seeded by ``seed``) through the decoder."""
        return self.vae.sample(n, generator=torch.Generator().manual_seed(seed))

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """``decode(mu(x))`` of each image, on the CPU."""
        return self.vae.reconstruct(images)


def train_face_vae(
    profile: Profile,
    data: Any = None,
    steps: int | None = None,
    seed: int = 0,
    likelihood: str = "gaussian",
    pixel_std: float = DEFAULT_PIXEL_STD,
    checkpoint_path: str | os.PathLike | None = None,
    callbacks: Sequence[Callable[[VAEHistory, int], None]] = (),
    **config_overrides: Any,
) -> FaceVAERun:
    """Train the VAE on chapter 03's faces with chapter 03's budget.

    The default budget is the GAN's: ``profile.gan_steps`` steps of ``profile.gan_batch_size`` images,
    so both models see the same number of training images.

    Args:
        profile: the course profile.
        data: the faces; default :func:`facelab.experiments.face_gan.load_training_faces` of the profile.
        steps: optimiser steps; default ``profile.gan_steps``.
        seed: seeds the initial weights, the fixed latents and the batches.
        likelihood: ``"gaussian"`` or ``"bernoulli"`` (:mod:`facelab.models.vae`).
        pixel_std: standard deviation of the Gaussian likelihood.
        checkpoint_path: checkpoint file, resumed from when it exists. Default: a file named by the run's
            settings under ``$FACELAB_RUNS_DIR`` when :func:`facelab.runs.reuse_runs` says so and ``data``
            is not given (as for chapter 03's GAN); otherwise none.
        callbacks: ``callback(history, step)`` every ``profile.sample_every`` steps.
        **config_overrides: other fields of :class:`facelab.train.vae.VAETrainConfig` (``lr``,
            ``max_steps``, ``progress``, ...).

    Returns:
        The :class:`FaceVAERun`.

    Raises:
        ValueError: an unknown or invalid setting.
    """
    fields = {f.name for f in dataclasses.fields(VAETrainConfig)}
    unknown = sorted(set(config_overrides) - fields)
    if unknown:
        raise ValueError(f"Unknown VAE training setting(s) {unknown}; valid ones are {sorted(fields)}.")
    settings: dict[str, Any] = {**dict(steps=steps if steps is not None else profile.gan_steps,
                                       batch_size=profile.gan_batch_size, sample_every=profile.sample_every,
                                       seed=seed, checkpoint_path=checkpoint_path), **config_overrides}
    reusable = data is None  # the default faces (keyed by their content), as for chapter 03's GAN
    device = get_device()
    if data is None:
        data = load_training_faces(profile)
    seed_everything(seed)  # the initial weights
    vae = build_vae(profile, likelihood, pixel_std)
    config, history = train_or_reuse(
        f"vae_{likelihood}", profile, VAETrainConfig, settings, data,
        lambda config: train_vae(vae, data, config, device=device, callbacks=callbacks),
        reusable=reusable, label=f"VAE ({likelihood})", likelihood=likelihood, pixel_std=pixel_std)
    return FaceVAERun(vae, history, config, profile, device,
                      Path(config.checkpoint_path) if config.checkpoint_path else None)


# ----------------------------------------------------------------------------- measuring
@dataclass
class GeneratorScores:
    """FID, KID and pixel statistics of one generator's samples."""

    name: str
    fid: float
    kid: float
    kid_std: float
    sharpness: float   # laplacian_sharpness of the samples
    diversity: float   # mean distance between two samples (face_gan.sample_diversity)


@dataclass
class GeneratorComparison:
    """Several generators measured against the same real faces in one feature space.

    Attributes:
        scores: one :class:`GeneratorScores` per generator, in the order given.
        baselines: :func:`facelab.metrics.gan.fid_kid_baselines` (real vs real, real vs noise).
        real_sharpness, real_diversity: the same pixel statistics of real faces.
        samples: the measured samples of each generator, by name.
        num_samples: images per measured set; feature_dim: size of the features.
    """

    scores: list[GeneratorScores]
    baselines: dict[str, float]
    real_sharpness: float
    real_diversity: float
    samples: dict[str, torch.Tensor] = field(default_factory=dict)
    num_samples: int = 0
    feature_dim: int = 0

    def __getitem__(self, name: str) -> GeneratorScores:
        for score in self.scores:
            if score.name == name:
                return score
        raise KeyError(f"no generator named {name!r}; measured: {[s.name for s in self.scores]}.")

    def best(self, metric: str = "fid") -> str:
        """Name of the generator with the lowest ``metric`` (``"fid"`` or ``"kid"``)."""
        if metric not in ("fid", "kid"):
            raise ValueError(f"metric must be 'fid' or 'kid', got {metric!r}.")
        return min(self.scores, key=lambda s: getattr(s, metric)).name

    def to_markdown(self) -> str:
        """A table: one row per generator and the two baselines."""
        b = self.baselines
        rows = ["| images | FID | KID | sharpness | diversity |", "|---|---|---|---|---|",
                f"| real vs real (floor) | {b['fid_real_vs_real']:.4f} | {b['kid_real_vs_real']:.5f} "
                f"| {self.real_sharpness:.3f} | {self.real_diversity:.1f} |"]
        for s in self.scores:
            rows.append(f"| {s.name} | {s.fid:.4f} | {s.kid:.5f} | {s.sharpness:.3f} | {s.diversity:.1f} |")
        rows.append(f"| real vs noise | {b['fid_real_vs_noise']:.4f} | {b['kid_real_vs_noise']:.5f} | – | – |")
        return "\n".join(rows)


def compare_generators(samples: Mapping[str, torch.Tensor], embedder: Any, real_faces: Any,
                       num_samples: int = 512, seed: int = 0) -> GeneratorComparison:
    """FID and KID of several generators' samples, measured as chapter 06 measures chapter 03's GAN.

    Features are the trained face embedder's unit embeddings (:func:`facelab.recognition.embed`).
    ``2 * num_samples`` real faces are drawn (seeded by ``10_000 + seed``, as in
    :func:`facelab.experiments.evaluation.fid_kid_over_training`) and split in halves for the
    real-vs-real baseline; every generator is compared with the same first half, at the same sample size
    (FID is biased by it), and so is ``num_samples`` images of uniform noise.

    Args:
        samples: ``{name: (N, 3, S, S) images}``, ``N >= num_samples`` (the first ``num_samples`` are used).
        embedder: the trained face embedder, or a recogniser run (its ``.embedder``).
        real_faces: real faces (tensor or ``FaceTensorDataset``), at least ``2 * num_samples``.
        num_samples: images per measured set.
        seed: seed of the real subset, the noise and the KID subsets.

    Returns:
        The :class:`GeneratorComparison`.

    Raises:
        ValueError: too few real or generated images, or images of the wrong size.
    """

    embedder = getattr(embedder, "embedder", embedder)
    images = getattr(real_faces, "images", real_faces)
    if images.shape[0] < 2 * num_samples:
        raise ValueError(f"need at least 2 * num_samples = {2 * num_samples} real faces for the baselines, "
                         f"got {images.shape[0]}; lower num_samples.")
    if not samples:
        raise ValueError("samples is empty; pass {name: generated images} for at least one generator.")
    gen = torch.Generator().manual_seed(10_000 + seed)
    order = torch.randperm(images.shape[0], generator=gen)[: 2 * num_samples]
    real_features = embed(embedder, images[order]).numpy()
    noise = torch.rand(num_samples, *images.shape[1:], generator=gen) * 2 - 1
    baselines = fid_kid_baselines(real_features, embed(embedder, noise).numpy(), seed=seed)
    first_half = real_features[np.random.default_rng(seed).permutation(real_features.shape[0])[:num_samples]]
    reference = images[order[:num_samples]]

    scores, kept = [], {}
    for name, fake in samples.items():
        if fake.shape[0] < num_samples or fake.shape[1:] != images.shape[1:]:
            raise ValueError(f"samples[{name!r}] has shape {tuple(fake.shape)}; expected at least {num_samples} "
                             f"images of shape {tuple(images.shape[1:])}, like the real faces.")
        fake = fake[:num_samples].float().cpu()
        features = embed(embedder, fake).numpy()
        kid, kid_std = kernel_inception_distance(first_half, features, seed=seed)
        scores.append(GeneratorScores(name, frechet_distance(first_half, features), kid, kid_std,
                                      laplacian_sharpness(fake), sample_diversity(fake)))
        kept[name] = fake
    return GeneratorComparison(scores, baselines, laplacian_sharpness(reference), sample_diversity(reference),
                               kept, num_samples, real_features.shape[1])



# ----------------------------------------------------------------------------- why L2 blurs
@dataclass
class NeighbourAverages:
    """Pixel averages of each query face with its nearest neighbours.

    Attributes:
        ks: neighbourhood sizes (``k = 1`` is the face itself).
        rows: one ``(num_faces, 3, S, S)`` batch per ``k``: the mean of each face's ``k`` nearest faces.
        sharpness: :func:`laplacian_sharpness` of each row.
        squared_error: mean over faces of the expected squared error, ``mean_j ||x_j - average||^2``
            over the ``k`` neighbours ``x_j``, per row; the average minimises it.
    """

    ks: list[int]
    rows: list[torch.Tensor]
    sharpness: list[float]
    squared_error: list[float]


def neighbour_averages(images: Any, ks: Sequence[int] = (1, 2, 4, 8, 16), num_faces: int = 8,
                       seed: int = 0) -> NeighbourAverages:
    """What an L2-trained decoder outputs when its latent cannot tell ``k`` similar faces apart.

    Under a Gaussian (L2) likelihood, the best single output for a latent that fits ``k`` faces equally well
    is the one that minimises the expected squared error over them: their pixel mean. For ``num_faces``
    random faces, average each with its ``k - 1`` nearest other faces (Euclidean distance in pixels).

    Args:
        images: ``(N, 3, S, S)`` faces or a dataset with ``.images``; ``N > max(ks)``.
        ks: neighbourhood sizes, each ``>= 1``.
        num_faces: query faces.
        seed: seed of the query choice.

    Returns:
        The :class:`NeighbourAverages`.
    """
    images = getattr(images, "images", images).float()
    if not ks or min(ks) < 1 or max(ks) > images.shape[0]:
        raise ValueError(f"ks must be sizes between 1 and the number of images ({images.shape[0]}), got {list(ks)}.")
    queries = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:num_faces]
    flat = images.flatten(1)
    nearest = torch.cdist(flat[queries], flat).topk(max(ks), largest=False).indices  # (F, kmax), itself first
    rows, sharp, errors = [], [], []
    for k in ks:
        group = images[nearest[:, :k]]                 # (F, k, 3, S, S)
        average = group.mean(dim=1)                    # (F, 3, S, S)
        rows.append(average)
        sharp.append(laplacian_sharpness(average))
        errors.append(float((group - average[:, None]).pow(2).flatten(2).sum(2).mean()))
    return NeighbourAverages(list(ks), rows, sharp, errors)


# ----------------------------------------------------------------------------- instability
@dataclass
class InstabilityResult:
    """Chapter 03's GAN run against the same GAN trained with an aggressive optimiser.

    Attributes:
        steps: steps compared (the first ``steps`` of chapter 03's run).
        settings: the optimiser settings of the aggressive run (``lr_g``, ``lr_d``, ``beta1``).
        baseline, aggressive: the two histories (the baseline cut to ``steps``).
        baseline_samples, aggressive_samples: the same fixed noise decoded at step ``steps``.
    """

    steps: int
    settings: dict[str, float]
    baseline: GANHistory
    aggressive: GANHistory
    baseline_samples: torch.Tensor
    aggressive_samples: torch.Tensor

    @staticmethod
    def _tail(values: Sequence[float], skip: float = 0.2) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return values[int(len(values) * skip):]

    def swing(self, which: str = "aggressive", key: str = "loss_g") -> float:
        """Mean absolute change of ``key`` between consecutive records, after the first 20 % of the steps."""
        tail = self._tail(getattr(getattr(self, which), key))
        return float(np.abs(np.diff(tail)).mean())

    def spread(self, which: str = "aggressive", key: str = "loss_g") -> float:
        """Standard deviation of ``key`` over the records after the first 20 % of the steps."""
        return float(self._tail(getattr(getattr(self, which), key)).std())

    def mean(self, which: str = "aggressive", key: str = "d_fake") -> float:
        """Mean of ``key`` over the records after the first 20 % of the steps."""
        return float(self._tail(getattr(getattr(self, which), key)).mean())


def _cut(history: GANHistory, steps: int) -> GANHistory:
    keep = [i for i, s in enumerate(history.step) if s <= steps]
    keep_samples = [i for i, s in enumerate(history.sample_steps) if s <= steps]
    return GANHistory(step=[history.step[i] for i in keep], loss_d=[history.loss_d[i] for i in keep],
                      loss_g=[history.loss_g[i] for i in keep], d_real=[history.d_real[i] for i in keep],
                      d_fake=[history.d_fake[i] for i in keep],
                      sample_steps=[history.sample_steps[i] for i in keep_samples],
                      samples=[history.samples[i] for i in keep_samples], probabilistic=history.probabilistic)


def optimizer_instability(profile: Profile, baseline: Any, steps: int | None = None, lr: float = 2e-3,
                          beta1: float = 0.9, seed: int = 0, **train_kwargs: Any) -> InstabilityResult:
    """Train chapter 03's GAN with an aggressive optimiser and compare it with chapter 03's run.

    The aggressive run uses ten times the DCGAN learning rate for both players and Adam's default
    ``beta1 = 0.9`` (the DCGAN paper reports that 0.9 made training oscillate), with everything else as in
    chapter 03 (same seed, so the same initial weights and fixed noise).

    Args:
        profile: the course profile.
        baseline: chapter 03's run (``train_face_gan(profile)``); its first ``steps`` steps are compared.
        steps: steps to train and compare; default ``profile.sample_every`` (a step at which both runs
            recorded fixed-noise samples). Must be a multiple of ``profile.sample_every``.
        lr: learning rate of both players in the aggressive run.
        beta1: Adam's ``beta1`` in the aggressive run.
        seed: seed of the aggressive run (use the baseline's, 0 for chapter 03).
        **train_kwargs: passed on to ``train_face_gan`` (e.g. ``progress=False``).

    Returns:
        The :class:`InstabilityResult`.
    """

    steps = steps or profile.sample_every
    history: GANHistory = baseline.history
    if steps % profile.sample_every or steps not in history.sample_steps:
        raise ValueError(f"steps={steps} must be a step at which chapter 03's run recorded samples "
                         f"({history.sample_steps}); use a multiple of profile.sample_every={profile.sample_every}.")
    log_every = baseline.config.log_every
    run = train_face_gan(profile, steps=steps, seed=seed, lr_g=lr, lr_d=lr, beta1=beta1, log_every=log_every,
                         **train_kwargs)
    cut = _cut(history, steps)
    return InstabilityResult(steps, {"lr_g": lr, "lr_d": lr, "beta1": beta1}, cut, run.history,
                             cut.samples[-1], run.history.samples[-1])


