"""The training loop of a face recogniser: an embedder and a classification head.

Face recognition is trained as identity classification (the approach of DeepFace,
Taigman et al. 2014, and of ArcFace, Deng et al. 2019): the embedder maps a face
to a vector, the head (softmax or an angular-margin head, ``facelab.losses.margin``)
scores it against every training identity, and the loss is the **multi-class**
cross-entropy of those logits (:func:`recognizer_step`). After training the head is
thrown away and the embeddings are compared by cosine similarity.

Around the step, the same :class:`~facelab.train.loop.TrainingRun` as the GAN loop: the data
held on the device and sampled with the global RNG (so a resumed run replays exactly), light
augmentation done on the device, SGD with momentum (or AdamW) and a cosine learning-rate
schedule, mixed precision on GPUs, a history, callbacks, atomic checkpoints and ``max_steps``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import get_device
from ..utils import evaluating
from .config import TrainConfig, choice, integer, interval, number, rate
from .fast import FastPath, setup_fast_path
from .history import History
from .loop import TrainingRun, update
from .source import training_data

__all__ = ["RecognizerTrainConfig", "RecognizerHistory", "RecognizerParts", "recognizer_step", "train_recognizer",
           "augment"]

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class RecognizerTrainConfig(TrainConfig):
    """Settings of a recognition training run (stored in its checkpoints); the shared ones are :class:`TrainConfig`'s."""

    steps: int = 400                 # optimisation steps
    batch_size: int = 128            # ArcFace trains with 512 on 8 GPUs; 128 suits a CPU
    optimizer: str = "sgd"           # "sgd" (momentum, as ArcFace) or "adamw"
    lr: float = 0.1                  # peak learning rate (ArcFace: 0.1 for SGD; AdamW wants ~1e-3)
    momentum: float = 0.9            # SGD momentum
    weight_decay: float = 5e-4       # ArcFace's value
    warmup_steps: int = 0            # linear warm-up before the cosine decay
    min_lr_ratio: float = 0.0        # the cosine decays to lr * min_lr_ratio
    label_smoothing: float = 0.0     # of the cross-entropy targets
    flip: bool = True                # random horizontal flips (faces are roughly symmetric)
    max_shift: int = 2               # random translation of up to this many pixels (0: none)
    eval_every: int = 100            # steps between callbacks (evaluations, live plots)

    RULES: ClassVar = {
        "optimizer": choice(OPTIMIZERS), "lr": rate(), "momentum": interval(0, 1, what="SGD momentum"),
        "weight_decay": number(0), "warmup_steps": integer(0), "min_lr_ratio": interval(0, 1, closed=True),
        "label_smoothing": interval(0, 1), "max_shift": integer(0), "eval_every": integer(1),
    }
    HINTS: ClassVar = {"lr": "ArcFace uses lr=0.1 with SGD; AdamW wants about 1e-3"}


@dataclass
class RecognizerHistory(History):
    """What happened during training.

    ``loss`` is the cross-entropy with the head's margin, ``accuracy`` the training-batch
    accuracy of the margin-free logits (which identity the head would predict), both
    averaged over ``log_every`` steps. Callbacks add evaluation metrics with
    :meth:`record_eval`.
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def record_eval(self, step: int, **metrics: float) -> None:
        """Record evaluation metrics at ``step``, e.g. ``history.record_eval(step, auc=0.93)``."""
        if not self.eval_step or self.eval_step[-1] != step:
            self.eval_step.append(step)
        for name, value in metrics.items():
            self.eval.setdefault(name, []).append(float(value))


def augment(images: torch.Tensor, flip: bool = True, max_shift: int = 2) -> torch.Tensor:
    """Random horizontal flips and translations of a batch, on its own device.

    Each image is flipped with probability 1/2 and shifted by up to ``max_shift``
    pixels in each direction (borders repeat the edge pixels), drawing from the
    global RNG.

    Args:
        images: ``(B, C, H, W)``.
        flip: flip horizontally at random.
        max_shift: largest shift in pixels (0: no translation).

    Returns:
        The augmented batch, same shape.
    """
    b, _, h, w = images.shape
    if flip:
        flipped = torch.rand(b, device=images.device) < 0.5
        images = torch.where(flipped.view(b, 1, 1, 1), images.flip(-1), images)
    if max_shift > 0:
        padded = F.pad(images, (max_shift,) * 4, mode="replicate")  # (B, C, H+2p, W+2p)
        dy, dx = torch.randint(0, 2 * max_shift + 1, (2, b, 1), device=images.device)
        rows = torch.arange(h, device=images.device) + dy  # (B, H): the window of each image
        cols = torch.arange(w, device=images.device) + dx  # (B, W)
        batch = torch.arange(b, device=images.device).view(b, 1, 1)
        # gather each window in (B, H, W, C) order: the result is already channels-last in memory
        images = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    return images


def _lr_factor(step: int, config: RecognizerTrainConfig) -> float:
    """Linear warm-up, then a cosine from 1 to ``min_lr_ratio`` over the remaining steps."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


class _EmbedderAndHead(nn.Module):
    """The embedder's ``features`` followed by the head, as one module the loop calls.

    DistributedDataParallel and ``torch.compile`` see a module's ``forward`` only, and
    the loop needs the embedder's ``features`` (the un-normalised embedding).
    """

    def __init__(self, embedder: nn.Module, head: nn.Module):
        super().__init__()
        self.embedder, self.head = embedder, head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embeddings = getattr(self.embedder, "features", self.embedder)(images)  # (B, D), un-normalised
        return embeddings, self.head(embeddings, labels)  # (B, K), the true class with its margin


