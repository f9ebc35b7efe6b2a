"""The experiments of chapter 07: what GAN faces do to face recognition and to privacy.

* Impostors (:func:`impostor_experiment`): random faces of chapter 03's GAN, and
  faces found by optimising its latent vector towards a target's template
  (:func:`facelab.attacks.optimise_latents_towards`), against chapter 04's
  recogniser at the threshold where its false accept rate on real impostor pairs
  is 1e-2 (:func:`threshold_at_far`).
* Detection (:func:`detector_experiment`): a small CNN trained on real versus
  generated faces (:mod:`facelab.models.detector`), tested on held-out faces of the
  same generator and on generators it never saw.
* Memorisation and membership (:func:`membership_experiment`): a DCGAN trained
  on half of the 100 real LFW faces scikit-image ships, the nearest training faces
  of its samples, and LOGAN's attack (Hayes et al. 2019): the discriminator scores
  its own training faces higher than faces it never saw.
* Group differentials: :mod:`facelab.experiments.fairness`.

The figures are in :mod:`facelab.figures.risks`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from facelab.attacks import LatentAttackResult, optimise_latents_towards
from facelab.data.base import FaceTensorDataset
from facelab.metrics.privacy import membership_auc, memorisation_ratio, nearest_neighbours
from facelab.models.detector import FakeFaceDetector, fake_probability
from facelab.train.detector import DetectorHistory, train_detector
from facelab.metrics.thresholds import threshold_at_far
from facelab.models.zoo import build_dcgan
from facelab.profile import Profile
from facelab.recognition import embed
from facelab.runtime import get_device, seed_everything
from facelab.utils import evaluating
from facelab.train.gan import GANTrainConfig, sample, train_gan

__all__ = [
    "threshold_at_far",
    "ImpostorResult",
    "impostor_experiment",
    "DetectorResult",
    "detector_experiment",
    "checkpoint_faces",
    "discriminator_scores",
    "MembershipResult",
    "membership_experiment",
]


# ----------------------------------------------------------------------------- impostors
@dataclass
class ImpostorResult:
    """GAN faces against a recogniser at one operating threshold.

    Attributes:
        threshold, far_target: the operating threshold and the FAR on real impostor pairs it was set for.
        random_scores: ``(R, T)`` cosine of each of R random GAN faces with each of T target templates.
        random_far: share of (random GAN face, target) comparisons accepted.
        random_any: share of targets that at least one of the R random faces unlocks (a dictionary attack).
        attack: the latent search, one start per target.
        attack_far_before, attack_far_after: share of targets whose start / optimised face is accepted.
        other_scores: ``(T, M)`` cosine of each optimised face with the target's *other* images.
        other_accept: share of those comparisons accepted.
        genuine_accept: share of real genuine pairs accepted at the threshold (TAR), for comparison.
        targets: ``(T, 3, S, S)`` the enrolment image of each target.
    """

    threshold: float
    far_target: float
    random_scores: np.ndarray
    random_far: float
    random_any: float
    attack: LatentAttackResult
    attack_far_before: float
    attack_far_after: float
    other_scores: np.ndarray
    other_accept: float
    genuine_accept: float
    targets: torch.Tensor


def impostor_experiment(
    generator: nn.Module,
    embedder: nn.Module,
    unseen: FaceTensorDataset,
    threshold: float,
    far_target: float,
    genuine_accept: float,
    num_targets: int = 20,
    num_random: int = 256,
    steps: int = 100,
    lr: float = 0.05,
    prior_weight: float = 1.0,
    seed: int = 0,
) -> ImpostorResult:
    """Random and optimised GAN faces against the templates of people the recogniser never saw.

    Each of the first ``num_targets`` identities of ``unseen`` enrols with its first
    image; its other images test whether an optimised face looks like the person
    or only like the one template it was optimised against.

    Args:
        generator: chapter 03's generator (its ``latent_dim`` and ``sample_latent`` are used).
        embedder: chapter 04's embedder.
        unseen: faces of identities the recogniser was not trained on (``split.unseen``).
        threshold: the operating threshold (e.g. :func:`threshold_at_far` at 1e-2).
        far_target: the FAR that threshold was set for (reported).
        genuine_accept: TAR of real genuine pairs at that threshold (reported).
        num_targets: targets attacked.
        num_random: random GAN faces compared with every target.
        steps, lr, prior_weight: settings of :func:`facelab.attacks.optimise_latents_towards`.
        seed: seeds the random faces and the starting latents.
    """
    num_targets = min(num_targets, unseen.num_identities)
    first = torch.stack([torch.nonzero(unseen.labels == k)[0, 0] for k in range(num_targets)])
    targets = unseen.images[first]
    templates = embed(embedder, targets)  # (T, D)
    device = next(generator.parameters()).device

    rng = torch.Generator().manual_seed(seed)
    z_random = generator.sample_latent(num_random, generator=rng)
    random_faces = sample(generator, z_random.to(device)).cpu()
    random_scores = (embed(embedder, random_faces) @ templates.T).numpy()  # (R, T)

    z_start = generator.sample_latent(num_targets, generator=rng)
    attack = optimise_latents_towards(generator, embedder, templates, z_start, steps=steps, lr=lr,
                                      prior_weight=prior_weight)
    final_embeddings = embed(embedder, attack.final)
    others = []
    for k in range(num_targets):
        rest = unseen.images[(unseen.labels == k)][1:]
        others.append((embed(embedder, rest) @ final_embeddings[k]).numpy())
    width = min(len(o) for o in others)
    other_scores = np.stack([o[:width] for o in others])
    return ImpostorResult(
        threshold=threshold,
        far_target=far_target,
        random_scores=random_scores,
        random_far=float((random_scores >= threshold).mean()),
        random_any=float((random_scores >= threshold).any(axis=0).mean()),
        attack=attack,
        attack_far_before=float((attack.score_start >= threshold).float().mean()),
        attack_far_after=float((attack.score_final >= threshold).float().mean()),
        other_scores=other_scores,
        other_accept=float((other_scores >= threshold).mean()),
        genuine_accept=genuine_accept,
        targets=targets,
    )


# ----------------------------------------------------------------------------- detection
@dataclass
class DetectorResult:
    """A real-vs-fake detector and how it does on each test generator.

    Attributes:
        history: its training curve.
        accuracy, average_precision: ``{test set name: value}``; each test set is
            the held-out real faces against as many faces of one generator (fake = positive).
        train_name: the generator it was trained on (first key of the dicts).
        examples: ``{name: a few faces}`` of every generator, for figures.
    """

    history: DetectorHistory
    accuracy: dict[str, float]
    average_precision: dict[str, float]
    train_name: str
    examples: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def drops(self) -> dict[str, float]:
        """Average-precision drop of each unseen generator from the training generator's."""
        base = self.average_precision[self.train_name]
        return {k: base - v for k, v in self.average_precision.items() if k != self.train_name}


