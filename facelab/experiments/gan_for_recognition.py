"""Chapter 05's experiment: do conditional-GAN faces help train a recogniser when real faces are few?

The low-data regime: ``shots`` real images of each of ``num_identities`` training
identities (:func:`low_data_split`). Four training sets, the same recogniser and the same
number of steps for each (:func:`train_face_recognizer` of chapter 04 with its flips and
shifts switched off, so that the conditions differ only in their data):

* ``real``: the real images only;
* ``real + augmentation``: plus ``extra_per_identity`` classic augmentations of the real
  images per identity (random resized crops, flips, colour jitter; ``torchvision.transforms.v2``);
* ``real + cGAN``: plus ``extra_per_identity`` faces per identity from an identity-conditioned
  DCGAN (:mod:`facelab.models.conditional`) trained once on the same real images;
* ``real + both``: plus both.

Each is measured as in chapter 04 (:func:`evaluate_recognizer`): identification of held-out
images of the training identities (the real images are the gallery), and verification of
identities never seen by the recogniser *or* the GAN (AUC, EER, TAR at FAR = 1e-2), over several
seeds of the recogniser. The conditional GAN and its samples are made once and reused across
seeds and conditions. :func:`run_gan_for_recognition` returns a :class:`GanForRecognitionResult`
(``to_markdown``, :func:`plot_gan_for_recognition`, :func:`plot_identity_grid`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from facelab.data.base import FaceTensorDataset
from facelab.baselines.recognizer import (
    RecognitionSplit,
    evaluate_recognizer,
    recognition_split,
    train_face_recognizer,
)
from facelab.models.conditional import ConditionalGenerator, ProjectionDiscriminator
from facelab.figures.gan_for_recognition import plot_gan_for_recognition, plot_identity_grid
from facelab.profile import Profile
from facelab.recognition import embed, identify
from facelab.runtime import get_device, seed_everything
from facelab.train.gan import GANHistory, GANTrainConfig, sample, train_gan

__all__ = [
    "CONDITIONS",
    "METRICS",
    "ConditionalGanRun",
    "GanForRecognitionResult",
    "default_gan_steps",
    "default_recognizer_steps",
    "low_data_split",
    "classic_augmentations",
    "train_conditional_gan",
    "training_set",
    "run_gan_for_recognition",
    "plot_gan_for_recognition",
    "plot_identity_grid",
]

CONDITIONS = ("real", "real + augmentation", "real + cGAN", "real + both")
#: metric name -> (label, higher is better)
METRICS = {
    "identification": ("identification accuracy", True),
    "auc": ("verification AUC", True),
    "eer": ("EER", False),
    "tar_at_far": ("TAR @ FAR=1e-2", True),
}


# ----------------------------------------------------------------------------- data
def default_gan_steps(profile: Profile) -> int:
    """Generator updates of the conditional GAN: chapter 03's budget (1,000 in the quick profile).

    With half the steps, or half the batch, the few-shot generator's faces were blurred or speckled
    shapes; chapter 03's steps and batch size give recognisable faces of each identity.
    """
    return max(1, profile.gan_steps)


def default_recognizer_steps(profile: Profile) -> int:
    """Steps of each few-shot recogniser: a quarter of chapter 04's run (75 in the quick profile)."""
    return max(1, profile.recognizer_steps // 4)


def low_data_split(profile: Profile, num_identities: int | None = None, shots: int = 5, seed: int = 0,
                   base: RecognitionSplit | None = None) -> RecognitionSplit:
    """The few-shot version of chapter 04's split: ``shots`` training images per identity.

    Takes the first ``num_identities`` training identities of ``recognition_split(profile, seed)``,
    keeps a seeded random ``shots`` of each one's training images, and all of their held-out images
    as identification probes; the unseen identities and their verification pairs are unchanged.

    Args:
        profile: the course profile (the synthetic faces of the quick profile, LFW in the full one).
        num_identities: training identities kept; default an eighth of the profile's identities
            (at most the split's training identities).
        shots: real training images per identity.
        seed: seed of the base split and of the choice of the shots.
        base: a ready ``recognition_split(profile, seed)`` to cut down (saves rebuilding it).

    Returns:
        A :class:`RecognitionSplit` whose ``train`` has ``num_identities * shots`` images.
    """
    base = base if base is not None else recognition_split(profile, seed)
    counts = torch.bincount(base.train.labels)
    if num_identities is None:  # an eighth of the profile's identities, at most all of the split's (LFW: 62)
        num_identities = min(max(2, profile.num_identities // 8), len(counts))
    if not 2 <= num_identities <= len(counts):
        raise ValueError(f"num_identities must be between 2 and the {len(counts)} training identities of the "
                         f"split, got {num_identities}.")
    if not 1 <= shots <= int(counts[:num_identities].min()):
        raise ValueError(f"shots must be between 1 and {int(counts[:num_identities].min())} (the fewest training "
                         f"images of the kept identities), got {shots}.")
    gen = torch.Generator().manual_seed(seed)
    keep = []
    for label in range(num_identities):
        members = torch.nonzero(base.train.labels == label).flatten()
        keep.append(members[torch.randperm(len(members), generator=gen)[:shots]].sort().values)
    train = base.train.subset(torch.cat(keep))
    val = base.val.subset(base.val.labels < num_identities)
    return RecognitionSplit(train, val, base.unseen, base.pairs, base.same, base.lfw_pairs,
                            f"{num_identities} identities x {shots} real images (from: {base.description})")


def classic_augmentations(data: FaceTensorDataset, per_identity: int, seed: int = 0) -> FaceTensorDataset:
    """``per_identity`` classically augmented copies of real images for each identity.

    Each copy is a random real image of the identity (cycling through them) with a random
    resized crop (70-100 % of the area), a horizontal flip with probability 1/2, and colour
    jitter (brightness, contrast, saturation 0.3, hue 0.05), by ``torchvision.transforms.v2``
    on tensors, drawn from a generator seeded with ``seed``.

    Args:
        data: the real images (``[-1, 1]``), labels ``0..K-1``.
        per_identity: augmented images made for each identity.
        seed: seed of the random transforms.

    Returns:
        A dataset of ``K * per_identity`` augmented images with the labels of their sources.
    """
    from torchvision.transforms import v2

    size = data.image_size
    transform = v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.7, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05),
    ])
    sources = []
    for label in torch.unique(data.labels).tolist():
        members = torch.nonzero(data.labels == label).flatten()
        sources.append(members[torch.arange(per_identity) % len(members)])
    index = torch.cat(sources) if sources else torch.zeros(0, dtype=torch.long)
    images = (data.images[index] + 1) / 2  # v2's colour transforms expect floats in [0, 1]
    state = torch.get_rng_state()
    torch.manual_seed(seed)  # v2 draws from the global RNG: seed it, and leave it as it was
    try:
        out = torch.stack([transform(image) for image in images]) if len(images) else images
    finally:
        torch.set_rng_state(state)
    return FaceTensorDataset((out.clamp(0, 1) * 2 - 1).contiguous(), data.labels[index].clone(), data.names)


