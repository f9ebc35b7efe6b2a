"""The experiments of chapter 06: how to evaluate a face verifier and a face GAN.

* Verification (:func:`verification_scores`, :func:`verification_report`):
  cosine scores of genuine and impostor pairs of faces whose identities the
  recogniser never saw in training, then the ROC curve and its AUC (Fawcett
  2006), the equal error rate, TAR at fixed FARs, and the LFW 10-fold protocol
  (Huang et al. 2007). With real data, :func:`lfw_verification` runs the
  protocol on the official LFW pairs and folds.
* Decisions at one threshold (:func:`facelab.metrics.decisions.classification_report_at`,
  :func:`facelab.metrics.decisions.metrics_vs_pair_mix`): accuracy, precision, recall, F1 and the
  confusion matrix of binary classification, and why they depend on the
  share of impostor pairs as well as on the verifier.
* GAN sample quality (:func:`fid_kid_over_training`): FID (Heusel et al. 2017)
  and KID (Binkowski et al. 2018) of chapter 03's generator, measured during
  its training in the feature space of the trained face embedder, next to the
  real-vs-real and real-vs-noise baselines.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from facelab.metrics.classification import to_numpy
from facelab.figures.evaluation import plot_fid_over_training
from facelab.metrics.decisions import DecisionReport, PairMix, classification_report_at, metrics_vs_pair_mix
from facelab.metrics.gan import fid_kid_baselines, frechet_distance, kernel_inception_distance
from facelab.metrics.verification import (
    KFoldResult,
    RocCurve,
    check_scores,
    cosine_scores,
    equal_error_rate,
    far_frr,
    kfold_verification,
    make_pairs,
    paired_cosine_scores,
    roc,
    tar_at_far,
)
from facelab.baselines.face_gan import train_face_gan
from facelab.data.faces import load_training_faces
from facelab.models.zoo import initial_dcgan
from facelab.profile import Profile
from facelab.recognition import embed
from facelab.train.gan import sample

__all__ = [
    "VerificationScores",
    "VerificationReport",
    "DecisionReport",
    "PairMix",
    "FidKidCurve",
    "verification_scores",
    "verification_report",
    "lfw_verification",
    "classification_report_at",
    "metrics_vs_pair_mix",
    "fid_kid_over_training",
    "plot_fid_over_training",
]

MIN_FALSE_ACCEPTS = 10  # TAR@FAR is reported only when FAR * impostor pairs >= this many false accepts


# ----------------------------------------------------------------------------- verification
@dataclass
class VerificationScores:
    """Genuine and impostor pair scores of a verifier.

    Attributes:
        scores: ``(P,)`` cosine similarity of each pair.
        same: ``(P,)`` True for genuine (same person) pairs.
        pairs: ``(P, 2)`` image indices into the evaluated images (``None`` for
            pairs given as two image tensors, e.g. LFW's).
        folds: optional ``(P,)`` official fold index of each pair (LFW).
        num_identities: identities the pairs were drawn from.
    """

    scores: np.ndarray
    same: np.ndarray
    pairs: np.ndarray | None = None
    folds: np.ndarray | None = None
    num_identities: int | None = None

    def __post_init__(self) -> None:
        self.scores, self.same = check_scores(self.scores, self.same)

    @property
    def num_genuine(self) -> int:
        return int(self.same.sum())

    @property
    def num_impostor(self) -> int:
        return int((~self.same).sum())

    def balanced(self, seed: int = 0) -> "VerificationScores":
        """All genuine pairs and as many randomly chosen impostor pairs (LFW's 50/50 mix)."""
        genuine = np.flatnonzero(self.same)
        impostor = np.flatnonzero(~self.same)
        n = min(genuine.size, impostor.size)
        rng = np.random.default_rng(seed)
        keep = np.sort(np.concatenate([rng.choice(genuine, n, replace=False), rng.choice(impostor, n, replace=False)]))
        pairs = None if self.pairs is None else self.pairs[keep]
        folds = None if self.folds is None else self.folds[keep]
        return VerificationScores(self.scores[keep], self.same[keep], pairs, folds, self.num_identities)


def _embedder_of(run_or_embedder: Any) -> nn.Module:
    embedder = getattr(run_or_embedder, "embedder", run_or_embedder)
    if not isinstance(embedder, nn.Module):
        raise TypeError(f"expected a RecognizerRun (with .embedder) or an embedding network, got "
                        f"{type(run_or_embedder).__name__}; pass the result of train_face_recognizer(...).")
    return embedder


def _test_faces(split: Any) -> Any:
    """The images of unseen identities: ``split.unseen`` of a recognition split, or the dataset itself."""
    unseen = getattr(split, "unseen", None)
    if unseen is not None and hasattr(unseen, "images"):
        return unseen
    if hasattr(split, "images") and hasattr(split, "labels"):
        return split
    raise TypeError(f"cannot find the unseen-identity faces in {type(split).__name__}; pass the split from "
                    "recognition_split(profile, seed) or a FaceTensorDataset of test identities.")


def verification_scores(run: Any, split: Any, num_genuine: int = 3000, num_impostor: int = 30000,
                        seed: int = 0, batch_size: int = 256) -> VerificationScores:
    """Cosine scores of genuine and impostor pairs among identities never seen in training.

    Args:
        run: a recogniser run (its ``.embedder`` maps faces to unit embeddings)
            or the embedding network itself.
        split: the split of :func:`facelab.experiments.recognition.recognition_split`
            (its unseen-identity part is used) or a ``FaceTensorDataset``.
        num_genuine: same-person pairs, clipped to the number that exist.
        num_impostor: different-person pairs (deployments see many more of these).
        seed: seed of the pair sampler.
        batch_size: images per forward pass.

    Returns:
        The scores, labels and pair indices.
    """
    faces = _test_faces(split)
    labels = to_numpy(faces.labels)
    _, counts = np.unique(labels, return_counts=True)
    available = int((counts * (counts - 1) // 2).sum())
    embeddings = embed(_embedder_of(run), faces.images, batch_size=batch_size)
    pairs, same = make_pairs(labels, min(num_genuine, available), num_impostor, seed=seed)
    return VerificationScores(cosine_scores(embeddings, pairs), same, pairs, None, int(counts.size))


@dataclass
class VerificationReport:
    """The verification numbers of one set of pair scores.

    Attributes:
        curve: the ROC curve.
        auc: area under it.
        eer: equal error rate; ``eer_threshold`` the threshold where FAR = FRR.
        far_at_eer, frr_at_eer: FAR and FRR measured at ``eer_threshold``.
        tar_at_far: ``{far: TAR}``; ``None`` where there are too few impostor
            pairs for that FAR (fewer than ``MIN_FALSE_ACCEPTS`` false accepts).
        kfold: 10-fold accuracies (threshold chosen on nine folds, tested on the tenth).
        num_genuine, num_impostor: pairs behind the curve.
    """

    curve: RocCurve
    auc: float
    eer: float
    eer_threshold: float
    far_at_eer: float
    frr_at_eer: float
    tar_at_far: dict[float, float | None]
    kfold: KFoldResult
    num_genuine: int
    num_impostor: int


def verification_report(scores: VerificationScores, fars: Sequence[float] = (1e-2, 1e-3), num_folds: int = 10,
                        seed: int = 0) -> VerificationReport:
    """ROC, AUC, EER, TAR@FAR on all pairs, and the k-fold accuracy on a balanced subset.

    The k-fold protocol uses LFW's mix (as many impostor as genuine pairs) and
    the official folds when ``scores.folds`` is set.

    Args:
        scores: from :func:`verification_scores` or :func:`lfw_verification`.
        fars: FARs at which to report TAR.
        num_folds: folds of the k-fold protocol when there are no official ones.
        seed: seed of the balanced subset and the folds.
    """
    s, y = scores.scores, scores.same
    curve = roc(s, y)
    eer, threshold = equal_error_rate(s, y)
    far, frr = far_frr(s, y, threshold)
    n_imp = int((~y).sum())
    tars = {float(f): (tar_at_far(s, y, f) if f * n_imp >= MIN_FALSE_ACCEPTS else None) for f in fars}
    if scores.folds is not None:
        kfold = kfold_verification(s, y, folds=scores.folds)
    else:
        bal = scores.balanced(seed)
        kfold = kfold_verification(bal.scores, bal.same, num_folds=num_folds, seed=seed)
    return VerificationReport(curve, curve.auc, eer, threshold, far, frr, tars, kfold, int(y.sum()), n_imp)


def lfw_verification(run: Any, pairs: Any = None, size: int = 64, data_home: Any = None, download: bool = True,
                     batch_size: int = 256) -> VerificationScores:
    """Scores of the official LFW "View 2" pairs (6,000 pairs in 10 folds), with their folds.

    For the full profile. LFW's people in different folds do not overlap, so the
    threshold chosen on nine folds is tested on new people.

    Args:
        run: a recogniser run or the embedding network.
        pairs: the :class:`facelab.data.real.LfwPairs`, or a recognition split holding
            them (``split.lfw_pairs``, full profile); default: load them with
            :func:`facelab.data.real.load_lfw_pairs` (about 200 MB on first use).
        size, data_home, download: passed to ``load_lfw_pairs`` when loading.
        batch_size: images per forward pass.

    Returns:
        Scores with ``folds`` set, so :func:`verification_report` uses the official folds.
    """
    lfw = getattr(pairs, "lfw_pairs", pairs)
    if lfw is None:
        from facelab.data.real import load_lfw_pairs

        lfw = load_lfw_pairs(size=size, data_home=data_home, download=download)
    embedder = _embedder_of(run)
    a = embed(embedder, lfw.images_a, batch_size=batch_size)
    b = embed(embedder, lfw.images_b, batch_size=batch_size)
    return VerificationScores(paired_cosine_scores(a, b), to_numpy(lfw.same), None, to_numpy(lfw.folds))


# ----------------------------------------------------------------------------- decisions at a threshold



# ----------------------------------------------------------------------------- GAN quality
@dataclass
class FidKidCurve:
    """FID and KID of a GAN's samples during training, with the baselines that give them a scale.

    Attributes:
        steps: training steps at which the generator was measured.
        fid, kid, kid_std: one value per step (KID: mean and std over subsets).
        baselines: :func:`facelab.metrics.gan.fid_kid_baselines` of the real
            features (real vs real, real vs noise).
        num_samples: generated (and real) images per measurement.
        feature_dim: size of the feature vectors.
        last_step: the final training step (always measured).
        run: the GAN run (generator, history), the same as chapter 03's.
    """

    steps: list[int] = field(default_factory=list)
    fid: list[float] = field(default_factory=list)
    kid: list[float] = field(default_factory=list)
    kid_std: list[float] = field(default_factory=list)
    baselines: dict[str, float] = field(default_factory=dict)
    num_samples: int = 0
    feature_dim: int = 0
    last_step: int = 0
    run: Any = None

    @property
    def final_fid(self) -> float:
        return self.fid[-1]

    @property
    def final_kid(self) -> float:
        return self.kid[-1]


class _FidKidCallback:
    """A ``train_gan`` callback: FID and KID of a fixed latent batch against fixed real features.

    ``train_gan`` calls it as ``callback(history, step)``; it measures the generator it was
    given, which is the one being trained.
    """

    def __init__(self, generator: nn.Module, embedder: nn.Module, real_features: np.ndarray, latents: torch.Tensor,
                 every: int, result: "FidKidCurve", seed: int):
        self.generator = generator
        self.embedder, self.real, self.latents = embedder, real_features, latents
        self.every, self.result, self.seed = every, result, seed

    def __call__(self, history: Any, step: int) -> None:
        if step % self.every and step != self.result.last_step:
            return
        device = next(self.generator.parameters()).device
        fake = sample(self.generator, self.latents.to(device))  # eval mode, no RNG drawn: training is unchanged
        features = embed(self.embedder, fake).numpy()
        kid, kid_std = kernel_inception_distance(self.real, features, seed=self.seed)
        self.result.steps.append(int(step))
        self.result.fid.append(frechet_distance(self.real, features))
        self.result.kid.append(kid)
        self.result.kid_std.append(kid_std)


def fid_kid_over_training(profile: Profile, embedder: Any, real_faces: Any = None, steps: int | None = None,
                          every: int | None = None, num_samples: int = 512, seed: int = 0, data: Any = None,
                          **train_kwargs: Any) -> FidKidCurve:
    """Train chapter 03's face GAN and measure FID and KID of its samples as it trains.

    Uses :func:`facelab.experiments.face_gan.train_face_gan` with chapter 03's
    configuration and seed, so the final generator is chapter 03's (measuring
    draws no random numbers from the training stream). Every ``every`` steps a
    fixed batch of ``num_samples`` latent vectors is decoded and compared, in the
    embedder's feature space, with ``num_samples`` real faces. The baselines use
    ``2 * num_samples`` real faces split in halves of ``num_samples`` (FID is
    biased by the sample size, so all values use the same size) and
    ``num_samples`` uniform-noise images.

    Args:
        profile: the course profile.
        embedder: the trained face embedder (or a recogniser run) that defines the feature space.
        real_faces: the real faces the samples are compared with (tensor or
            ``FaceTensorDataset``); default: the GAN's training faces.
        steps: GAN training steps; default: the profile's (as in chapter 03).
        every: steps between measurements; default: the profile's ``sample_every``
            (must be a multiple of it, since that is when ``train_gan`` calls back).
        num_samples: images per measured set.
        seed: seed of the GAN run (chapter 03 uses 0) and of the real subset and latents.
        data: the GAN's training faces; default chapter 03's, ``load_training_faces(profile)``.
        **train_kwargs: passed on to ``train_face_gan`` (e.g. ``progress=False``).

    Returns:
        The measurements, baselines and the GAN run.
    """
    embedder = _embedder_of(embedder)
    every = every or profile.sample_every
    if every % profile.sample_every:
        raise ValueError(f"every={every} must be a multiple of profile.sample_every={profile.sample_every}, "
                         "the interval at which the training loop calls back.")
    if data is None:
        data = load_training_faces(profile)
    if real_faces is None:
        real_faces = data
    images = getattr(real_faces, "images", real_faces)
    if images.shape[0] < 2 * num_samples:
        raise ValueError(f"need at least 2 * num_samples = {2 * num_samples} real faces for the baselines, "
                         f"got {images.shape[0]}; lower num_samples.")
    gen = torch.Generator().manual_seed(10_000 + seed)  # own streams: the GAN's RNG stays chapter 03's
    order = torch.randperm(images.shape[0], generator=gen)[: 2 * num_samples]
    real_features = embed(embedder, images[order]).numpy()
    noise = torch.rand(num_samples, *images.shape[1:], generator=gen) * 2 - 1
    noise_features = embed(embedder, noise).numpy()

    result = FidKidCurve(num_samples=num_samples, feature_dim=real_features.shape[1])
    result.baselines = fid_kid_baselines(real_features, noise_features, seed=seed)
    result.last_step = steps if steps is not None else profile.gan_steps
    latents = torch.randn(num_samples, profile.latent_dim, generator=gen)
    # the GAN is compared with the same real half as in the real-vs-real baseline's first half
    first_half = real_features[np.random.default_rng(seed).permutation(real_features.shape[0])[:num_samples]]
    generator, discriminator = initial_dcgan(profile, seed)  # the weights train_face_gan would build
    callback = _FidKidCallback(generator, embedder, first_half, latents, every, result, seed)
    result.run = train_face_gan(profile, data=data, steps=steps, seed=seed, callbacks=[callback],
                                models=(generator, discriminator), **train_kwargs)
    return result