def detector_experiment(
    real_train: torch.Tensor,
    fake_train: torch.Tensor,
    real_test: torch.Tensor,
    fake_tests: dict[str, torch.Tensor],
    steps: int = 300,
    channels: int = 16,
    seed: int = 0,
) -> DetectorResult:
    """Train :class:`facelab.models.detector.FakeFaceDetector` and test it on several generators.

    Args:
        real_train, fake_train: the training faces of each class.
        real_test: held-out real faces.
        fake_tests: ``{name: faces}``; the first entry should be new samples of the
            generator behind ``fake_train``, the others generators it never saw.
            Each is scored against the same number of ``real_test`` faces (balanced,
            so chance average precision is 0.5).
        steps, channels: detector training steps and width.
        seed: seeds the weights and batches.
    """
    from sklearn.metrics import average_precision_score

    seed_everything(seed)
    detector = FakeFaceDetector(channels=channels).to(get_device())
    history = train_detector(detector, real_train, fake_train, steps=steps, seed=seed)
    p_real = fake_probability(detector, real_test).numpy()
    accuracy, precision, examples = {}, {}, {}
    for name, fakes in fake_tests.items():
        n = min(len(fakes), len(real_test))
        p_fake = fake_probability(detector, fakes[:n]).numpy()
        y = np.concatenate([np.zeros(n), np.ones(n)])
        p = np.concatenate([p_real[:n], p_fake])
        accuracy[name] = float(((p >= 0.5) == y).mean())
        precision[name] = float(average_precision_score(y, p))
        examples[name] = fakes[:8]
    return DetectorResult(history, accuracy, precision, next(iter(fake_tests)), examples)


def checkpoint_faces(history: Any, before_step: int | None = None, max_checkpoints: int = 4) -> dict[str, torch.Tensor]:
    """The fixed-noise faces a GAN run recorded at earlier checkpoints, ``{"same GAN, step s": faces}``.

    Args:
        history: a :class:`facelab.train.gan.GANHistory` (``run.history``).
        before_step: keep checkpoints before this step; default: all but the last.
        max_checkpoints: at most this many, evenly spaced over training (the first and last kept).
    """
    last = history.sample_steps[-1] if before_step is None else before_step
    earlier = [(s, x) for s, x in zip(history.sample_steps, history.samples) if s < last]
    if len(earlier) > max_checkpoints:
        picks = np.unique(np.linspace(0, len(earlier) - 1, max_checkpoints).round().astype(int))
        earlier = [earlier[i] for i in picks]
    return {f"same GAN, step {s}": x for s, x in earlier}