@dataclass
class ConditionalGanRun:
    """A trained identity-conditioned GAN."""

    generator: ConditionalGenerator
    discriminator: ProjectionDiscriminator
    history: GANHistory
    config: GANTrainConfig
    seconds: float

    def faces(self, per_identity: int, seed: int = 0) -> FaceTensorDataset:
        """``per_identity`` generated faces of each identity, labels ``0..K-1`` (eval mode, seeded)."""
        k = self.generator.num_classes
        labels = torch.arange(k).repeat_interleave(per_identity)
        z = self.generator.sample_latent(len(labels), generator=torch.Generator().manual_seed(seed))
        device = next(self.generator.parameters()).device
        images = sample(self.generator, z.to(device), labels.to(device)).cpu().clamp(-1, 1)
        return FaceTensorDataset(images, labels)


def train_conditional_gan(profile: Profile, data: FaceTensorDataset, steps: int | None = None, seed: int = 0,
                          **overrides) -> ConditionalGanRun:
    """Train the identity-conditioned DCGAN of the profile's size on ``data`` (labels ``0..K-1``).

    Args:
        profile: sizes (image size, latent size, channels, batch size).
        data: the real training faces.
        steps: generator updates; default :func:`default_gan_steps`.
        seed: seeds the weights and the training stream.
        **overrides: fields of :class:`GANTrainConfig` (``batch_size``, ``max_steps``, ``progress``, ...);
            the batch size defaults to the profile's GAN batch, as in chapter 03.
    """
    steps = steps if steps is not None else default_gan_steps(profile)
    seed_everything(seed)
    num_classes = data.num_identities
    generator = ConditionalGenerator(num_classes, latent_dim=profile.latent_dim, channels=profile.gan_channels,
                                     image_size=profile.image_size)
    discriminator = ProjectionDiscriminator(num_classes, channels=profile.gan_channels,
                                            image_size=profile.image_size)
    settings = dict(steps=steps, batch_size=profile.gan_batch_size, seed=seed, sample_every=steps,
                    num_samples=min(64, 4 * num_classes), progress=False)
    settings.update(overrides)
    config = GANTrainConfig(**settings)
    tic = time.perf_counter()
    history = train_gan(generator, discriminator, data, config, device=get_device())
    return ConditionalGanRun(generator, discriminator, history, config, time.perf_counter() - tic)


