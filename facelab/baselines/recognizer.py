"""Chapter 04's recognisers: the data split, training, and identification and verification scores.

* Data (:func:`recognition_split`): the identities a recogniser trains on, split into training and
  held-out images, and identities it never sees. Quick profile: the synthetic faces. Full profile: LFW
  (Huang et al. 2007) through scikit-learn -- people with at least 20 images to train on, people with
  10 to 19 images as the unseen identities, and the official LFW pairs (10 folds).
* Training (:func:`train_face_recognizer`): :class:`facelab.models.recognition.FaceEmbedder` with a
  softmax or margin head (:mod:`facelab.losses.margin`) through :func:`facelab.train.recognition.train_recognizer`.
* Measuring (:func:`evaluate_recognizer`): closed-set identification accuracy on held-out images of the
  training identities, and verification on identities never seen in training: 10-fold accuracy, ROC AUC,
  EER and TAR at FAR = 1e-2.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..data.base import FaceTensorDataset
from ..metrics.classification import accuracy
from ..metrics.verification import (
    KFoldResult,
    auc,
    cosine_scores,
    equal_error_rate,
    kfold_verification,
    paired_cosine_scores,
    tar_at_far,
)
from ..models.recognition import FaceEmbedder
from ..models.zoo import HEAD_OPTIONS, build_recognizer
from ..profile import Profile
from ..recognition import embed, identify, verification_pairs
from ..runs import train_or_reuse
from ..runtime import get_device, seed_everything
from ..train.recognition import RecognizerHistory, RecognizerTrainConfig, train_recognizer

__all__ = ["TRAIN_FRACTION", "VAL_FRACTION", "NUM_PAIRS", "FAR_TARGET", "RecognitionSplit", "recognition_split",
           "RecognizerRun", "train_face_recognizer", "RecognitionResult", "evaluate_recognizer"]

TRAIN_FRACTION = 0.75   # of the synthetic identities: trained on; the rest are never seen
VAL_FRACTION = 0.25     # of each training identity's images: held out for identification
NUM_PAIRS = 4000        # verification pairs among the unseen identities (half genuine)
FAR_TARGET = 1e-2       # the operating point of TAR@FAR


# ----------------------------------------------------------------------------- data
@dataclass
class RecognitionSplit:
    """The data of a recognition experiment.

    Attributes:
        train: images of the training identities used for training, labels ``0..K-1``.
        val: held-out images of the same identities, same labels (identification probes).
        unseen: images of identities never seen in training, labels ``0..U-1``.
        pairs: ``(P, 2)`` indices into ``unseen`` of verification pairs.
        same: ``(P,)`` bool, True for genuine pairs.
        lfw_pairs: full profile only, the official LFW pairs (``facelab.data.real.LfwPairs``).
        description: one line saying where the data came from.
    """

    train: FaceTensorDataset
    val: FaceTensorDataset
    unseen: FaceTensorDataset
    pairs: np.ndarray
    same: np.ndarray
    lfw_pairs: Any = None
    description: str = ""
    key: str = ""  # how recognition_split made it (names reusable runs); empty for hand-made splits

    @property
    def num_classes(self) -> int:
        return self.train.num_identities


def _split_images(data: FaceTensorDataset, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean masks (train, val): a seeded ``val_fraction`` of each identity's images is held out."""
    gen = torch.Generator().manual_seed(seed)
    val = torch.zeros(len(data), dtype=torch.bool)
    for label in torch.unique(data.labels).tolist():
        members = torch.nonzero(data.labels == label).flatten()
        k = max(1, round(val_fraction * len(members))) if len(members) > 1 else 0
        val[members[torch.randperm(len(members), generator=gen)[:k]]] = True
    return ~val, val


