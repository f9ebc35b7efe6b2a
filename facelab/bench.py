"""Benchmark: facelab's training loops against a plain PyTorch loop, step for step.

    facelab bench --sizes quick,full --repeats 5 --out bench.json
    python -m facelab.bench --device cuda

For one GAN training step (one D and one G update) and one recognition training step,
at the quick and full profile sizes, it times

* **plain**: a float32 eager loop written the way the PyTorch DCGAN tutorial
  (Inkawhich, "DCGAN Tutorial", pytorch.org) writes it: D ends in a sigmoid and the
  loss is ``BCELoss``, data live on the host and are copied per batch, Adam (SGD for
  recognition) with its default implementation, and ``.item()`` of the losses and
  D outputs after every step;
* **facelab**: :func:`facelab.train.gan.train_gan` and
  :func:`facelab.train.recognition.train_recognizer` themselves, with their default
  fast path (``facelab.train.fast``), and optionally with ``torch.compile``.

Same models (facelab's DCGAN and embedder), same batch sizes, in the same process,
alternating plain and facelab repetition by repetition (so a change of machine load
hits both), after one untimed warm-up repetition each; the median of the repetitions
is reported. Peak memory is the CUDA allocator's peak on a GPU and the growth of the
resident set during the warm-up on a CPU. On a GPU the table also gives the achieved
TFLOP/s (model FLOPs counted by ``torch.utils.flop_counter.FlopCounterMode``) against
the card's bf16 peak, measured in the same run with a large matrix product.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .bench_measure import SIZES, BenchSize, _PeakMemory, _sync, measure_bf16_peak

__all__ = ["BenchSize", "SIZES", "run_benchmark", "format_table", "measure_bf16_peak", "main"]


# ----------------------------------------------------------------------------- the plain loops
def _plain_gan(size: BenchSize, device: torch.device, data: torch.Tensor) -> Callable[[], None]:
    """The DCGAN tutorial's training step, as a function of no arguments."""
    from .models.dcgan import Discriminator, Generator

    generator = Generator(latent_dim=size.latent_dim, channels=size.gan_channels, image_size=size.image_size)
    # the tutorial's D ends in a sigmoid and is trained with BCELoss
    discriminator = nn.Sequential(Discriminator(channels=size.gan_channels, image_size=size.image_size),
                                  nn.Sigmoid())
    generator.to(device)
    discriminator.to(device)
    criterion = nn.BCELoss()
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    log: list[float] = []
    batch_size = size.gan_batch_size

    def step() -> None:
        index = torch.randint(data.shape[0], (batch_size,))
        real = data[index].to(device)  # a host batch copied to the device, as a DataLoader gives it
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        discriminator.zero_grad()
        label = torch.full((batch_size,), 1.0, dtype=torch.float, device=device)
        output = discriminator(real).view(-1)
        loss_d_real = criterion(output, label)
        loss_d_real.backward()
        d_x = output.mean().item()
        noise = torch.randn(batch_size, size.latent_dim, 1, 1, device=device)
        fake = generator(noise)
        label.fill_(0.0)
        output = discriminator(fake.detach()).view(-1)
        loss_d_fake = criterion(output, label)
        loss_d_fake.backward()
        d_g_z1 = output.mean().item()
        loss_d = loss_d_real + loss_d_fake
        opt_d.step()
        # (2) Update G: maximize log(D(G(z)))
        generator.zero_grad()
        label.fill_(1.0)
        output = discriminator(fake).view(-1)
        loss_g = criterion(output, label)
        loss_g.backward()
        d_g_z2 = output.mean().item()
        opt_g.step()
        log.append((loss_d.item(), loss_g.item(), d_x, d_g_z1, d_g_z2))  # the tutorial's per-step records

    return step