def training_set(condition: str, real: FaceTensorDataset, augmented: FaceTensorDataset,
                 generated: FaceTensorDataset) -> FaceTensorDataset:
    """The training images of one of :data:`CONDITIONS`."""
    parts = {"real": [real], "real + augmentation": [real, augmented], "real + cGAN": [real, generated],
             "real + both": [real, augmented, generated]}
    if condition not in parts:
        raise ValueError(f"Unknown condition {condition!r}; expected one of {list(CONDITIONS)}.")
    chosen = parts[condition]
    return FaceTensorDataset(torch.cat([d.images for d in chosen]), torch.cat([d.labels for d in chosen]))


# ----------------------------------------------------------------------------- the experiment
@dataclass
class GanForRecognitionResult:
    """Every run of the experiment, one record per (condition, seed).

    Attributes:
        records: dicts with ``condition``, ``seed``, and the metrics of :data:`METRICS`.
        seeds: the recogniser seeds.
        num_identities, shots, extra_per_identity: the data regime.
        recognizer_steps, recognizer_batch_size: optimisation steps and batch size of every recogniser.
        real: the real training faces; generated: the cGAN faces; augmented: the classic
            augmentations of seed ``seeds[0]``.
        gan: the trained conditional GAN.
        gan_identity_accuracy: per seed, the fraction of cGAN faces that the ``real``
            recogniser assigns to the identity they were generated for (real images as gallery).
        conditions, metrics: :data:`CONDITIONS` and :data:`METRICS` (what the figures draw).
        description: the data, in words.
        seconds: wall time of the whole experiment.
    """

    records: list[dict]
    seeds: list[int]
    num_identities: int
    shots: int
    extra_per_identity: int
    recognizer_steps: int
    recognizer_batch_size: int
    real: FaceTensorDataset
    generated: FaceTensorDataset
    augmented: FaceTensorDataset
    gan: ConditionalGanRun
    gan_identity_accuracy: list[float] = field(default_factory=list)
    description: str = ""
    seconds: float = 0.0

    @property
    def conditions(self) -> tuple[str, ...]:
        """The training conditions compared (:data:`CONDITIONS`)."""
        return CONDITIONS

    @property
    def metrics(self) -> dict[str, tuple[str, bool]]:
        """The metrics measured, ``{name: (label, higher is better)}`` (:data:`METRICS`)."""
        return METRICS

    @property
    def chance(self) -> float:
        """Identification accuracy of guessing among the training identities."""
        return 1.0 / self.num_identities

    def values(self, condition: str, metric: str) -> np.ndarray:
        """The metric over the seeds, for one condition."""
        if condition not in CONDITIONS or metric not in METRICS:
            raise ValueError(f"condition must be one of {list(CONDITIONS)} and metric one of {list(METRICS)}, "
                             f"got {condition!r} and {metric!r}.")
        return np.array([r[metric] for r in self.records if r["condition"] == condition], dtype=float)

    def mean(self, condition: str, metric: str) -> float:
        """Mean over the seeds."""
        return float(self.values(condition, metric).mean())

    def spread(self, condition: str, metric: str) -> float:
        """Standard deviation over the seeds (``ddof=1``; 0 for a single seed)."""
        values = self.values(condition, metric)
        return float(values.std(ddof=1)) if len(values) > 1 else 0.0

    def best(self, metric: str) -> str:
        """The condition with the best mean of ``metric``."""
        higher = METRICS[metric][1]
        means = {c: self.mean(c, metric) for c in CONDITIONS}
        return max(means, key=means.get) if higher else min(means, key=means.get)

    def difference(self, condition: str, metric: str, baseline: str = "real") -> float:
        """Mean of ``condition`` minus mean of ``baseline`` (positive: larger values)."""
        return self.mean(condition, metric) - self.mean(baseline, metric)

    def effect(self, condition: str, metric: str, baseline: str = "real") -> str:
        """``"improved"``, ``"worsened"`` or ``"did not clearly change"`` ``metric`` relative to ``baseline``.

        A change is *clear* when the difference of the means exceeds the sum of the two
        standard deviations over the seeds (a deliberately cautious rule for three seeds).
        """
        diff = self.difference(condition, metric, baseline)
        if abs(diff) <= self.spread(condition, metric) + self.spread(baseline, metric):
            return "did not clearly change"
        better = diff > 0 if METRICS[metric][1] else diff < 0
        return "improved" if better else "worsened"

    def to_markdown(self) -> str:
        """A Markdown table: mean ± standard deviation over the seeds, per condition and metric."""
        header = "| training data | images | " + " | ".join(METRICS[m][0] for m in METRICS) + " |"
        lines = [header, "|" + "---|" * (2 + len(METRICS))]
        for condition in CONDITIONS:
            size = self.num_training_images(condition)
            cells = [f"{self.mean(condition, m):.3f} ± {self.spread(condition, m):.3f}" for m in METRICS]
            lines.append(f"| {condition} | {size} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def passes_over_real(self, condition: str) -> float:
        """How often each real photo is drawn, on average, while training a recogniser of ``condition``."""
        return self.recognizer_steps * self.recognizer_batch_size / self.num_training_images(condition)

    def num_training_images(self, condition: str) -> int:
        """Number of training images of a condition."""
        extra = self.num_identities * self.extra_per_identity
        return len(self.real) + extra * {"real": 0, "real + augmentation": 1, "real + cGAN": 1,
                                         "real + both": 2}[condition]


def run_gan_for_recognition(
    profile: Profile,
    seeds: Sequence[int] = (0, 1, 2),
    num_identities: int | None = None,
    shots: int = 5,
    extra_per_identity: int = 10,
    gan_steps: int | None = None,
    recognizer_steps: int | None = None,
    head: str = "arcface",
    data_seed: int = 0,
    base: RecognitionSplit | None = None,
    gan: ConditionalGanRun | None = None,
) -> GanForRecognitionResult:
    """Train recognisers on real, augmented and cGAN-augmented few-shot data and measure them.

    Args:
        profile: the course profile.
        seeds: recogniser seeds (weights, batches and the classic augmentations).
        num_identities: training identities; default an eighth of the profile's identities.
        shots: real images per training identity.
        extra_per_identity: augmented images, and cGAN images, added per identity.
        gan_steps: generator updates of the conditional GAN; default :func:`default_gan_steps`.
        recognizer_steps: steps of each recogniser at half the profile's batch size; default
            :func:`default_recognizer_steps` (the training sets are small).
        head: recognition head, as in chapter 04.
        data_seed: seed of the data split, the choice of the shots, the GAN and its samples.
        base: a ready ``recognition_split(profile, data_seed)`` (saves rebuilding it).
        gan: a conditional GAN already trained on ``low_data_split(profile, num_identities, shots,
            data_seed).train`` (by :func:`train_conditional_gan`); default: train one here.

    Returns:
        The :class:`GanForRecognitionResult`.
    """
    if len(seeds) < 1:
        raise ValueError("run_gan_for_recognition needs at least one seed, e.g. seeds=(0, 1, 2).")
    tic = time.perf_counter()
    split = low_data_split(profile, num_identities, shots, seed=data_seed, base=base)
    k = split.num_classes
    recognizer_steps = recognizer_steps if recognizer_steps is not None else default_recognizer_steps(profile)
    batch_size = max(8, profile.recognizer_batch_size // 2)
    if gan is None:
        gan = train_conditional_gan(profile, split.train, gan_steps, seed=data_seed)
    elif gan.generator.num_classes != k:
        raise ValueError(f"The conditional GAN was trained for {gan.generator.num_classes} identities but the "
                         f"low-data split has {k}; pass gan=None or train it on the same split.")
    generated = gan.faces(extra_per_identity, seed=data_seed)
    records, gan_identity, first_augmented = [], [], None
    for seed in seeds:
        augmented = classic_augmentations(split.train, extra_per_identity, seed=seed)
        first_augmented = first_augmented if first_augmented is not None else augmented
        for condition in CONDITIONS:
            data = RecognitionSplit(training_set(condition, split.train, augmented, generated), split.val,
                                    split.unseen, split.pairs, split.same, split.lfw_pairs, split.description)
            run = train_face_recognizer(profile, head=head, seed=seed, steps=recognizer_steps, data=data,
                                        batch_size=batch_size, flip=False,
                                        max_shift=0, progress=False, eval_every=recognizer_steps)
            result = evaluate_recognizer(run, split)  # the real images are the gallery in every condition
            records.append(dict(condition=condition, seed=seed, identification=result.identification_accuracy,
                                auc=result.auc, eer=result.eer, tar_at_far=result.tar_at_far))
            if condition == "real":
                predicted = identify(embed(run.embedder, split.train.images), split.train.labels,
                                     embed(run.embedder, generated.images))
                gan_identity.append(float((predicted == generated.labels).float().mean()))
    return GanForRecognitionResult(records, list(seeds), k, shots, extra_per_identity, recognizer_steps,
                                   batch_size, split.train, generated, first_augmented, gan, gan_identity,
                                   split.description, time.perf_counter() - tic)