def recognition_split(profile: Profile, seed: int = 0, num_pairs: int = NUM_PAIRS) -> RecognitionSplit:
    """Training identities (train/val images) and identities never seen in training.

    * quick: ``profile.num_identities`` synthetic identities with
      ``profile.images_per_identity`` images each; the first 75 % are trained on, the rest
      are the unseen identities of the verification test.
    * full: LFW people (downloaded once through scikit-learn, ~200 MB): the 62 people with
      at least 20 images are trained on, the people with 10 to 19 images are unseen;
      the official LFW pairs are loaded too. The LFW pairs are not disjoint from the
      training people (LFW's "unrestricted" protocol would need outside training data);
      the unseen people are.

    Args:
        profile: the course profile.
        seed: dataset seed (synthetic faces) and seed of the image split and the pairs.
        num_pairs: verification pairs among the unseen identities, half genuine (fewer when
            the unseen identities do not have that many).

    Returns:
        The :class:`RecognitionSplit`.
    """
    lfw_pairs = None
    if profile.dataset == "synthetic":
        from facelab.data.synthetic import make_synthetic_faces

        faces = make_synthetic_faces(num_identities=profile.num_identities,
                                     images_per_identity=profile.images_per_identity,
                                     size=profile.image_size, seed=seed)
        num_train = int(TRAIN_FRACTION * faces.num_identities)
        known = faces.labels < num_train
        description = (f"synthetic faces: {num_train} training identities, "
                       f"{faces.num_identities - num_train} unseen, {profile.images_per_identity} images each")
    else:
        from facelab.data.real import load_lfw_pairs, load_lfw_people

        faces = load_lfw_people(size=profile.image_size, min_faces_per_person=10, download=True)
        counts = torch.bincount(faces.labels)
        known = counts[faces.labels] >= 20
        lfw_pairs = load_lfw_pairs(size=profile.image_size, download=True)
        description = (f"LFW: {int((counts >= 20).sum())} training people (>= 20 images), "
                       f"{int((counts < 20).sum())} unseen people (10-19 images), official LFW pairs")
    known_faces = faces.subset(known, relabel=True)
    train_mask, val_mask = _split_images(known_faces, VAL_FRACTION, seed)
    unseen = faces.subset(~known, relabel=True)
    counts = torch.bincount(unseen.labels)
    genuine = int((counts * (counts - 1) // 2).sum())
    impostor = len(unseen) * (len(unseen) - 1) // 2 - genuine
    half = min(num_pairs // 2, genuine, impostor)  # tiny test sets have fewer pairs than asked for
    pairs, same = verification_pairs(unseen, 2 * half, seed=seed)
    return RecognitionSplit(known_faces.subset(train_mask), known_faces.subset(val_mask), unseen, pairs, same,
                            lfw_pairs, description, key=f"recognition_split(seed={seed}, num_pairs={num_pairs})")


# ----------------------------------------------------------------------------- training
@dataclass
class RecognizerRun:
    """A trained recogniser: the embedder, its training head, the history and the settings."""

    embedder: FaceEmbedder
    head: torch.nn.Module
    head_name: str
    head_options: dict[str, float]
    history: RecognizerHistory
    config: RecognizerTrainConfig
    seconds: float  # wall time of the training call

    @property
    def label(self) -> str:
        """A short name for plots and tables, e.g. ``"arcface (m=0.5)"``."""
        margin = self.head_options.get("margin")
        return self.head_name if margin is None else f"{self.head_name} (m={margin:g})"


def train_face_recognizer(
    profile: Profile,
    head: str = "arcface",
    seed: int = 0,
    steps: int | None = None,
    data: RecognitionSplit | None = None,
    head_options: dict[str, float] | None = None,
    callbacks: Sequence[Callable[[RecognizerHistory, int], None]] = (),
    **overrides: Any,
) -> RecognizerRun:
    """Train chapter 04's recogniser on the training identities of ``data``.

    Args:
        profile: the course profile (embedding size, width, batch size, steps).
        head: ``"softmax"``, ``"normface"``, ``"arcface"`` or ``"cosface"``.
        seed: seeds the initial weights and the training stream (same seed, same batches).
        steps: optimisation steps; default ``profile.recognizer_steps``.
        data: the :class:`RecognitionSplit`; default ``recognition_split(profile, seed)``.
        head_options: changes to :data:`HEAD_OPTIONS`, e.g. ``{"margin": 0.2}``.
        callbacks: ``callback(history, step)`` every ``eval_every`` steps.
        **overrides: fields of :class:`facelab.train.recognition.RecognizerTrainConfig`
            (``lr=0.05``, ``max_steps=10``, ``progress=False``, ``checkpoint_path=...``).
            On the full profile, and on the quick profile when ``$FACELAB_RUNS_DIR`` is set and
            ``data`` came from :func:`recognition_split` and no callbacks are given, a checkpoint
            named by the run's settings (:mod:`facelab.runs`) is written every 1,000 steps and at
            the end, and resumed from: a finished run is reused without training.

    Returns:
        The :class:`RecognizerRun`.
    """
    fields = {f.name for f in dataclasses.fields(RecognizerTrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"Unknown training setting(s) {unknown}; valid ones are {sorted(fields)}.")
    key = head.strip().lower()
    if key not in HEAD_OPTIONS:
        raise ValueError(f"Unknown recognition head {head!r}; expected one of {sorted(HEAD_OPTIONS)}.")
    options = {**HEAD_OPTIONS[key], **(head_options or {})}
    data = data if data is not None else recognition_split(profile, seed)
    settings: dict[str, Any] = {**dict(steps=steps if steps is not None else profile.recognizer_steps,
                                       batch_size=profile.recognizer_batch_size, seed=seed,
                                       eval_every=max(1, profile.sample_every)), **overrides}
    # splits made by recognition_split name themselves (data.key); hand-made ones, and runs with callbacks
    # (they would miss a reused run), are not reused; the key of the training images is part of the name
    reusable = bool(data.key) and not callbacks
    seed_everything(seed)  # the initial weights: the same for every head
    embedder, head_module = build_recognizer(profile, key, data.num_classes, **options)
    tic = time.perf_counter()
    config, history = train_or_reuse(
        f"recognizer_{key}", profile, RecognizerTrainConfig, settings, data.train,
        lambda config: train_recognizer(embedder, head_module, data.train, config, device=get_device(),
                                        callbacks=callbacks),
        reusable=reusable, label=f"{key} recogniser", head=key, head_options=options, split=data.key)
    return RecognizerRun(embedder, head_module, key, options, history, config, time.perf_counter() - tic)


# ----------------------------------------------------------------------------- measuring
@dataclass
class RecognitionResult:
    """How well a recogniser identifies and verifies.

    Attributes:
        label: the run's name (head and margin).
        identification_accuracy: closed-set accuracy on held-out images of the training
            identities (nearest class centroid by cosine).
        num_classes: number of training identities (chance is ``1 / num_classes``).
        verification: 10-fold verification accuracy (per fold, threshold from the other nine).
        auc: area under the ROC curve of the verification scores.
        eer: equal error rate; ``eer_threshold`` the cosine where it occurs.
        tar_at_far: true accept rate at a false accept rate of ``FAR_TARGET`` (1e-2).
        scores, same: the verification pairs' cosine scores and labels (for histograms).
        protocol: which pairs were used.
        embeddings, labels: embeddings of the unseen identities and their labels (for 2-D maps).
    """

    label: str
    identification_accuracy: float
    num_classes: int
    verification: KFoldResult
    auc: float
    eer: float
    eer_threshold: float
    tar_at_far: float
    scores: np.ndarray
    same: np.ndarray
    protocol: str
    embeddings: torch.Tensor
    labels: torch.Tensor

    @property
    def chance(self) -> float:
        """Identification accuracy of guessing."""
        return 1.0 / self.num_classes

    @property
    def genuine(self) -> np.ndarray:
        """Cosine scores of the genuine (same-person) pairs."""
        return self.scores[self.same]

    @property
    def impostor(self) -> np.ndarray:
        """Cosine scores of the impostor pairs."""
        return self.scores[~self.same]


def evaluate_recognizer(run: RecognizerRun, split: RecognitionSplit) -> RecognitionResult:
    """Identification on held-out images of the training identities, verification on unseen ones.

    With ``split.lfw_pairs`` (full profile) verification uses the official LFW pairs and
    folds; otherwise the pairs of unseen identities with 10 seeded stratified folds.
    """
    embedder = run.embedder
    gallery, probes = embed(embedder, split.train.images), embed(embedder, split.val.images)
    predicted = identify(gallery, split.train.labels, probes)
    unseen = embed(embedder, split.unseen.images)
    if split.lfw_pairs is not None:
        pairs = split.lfw_pairs
        scores = paired_cosine_scores(embed(embedder, pairs.images_a), embed(embedder, pairs.images_b))
        same, folds, protocol = pairs.same.numpy(), pairs.folds.numpy(), "LFW pairs, official 10 folds"
    else:
        scores, same, folds = cosine_scores(unseen, split.pairs), split.same, None
        protocol = f"{len(same)} pairs of {split.unseen.num_identities} unseen identities, 10 folds"
    eer, eer_threshold = equal_error_rate(scores, same)
    return RecognitionResult(
        label=run.label,
        identification_accuracy=accuracy(split.val.labels, predicted),
        num_classes=split.num_classes,
        verification=kfold_verification(scores, same, num_folds=10, folds=folds),
        auc=auc(scores, same),
        eer=eer,
        eer_threshold=eer_threshold,
        tar_at_far=float(tar_at_far(scores, same, FAR_TARGET)),
        scores=scores,
        same=np.asarray(same, dtype=bool),
        protocol=protocol,
        embeddings=unseen,
        labels=split.unseen.labels,
    )
