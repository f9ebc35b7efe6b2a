"""The training loop of a face recogniser: an embedder and a classification head.

Face recognition is trained as identity classification (the approach of DeepFace,
Taigman et al. 2014, and of ArcFace, Deng et al. 2019): the embedder maps a face
to a vector, the head (softmax or an angular-margin head, ``facelab.losses.margin``)
scores it against every training identity, and the loss is the **multi-class**
cross-entropy of those logits. After training the head is thrown away and the
embeddings are compared by cosine similarity.

Around the step, the same conventions as the GAN loop (``facelab.train.gan``):
a config dataclass, the data held on the device and sampled with the global RNG
(so a resumed run replays exactly), light augmentation done on the device, SGD
with momentum (or AdamW) and a cosine learning-rate schedule, mixed precision on
GPUs, a history, callbacks, atomic checkpoints and ``max_steps``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import get_device
from .checkpoint import (load_checkpoint, load_state_dict_checked, require_keys, rng_state, save_checkpoint,
                         set_rng_state)
from .guards import DivergenceGuard
from .history import History
from .distributed import shard
from .fast import FastPath, check_fast_path_fields, setup_fast_path

__all__ = ["RecognizerTrainConfig", "RecognizerHistory", "train_recognizer", "augment"]

OPTIMIZERS = ("sgd", "adamw")


@dataclass
class RecognizerTrainConfig:
    """Settings of a recognition training run (stored in its checkpoints)."""

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
    # --- the fast path (facelab.train.fast); None: on where it helps ---
    amp: bool = True                 # bf16 (else fp16 + GradScaler) autocast on CUDA; CPU always runs float32
    channels_last: bool | None = None  # NHWC memory layout; None: on (tensor cores; ~1.4x on CPU, see benchmarks/)
    optimizer_impl: str | None = None  # "fused", "foreach" or "for-loop"; None: fused on CUDA, foreach on CPU
    data_on_device: bool | None = None  # hold the data on the device; None: when it fits in half the free memory
    cudnn_benchmark: bool = True     # cuDNN autotuning (CUDA only)
    compile: bool = False            # torch.compile the embedder and head: pays only on long runs
    log_every: int = 10              # steps between history records
    eval_every: int = 100            # steps between callbacks (evaluations, live plots)
    checkpoint_path: str | None = None
    checkpoint_every: int = 0        # steps between checkpoints; 0: only at the end
    seed: int = 0
    max_steps: int | None = None     # stop after this many steps of this call (tests, dry runs)
    progress: bool = True            # tqdm progress bar

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"RecognizerTrainConfig.{name} must be an integer >= 1, got {value!r}.")
        for name in ("warmup_steps", "max_shift", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"RecognizerTrainConfig.{name} must be >= 0, got {getattr(self, name)!r}.")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"RecognizerTrainConfig.max_steps must be >= 0 or None, got {self.max_steps!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"RecognizerTrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        if not self.lr > 0:
            raise ValueError(f"RecognizerTrainConfig.lr must be > 0, got {self.lr!r}.")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"RecognizerTrainConfig needs weight_decay >= 0 and 0 <= momentum < 1, "
                             f"got {self.weight_decay!r} and {self.momentum!r}.")
        if not 0 <= self.min_lr_ratio <= 1 or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"RecognizerTrainConfig needs min_lr_ratio in [0, 1] and label_smoothing in [0, 1), "
                             f"got {self.min_lr_ratio!r} and {self.label_smoothing!r}.")
        check_fast_path_fields(self)


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

    def mean_last(self, key: str, n: int = 5) -> float:
        """Mean of the last ``n`` records of ``key`` (``"loss"`` or ``"accuracy"``)."""
        return super().mean_last(key, n)


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


def _tensors(data: Any, fast: FastPath) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = (data.images, data.labels) if hasattr(data, "images") else data
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(f"train_recognizer needs a FaceTensorDataset or an (images, labels) pair of tensors, "
                        f"got {type(data).__name__}.")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}.")
    if images.shape[0] == 0:
        raise ValueError("train_recognizer got an empty dataset (0 images); expected at least one image per "
                         "identity. Check the folder or the subset you selected.")
    if not images.is_floating_point():
        raise TypeError(f"train_recognizer needs float images in [-1, 1], got dtype {images.dtype}; convert "
                        "uint8 pixels with images.float() / 127.5 - 1.")
    if labels.is_floating_point() or labels.dtype == torch.bool or int(labels.min()) < 0:
        raise ValueError(f"labels must be integer identity ids 0..K-1, got dtype {labels.dtype} with minimum "
                         f"{labels.min().item()}; renumber them with torch.unique(labels, return_inverse=True)[1].")
    return fast.place(images), fast.place(labels.long())  # on the device when they fit


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
        data: a ``FaceTensorDataset`` (or an ``(images, labels)`` pair) with labels ``0..K-1``;
            it is moved to ``device`` once and sampled with replacement.
        config: the run's settings (defaults: ``RecognizerTrainConfig()``).
        device: where to train; default ``facelab.get_device()``.
        callbacks: called as ``callback(history, step)`` every ``eval_every`` steps and at the
            end, with the models in eval mode (e.g. to ``history.record_eval`` a verification score).
        resume: continue from ``config.checkpoint_path`` when that file exists.

    Returns:
        The ``RecognizerHistory``.
    """
    config = config or RecognizerTrainConfig()
    device = torch.device(device) if device is not None else get_device()
    # the fast path: precision, memory layout, optimiser kernels, data placement, compilation, DDP
    fast = setup_fast_path(device, config, cpu_channels_last=True)  # the embedder has no strided 1x1 convolutions
    images, labels = _tensors(shard(data, fast.context, config.seed), fast)  # several processes: a share each
    num_classes = getattr(head, "num_classes", getattr(head, "out_features", None))
    if num_classes is not None and int(labels.max()) >= num_classes:
        raise ValueError(f"labels go up to {int(labels.max())} but the head has {num_classes} classes; build the "
                         "head with num_classes = number of training identities (relabel subsets with "
                         "dataset.subset(..., relabel=True)).")
    embedder.train()
    head.train()
    # the step calls this (a DDP wrapper when several processes train); weights live in embedder/head
    model = fast.prepare(_EmbedderAndHead(embedder, head))
    parameters = list(embedder.parameters()) + list(head.parameters())
    if config.optimizer == "sgd":
        optimizer = torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay, **fast.optimizer_kwargs())
    else:
        optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay,
                                      **fast.optimizer_kwargs())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, config))
    scaler = fast.grad_scaler()

    torch.manual_seed(config.seed)
    history = RecognizerHistory()
    start = 0
    ckpt = Path(config.checkpoint_path) if config.checkpoint_path else None
    if resume and ckpt is not None and ckpt.exists():
        state = load_checkpoint(ckpt, map_location=device)
        require_keys(state, ("embedder", "head", "optimizer", "scheduler", "step", "rng"), ckpt, "train_recognizer")
        load_state_dict_checked(embedder, state["embedder"], name="embedder", path=ckpt)
        load_state_dict_checked(head, state["head"], name="head", path=ckpt)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history = RecognizerHistory.from_dict(state["history"])
        start = state["step"]
        set_rng_state(state["rng"])
    fast.decorrelate_rng(config.seed, start)  # several processes: each rank its own batches

    # NaN/inf losses are flagged on the device each step and checked where the loop syncs anyway
    guard = DivergenceGuard(("loss",), device=device, checkpoint_path=ckpt, last_good_step=start,
                            advice="lower lr (or add warmup_steps)")

    def checkpoint(step: int) -> None:
        if ckpt is None:
            return
        guard.check(step, embedder=embedder, head=head)  # never save a diverged state
        if fast.is_main:  # one writer; with several processes the others wait at the barrier
            save_checkpoint(ckpt, {
                "embedder": embedder.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "history": history.to_dict(),
                "step": step, "config": dataclasses.asdict(config), "rng": rng_state(),
            })
        fast.barrier()
        guard.saved(step)

    def run_callbacks(step: int) -> None:
        if not callbacks or not fast.is_main:  # rank 0 only
            return
        embedder.eval()
        head.eval()
        for callback in callbacks:
            callback(history, step)
        embedder.train()
        head.train()

    end = config.steps if config.max_steps is None else min(config.steps, start + config.max_steps)
    pending: list[torch.Tensor] = []  # per-step stats stay on the device until a log step (no sync per step)
    tic = time.perf_counter()
    bar = _progress(range(start, end), config.progress and fast.is_main, total=config.steps, initial=start)
    for step in bar:
        # (1) A batch: indices from the global RNG (exact resumption restores it), augmented on the device
        index = torch.randint(images.shape[0], (config.batch_size,), device=images.device)
        batch = fast.batch(augment(fast.batch(images[index]), config.flip, config.max_shift))
        batch_labels = labels[index].to(device, non_blocking=True)

        # (2) Multi-class cross-entropy over the K identities, on the head's (margin) logits
        with fast.autocast():
            embeddings, logits = model(batch, batch_labels)  # (B, D) un-normalised; (B, K) with the margin
            loss = F.cross_entropy(logits.float(), batch_labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()

        # (3) Book-keeping: the margin-free prediction, logs, callbacks, checkpoints
        with torch.no_grad():
            predicted = head(embeddings.detach().float()).argmax(1)
            pending.append(torch.stack([loss.detach().float(), (predicted == batch_labels).float().mean()]))
        done = step + 1
        guard.update(done, loss)  # on the device: no sync
        if done % config.log_every == 0 or done == end:
            guard.check()  # raises TrainingDiverged naming the first non-finite step
            # the only host sync: once per log_every steps (averaged over the processes, if several)
            stats = fast.all_mean(torch.stack(pending).mean(0)).tolist()
            pending.clear()
            history.step.append(done)
            history.loss.append(stats[0])
            history.accuracy.append(stats[1])
            history.lr.append(optimizer.param_groups[0]["lr"])
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{stats[0]:.3f}", acc=f"{stats[1]:.2f}", refresh=False)
        if done % config.eval_every == 0 or done == end:
            run_callbacks(done)
        if config.checkpoint_every and done % config.checkpoint_every == 0:
            history.seconds += time.perf_counter() - tic
            tic = time.perf_counter()
            checkpoint(done)
    history.seconds += time.perf_counter() - tic
    guard.check()
    if end > start:
        checkpoint(end)
    embedder.eval()
    head.eval()
    return history


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc="recognizer", unit="step", dynamic_ncols=True, mininterval=1.0, **kwargs)