# ----------------------------------------------------------------------------- membership
@torch.no_grad()
def discriminator_scores(discriminator: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Raw discriminator scores in eval mode (batch norm's running statistics), ``(N,)`` on the CPU."""
    device = next(discriminator.parameters()).device
    with evaluating(discriminator):
        return discriminator(images.to(device)).float().cpu()


@dataclass
class MembershipResult:
    """A GAN trained on few real faces: what its samples copy and what its discriminator gives away.

    Attributes:
        members, non_members: the faces trained on and the faces held out.
        samples: generated faces.
        sample_nn_distance, sample_nn_index: ``(S, k)`` distances to and indices of each
            sample's nearest members.
        non_member_nn_distance: ``(H,)`` each non-member's distance to its nearest member (a baseline:
            a new face of the same kind).
        member_nn_distance: ``(M,)`` each member's distance to its nearest *other* member.
        memorisation_ratio: median non-member distance over median sample distance
            (:func:`facelab.metrics.privacy.memorisation_ratio`).
        member_scores, non_member_scores: the final discriminator's raw scores.
        auc: membership AUC of those scores (LOGAN, white box).
        sample_auc: membership AUC of a black-box attacker who only sees generated faces and
            calls a face a member when a sample lies close to it (GAN-Leaks, Chen et al. 2020).
        auc_steps, auc_trace: the AUC during training.
        steps: generator updates.
    """

    members: torch.Tensor
    non_members: torch.Tensor
    samples: torch.Tensor
    sample_nn_distance: torch.Tensor
    sample_nn_index: torch.Tensor
    non_member_nn_distance: torch.Tensor
    member_nn_distance: torch.Tensor
    memorisation_ratio: float
    member_scores: torch.Tensor
    non_member_scores: torch.Tensor
    auc: float
    sample_auc: float
    auc_steps: list[int]
    auc_trace: list[float]
    steps: int


def membership_experiment(
    profile: Profile,
    faces: FaceTensorDataset | None = None,
    num_members: int = 50,
    steps: int = 500,
    num_samples: int = 64,
    num_attack_samples: int = 1000,
    k: int = 3,
    seed: int = 0,
    record_every: int = 50,
    build: Callable[[Profile], tuple[nn.Module, nn.Module]] | None = None,
) -> MembershipResult:
    """Train a DCGAN on ``num_members`` real faces and attack it.

    Args:
        profile: sizes of the networks and the batch (``image_size``, ``gan_channels``,
            ``latent_dim``, ``gan_batch_size``).
        faces: the real faces; default ``facelab.data.real.load_lfw_subset`` (100 LFW crops).
        num_members: faces trained on (a seeded random choice); the rest are non-members.
        steps: generator updates (few faces and many steps: the setting that memorises).
        num_samples: samples searched for near-copies.
        num_attack_samples: samples the black-box attacker draws.
        k: nearest members kept per sample.
        seed: seeds the split, the networks and the training.
        record_every: steps between membership AUCs during training.
        build: ``profile -> (generator, discriminator)``; default chapter 03's DCGAN.
    """

    if faces is None:
        from facelab.data.real import load_lfw_subset

        faces = load_lfw_subset(size=profile.image_size)
    if not 1 <= num_members < len(faces):
        raise ValueError(f"num_members must leave at least one non-member: between 1 and {len(faces) - 1}, "
                         f"got {num_members}.")
    order = torch.randperm(len(faces), generator=torch.Generator().manual_seed(seed))
    members, non_members = faces.images[order[:num_members]], faces.images[order[num_members:]]

    seed_everything(seed)
    generator, discriminator = (build or build_dcgan)(profile)
    auc_steps: list[int] = []
    auc_trace: list[float] = []

    def record(_history: Any, step: int) -> None:
        auc_steps.append(step)
        auc_trace.append(membership_auc(discriminator_scores(discriminator, members),
                                        discriminator_scores(discriminator, non_members)))

    config = GANTrainConfig(steps=steps, batch_size=min(profile.gan_batch_size, num_members),
                            sample_every=record_every, seed=seed, progress=False)
    train_gan(generator, discriminator, members, config, callbacks=[record])

    z = generator.sample_latent(num_samples, generator=torch.Generator().manual_seed(seed + 1))
    samples = sample(generator, z.to(next(generator.parameters()).device)).cpu()
    sample_d, sample_i = nearest_neighbours(samples, members, k=k)
    z_attack = generator.sample_latent(num_attack_samples, generator=torch.Generator().manual_seed(seed + 2))
    attack_samples = sample(generator, z_attack.to(next(generator.parameters()).device)).cpu()
    closeness_members = -nearest_neighbours(members, attack_samples)[0][:, 0]
    closeness_others = -nearest_neighbours(non_members, attack_samples)[0][:, 0]
    member_scores = discriminator_scores(discriminator, members)
    non_member_scores = discriminator_scores(discriminator, non_members)
    return MembershipResult(
        members=members,
        non_members=non_members,
        samples=samples,
        sample_nn_distance=sample_d,
        sample_nn_index=sample_i,
        non_member_nn_distance=nearest_neighbours(non_members, members)[0][:, 0],
        member_nn_distance=nearest_neighbours(members, members, exclude_self=True)[0][:, 0],
        memorisation_ratio=memorisation_ratio(samples, members, non_members),
        member_scores=member_scores,
        non_member_scores=non_member_scores,
        auc=membership_auc(member_scores, non_member_scores),
        sample_auc=membership_auc(closeness_members, closeness_others),
        auc_steps=auc_steps,
        auc_trace=auc_trace,
        steps=steps,
    )