def _identities(labels: torch.Tensor, head: nn.Module) -> None:
    """Refuse labels a head cannot learn: beyond its classes, or a single identity (nothing to tell apart)."""
    num_classes = getattr(head, "num_classes", getattr(head, "out_features", None))
    if num_classes is not None and int(labels.max()) >= num_classes:
        raise ValueError(f"labels go up to {int(labels.max())} but the head has {num_classes} classes; build the "
                         "head with num_classes = number of training identities (relabel subsets with "
                         "dataset.subset(..., relabel=True)).")
    found = int(torch.unique(labels).numel())
    if found < 2:
        raise ValueError(f"train_recognizer got images of {found} identity; a recogniser learns to tell identities "
                         "apart, so it needs at least 2 (a single one trains to loss 0 and learns nothing). Use "
                         "more identities (e.g. a lower min_faces_per_person, or more synthetic identities).")


@dataclass
class RecognizerParts:
    """What :func:`recognizer_step` works with."""

    model: nn.Module                 # embedder + head as one module (or its DDP wrapper)
    head: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    config: "RecognizerTrainConfig"
    fast: FastPath


def recognizer_step(rec: RecognizerParts, batches: Iterator[tuple]) -> torch.Tensor:
    """One step of identity classification (ArcFace): augment a batch, cross-entropy over the K identities.

    Returns:
        The step's statistics on the device: ``(loss, accuracy)`` (accuracy of the margin-free logits).
    """
    # (1) A batch, augmented on the device: random flips and shifts
    images, labels = next(batches)
    images = rec.fast.batch(augment(rec.fast.batch(images), rec.config.flip, rec.config.max_shift))

    # (2) Multi-class cross-entropy on the head's logits, the true class with its margin
    with rec.fast.autocast():
        embeddings, logits = rec.model(images, labels)  # (B, D) un-normalised; (B, K) with the margin
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=rec.config.label_smoothing)
    update(rec.optimizer, rec.scaler, loss)
    rec.scheduler.step()

    # (3) Which identity the head would predict without its margin
    with torch.no_grad():
        predicted = rec.head(embeddings.detach().float()).argmax(1)
    return torch.stack([loss.detach().float(), (predicted == labels).float().mean()])


def train_recognizer(
    embedder: nn.Module,
    head: nn.Module,
    data: Any,
    config: RecognizerTrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    callbacks: Sequence[Callable[[RecognizerHistory, int], None]] = (),
    resume: bool = True,
) -> RecognizerHistory:
    """Train a face recogniser by identity classification.

    Args:
        embedder: maps images to embeddings; its ``features`` method (if any) gives the
            un-normalised embedding the head is trained on (``facelab.models.recognition.FaceEmbedder``).
        head: maps ``(embeddings, labels)`` to logits over the ``K`` identities
            (``facelab.losses.margin``).
        data: a ``FaceTensorDataset`` (or an ``(images, labels)`` pair) with labels ``0..K-1`` of at least
            two identities; it is moved to ``device`` once and sampled with replacement.
        config: the run's settings (defaults: ``RecognizerTrainConfig()``).
        device: where to train; default ``facelab.get_device()``.
        callbacks: called as ``callback(history, step)`` every ``eval_every`` steps and at the
            end, with the models in eval mode (e.g. to ``history.record_eval`` a verification score).
        resume: continue from ``config.checkpoint_path`` when that file exists (its settings must match).

    Returns:
        The ``RecognizerHistory``.
    """
    config = config or RecognizerTrainConfig()
    device = torch.device(device) if device is not None else get_device()
    # the fast path: precision, memory layout, optimiser kernels, data placement, compilation, DDP
    fast = setup_fast_path(device, config, cpu_channels_last=True)  # the embedder has no strided 1x1 convolutions
    source = training_data(data, fast, seed=config.seed, labelled=True, loop="train_recognizer",
                           accepts="a FaceTensorDataset or an (images, labels) pair of tensors")
    if source.kind != "memory":
        raise TypeError(f"train_recognizer needs a FaceTensorDataset or an (images, labels) pair of tensors, "
                        f"got {type(data).__name__}.")
    _identities(source.labels, head)
    embedder.train()
    head.train()
    parameters = list(embedder.parameters()) + list(head.parameters())
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay, **fast.optimizer_kwargs())
    else:
        optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay,
                                      **fast.optimizer_kwargs())
    rec = RecognizerParts(model=fast.prepare(_EmbedderAndHead(embedder, head)), head=head, optimizer=optimizer,
                          scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, config)),
                          scaler=fast.grad_scaler(), config=config, fast=fast)

    with TrainingRun("train_recognizer", config, fast, RecognizerHistory(), stats=("loss", "accuracy"),
                     resume=resume, label="recognizer", advice="lower lr (or add warmup_steps)") as run:
        run.resume(models={"embedder": embedder, "head": head},
                   states={"optimizer": optimizer, "scheduler": rec.scheduler, "scaler": rec.scaler})
        batches = source.batches(config.batch_size)
        for step in run.steps():
            if run.record(step, recognizer_step(rec, batches)):
                run.history.lr.append(optimizer.param_groups[0]["lr"])
            if run.due(step, config.eval_every) and callbacks and fast.is_main:  # rank 0 only
                with evaluating(embedder, head):
                    for callback in callbacks:
                        callback(run.history, step)
    embedder.eval()
    head.eval()
    return run.history