def _plain_recognition(size: BenchSize, device: torch.device, images: torch.Tensor,
                       labels: torch.Tensor) -> Callable[[], None]:
    """The same style for recognition: host data, SGD, cross-entropy, ``.item()`` per step."""
    from .losses.margin import get_head
    from .models.recognition import FaceEmbedder
    from .train.recognition import augment

    embedder = FaceEmbedder(embedding_dim=size.embedding_dim, channels=size.recognizer_channels,
                            image_size=size.image_size).to(device)
    head = get_head("arcface", size.embedding_dim, size.num_identities, scale=16.0).to(device)
    optimizer = torch.optim.SGD(list(embedder.parameters()) + list(head.parameters()), lr=0.1, momentum=0.9,
                                weight_decay=5e-4)
    log: list[float] = []
    batch_size = size.recognizer_batch_size

    def step() -> None:
        index = torch.randint(images.shape[0], (batch_size,))
        batch = augment(images[index]).to(device)
        batch_labels = labels[index].to(device)
        embeddings = embedder.features(batch)
        logits = head(embeddings, batch_labels)
        loss = F.cross_entropy(logits, batch_labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        correct = (head(embeddings.detach()).argmax(1) == batch_labels).float().mean()
        log.append((loss.item(), correct.item()))

    return step


# ----------------------------------------------------------------------------- facelab's loops
def _facelab_gan(size: BenchSize, device: torch.device, data: torch.Tensor, steps: int,
                 compile: bool) -> Callable[[], None]:
    from .models.dcgan import Discriminator, Generator
    from .train.gan import GANTrainConfig, train_gan

    generator = Generator(latent_dim=size.latent_dim, channels=size.gan_channels, image_size=size.image_size)
    discriminator = Discriminator(channels=size.gan_channels, image_size=size.image_size)
    config = GANTrainConfig(steps=steps, batch_size=size.gan_batch_size, log_every=steps, sample_every=steps,
                            num_samples=1, progress=False, compile=compile)

    def run() -> None:  # ``steps`` steps of the real loop (set-up and final sample included)
        train_gan(generator, discriminator, data, config, device=device, resume=False)

    return run


def _facelab_recognition(size: BenchSize, device: torch.device, images: torch.Tensor, labels: torch.Tensor,
                         steps: int, compile: bool) -> Callable[[], None]:
    from .losses.margin import get_head
    from .models.recognition import FaceEmbedder
    from .train.recognition import RecognizerTrainConfig, train_recognizer

    embedder = FaceEmbedder(embedding_dim=size.embedding_dim, channels=size.recognizer_channels,
                            image_size=size.image_size)
    head = get_head("arcface", size.embedding_dim, size.num_identities, scale=16.0)
    config = RecognizerTrainConfig(steps=steps, batch_size=size.recognizer_batch_size, log_every=steps,
                                   eval_every=steps, progress=False, compile=compile)

    def run() -> None:
        train_recognizer(embedder, head, (images, labels), config, device=device, resume=False)

    return run


# ----------------------------------------------------------------------------- measuring
def _count_flops(make_step: Callable[[BenchSize], Callable[[], None]], size: BenchSize, batch_size: int) -> float:
    """Model FLOPs of one training step (forward and backward) at ``batch_size``.

    Counted at a batch of 2 on fresh models and scaled: every counted operation
    (convolutions, matrix products) costs the same per example.
    """
    from torch.utils.flop_counter import FlopCounterMode

    small = BenchSize(**{**asdict(size), "gan_batch_size": 2, "recognizer_batch_size": 2})
    step = make_step(small)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() * batch_size / 2


def _time_pair(runs: dict[str, Callable[[], None]], device: torch.device, repeats: int) -> tuple[dict, dict]:
    """Warm up each loop once (measuring its memory), then time them alternately ``repeats`` times."""
    memory: dict[str, float | None] = {}
    for name, run in runs.items():
        with _PeakMemory(device) as peak:
            run()
        memory[name] = peak.peak_mib
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            _sync(device)
            tic = time.perf_counter()
            run()
            _sync(device)
            times[name].append(time.perf_counter() - tic)
    return times, memory


def _default_steps(size: BenchSize, device: torch.device) -> int:
    if device.type == "cuda":
        return 20
    return 1 if size.image_size >= 64 else 4


def run_benchmark(sizes: list[BenchSize | str] | None = None, repeats: int = 3, device: str | None = None,
                  steps: int | None = None, compile: bool = False, seed: int = 0) -> dict[str, Any]:
    """Time the plain and the facelab loops; returns the results as a JSON-ready dict.

    Args:
        sizes: :class:`BenchSize` objects or names in :data:`SIZES`; default quick and full.
        repeats: timed repetitions of each loop (median reported), after one warm-up.
        device: ``"cpu"``, ``"cuda"``...; default ``facelab.get_device()``.
        steps: training steps per repetition; default 20 on a GPU, 4 (quick) or 1 (full) on a CPU.
        compile: also time facelab's loop with ``torch.compile`` (``facelab+compile``).
        seed: seeds the data and the models.

    Returns:
        ``{"device", "device_name", "torch", "threads", "repeats", "peak_bf16_tflops", "results": [...]}``,
        one result per size, task (``"gan"``, ``"recognition"``) and loop (``"plain"``, ``"facelab"``,
        ``"facelab+compile"``), each with ``seconds_per_step``, ``images_per_second``, ``speedup``
        (over plain), ``peak_memory_mib``, ``flops_per_step``, ``tflops`` and ``fraction_of_peak``.
    """
    from .runtime import describe_device, get_device
    from .train.fast import decide_fast_path

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    train_device = get_device(device)
    sizes = [SIZES[s]() if isinstance(s, str) else s for s in (sizes or ["quick", "full"])]
    peak = measure_bf16_peak(train_device)
    report: dict[str, Any] = {
        "device": str(train_device), "device_name": describe_device(train_device), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "repeats": repeats, "machine": platform.machine(),
        "fast_path": f"GAN: {decide_fast_path(train_device).describe()}; recognition: "
                     f"{decide_fast_path(train_device, cpu_channels_last=True).describe()}",
        "peak_bf16_tflops": peak, "results": [],
    }
    for size in sizes:
        n_steps = steps or _default_steps(size, train_device)
        gen = torch.Generator().manual_seed(seed)
        images = torch.rand(size.dataset_size, 3, size.image_size, size.image_size, generator=gen) * 2 - 1
        labels = torch.randint(size.num_identities, (size.dataset_size,), generator=gen)
        on_device = images.to(train_device), labels.to(train_device)  # facelab holds data on the device

        def plain_gan(s: BenchSize) -> Callable[[], None]:
            return _plain_gan(s, train_device, images)

        def plain_rec(s: BenchSize) -> Callable[[], None]:
            return _plain_recognition(s, train_device, images, labels)

        tasks = {
            "gan": (size.gan_batch_size, plain_gan,
                    lambda c: _facelab_gan(size, train_device, on_device[0], n_steps, c)),
            "recognition": (size.recognizer_batch_size, plain_rec,
                            lambda c: _facelab_recognition(size, train_device, *on_device, n_steps, c)),
        }
        for task, (batch_size, make_plain, make_facelab) in tasks.items():
            torch.manual_seed(seed)
            flops = _count_flops(make_plain, size, batch_size)
            plain_step = make_plain(size)

            def plain(step: Callable[[], None] = plain_step) -> None:
                for _ in range(n_steps):
                    step()

            runs = {"plain": plain, "facelab": make_facelab(False)}
            if compile:
                runs["facelab+compile"] = make_facelab(True)
            times, memory = _time_pair(runs, train_device, repeats)
            base = statistics.median(times["plain"]) / n_steps
            for loop, loop_times in times.items():
                per_step = statistics.median(loop_times) / n_steps
                tflops = flops / per_step / 1e12
                report["results"].append({
                    "size": size.name, "task": task, "loop": loop, "image_size": size.image_size,
                    "batch_size": batch_size, "steps_per_repeat": n_steps, "seconds_per_step": per_step,
                    "images_per_second": batch_size / per_step, "speedup": base / per_step,
                    "peak_memory_mib": memory[loop], "flops_per_step": flops, "tflops": tflops,
                    "fraction_of_peak": tflops / peak if peak else None,
                    "times": [t / n_steps for t in loop_times],
                })
    return report


def format_table(report: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    gpu = report.get("peak_bf16_tflops") is not None
    head = "| size | task | loop | batch | images/s | vs plain | peak memory (MiB) | TFLOP/s |"
    rule = "|---|---|---|---:|---:|---:|---:|---:|"
    if gpu:
        head += " of bf16 peak |"
        rule += "---:|"
    lines = [f"device: {report['device_name']}, torch {report['torch']}, {report['threads']} threads, "
             f"median of {report['repeats']} repetitions; facelab fast path: {report['fast_path']}"]
    if gpu:
        lines.append(f"measured bf16 matmul peak: {report['peak_bf16_tflops']:.1f} TFLOP/s")
    lines += ["", head, rule]
    for r in report["results"]:
        memory = "-" if r["peak_memory_mib"] is None else f"{r['peak_memory_mib']:.0f}"
        row = (f"| {r['size']} ({r['image_size']}px) | {r['task']} | {r['loop']} | {r['batch_size']} "
               f"| {r['images_per_second']:.1f} | {r['speedup']:.2f}x | {memory} | {r['tflops']:.3f} |")
        if gpu:
            row += f" {100 * r['fraction_of_peak']:.1f}% |"
        lines.append(row)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared by ``facelab bench`` and ``python -m facelab.bench``)."""
    parser.add_argument("--sizes", default="quick,full", help=f"comma-separated, of {sorted(SIZES)}")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions per loop (median reported)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per repetition (default: 20 on GPU; 4 quick / 1 full on CPU)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: automatic)")
    parser.add_argument("--compile", action="store_true", help="also time facelab's loop with torch.compile")
    parser.add_argument("--out", default=None, help="write the results as JSON to this file")
    parser.add_argument("--ensemble", action="store_true",
                        help="time K members trained as one computation against K sequential runs "
                             "(facelab.bench_ensemble; CPU; --sizes, --steps, --compile do not apply)")
    parser.add_argument("--members", default="1,5,10", help="with --ensemble: the ensemble sizes K")
    parser.add_argument("--cases", default="toy-nonsaturating,toy-wgan-gp,dcgan-quick,recognition-quick",
                        help="with --ensemble: which rows")
    parser.add_argument("--scale", type=float, default=1.0, help="with --ensemble: multiplies the steps per row")


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark as the parsed options say, print the table, write the JSON."""
    if getattr(args, "ensemble", False):
        from .bench_ensemble import ensemble_from_args

        return ensemble_from_args(args)
    names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in names if s not in SIZES]
    if unknown or not names:
        raise SystemExit(f"Unknown size(s) {unknown or args.sizes!r}; choose from {sorted(SIZES)}, "
                         "e.g. --sizes quick,full.")
    report = run_benchmark(names, repeats=args.repeats, device=args.device, steps=args.steps, compile=args.compile)
    print(format_table(report))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facelab.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
