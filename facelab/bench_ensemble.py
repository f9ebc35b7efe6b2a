"""Benchmark of ensembles as one computation (``facelab bench --ensemble``).

For K = 1, 5 and 10 members it times, in the same process and alternating repetition
by repetition, (a) the K members trained as one batched computation
(:mod:`facelab.train.ensemble_gan`, or a stacked recognition step) and (b) the K members
trained one after the other with facelab's own loop (``train_gan``) or, for recognition,
a plain eager step with ``torch.optim.Adam``. Rows: the 2-D toy GAN of chapters 1-2 and 8
(non-saturating, and WGAN-GP with 5 critic steps), the quick profile's 32 px DCGAN, and the
quick recogniser (``FaceEmbedder`` + ArcFace head).

The fraction of peak uses the CPU's theoretical fp32 peak,
``cores x FMA units x SIMD lanes x 2 x clock`` (:func:`cpu_fp32_peak`), for the threads the
row uses, and the FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` counts in one step
(convolutions and matrix products, forward and backward).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

__all__ = ["cpu_fp32_peak", "run_ensemble_benchmark", "format_ensemble_table", "MEMBERS", "CASES"]

MEMBERS = (1, 5, 10)
CASES = ("toy-nonsaturating", "toy-wgan-gp", "dcgan-quick", "recognition-quick")


def cpu_fp32_peak(threads: int | None = None, fma_units: int = 2, cpuinfo: str | None = None) -> dict[str, Any]:
    """The CPU's theoretical fp32 peak: ``cores x fma_units x lanes x 2 x GHz`` GFLOP/s.

    Reads the flags and the clock (``cpu MHz``, the highest listed) from ``/proc/cpuinfo``
    (or the text ``cpuinfo``): lanes are 16 with ``avx512f``, 8 with ``avx2``/``avx``, 4
    otherwise; a fused multiply-add is 2 FLOPs (``fma`` flag, else mul+add at the same
    rate). ``fma_units`` (2, the Xeon server cores' two 512-bit FMA ports) is an
    assumption /proc/cpuinfo cannot tell. ``cores`` is ``threads`` (default
    ``torch.get_num_threads()``), one thread per physical core.
    """
    text = cpuinfo if cpuinfo is not None else Path("/proc/cpuinfo").read_text()
    flags: set[str] = set()
    mhz: list[float] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            flags |= set(value.split())
        elif key.strip() == "cpu MHz":
            mhz.append(float(value))
    if not mhz:
        raise ValueError("cpu_fp32_peak: no 'cpu MHz' line in /proc/cpuinfo; pass cpuinfo= text with one "
                         "(e.g. 'cpu MHz : 2000.0' and a 'flags' line).")
    lanes = 16 if "avx512f" in flags else 8 if ("avx2" in flags or "avx" in flags) else 4
    cores = threads or torch.get_num_threads()
    ghz = max(mhz) / 1000
    gflops = cores * fma_units * lanes * 2 * ghz
    return {"gflops": gflops, "cores": cores, "fma_units": fma_units, "lanes": lanes, "ghz": ghz,
            "fma": "fma" in flags, "formula": f"{cores} cores x {fma_units} FMA units x {lanes} fp32 lanes x 2 "
            f"x {ghz:.2f} GHz = {gflops:.1f} GFLOP/s"}


def measured_matmul_gflops(threads: int, n: int = 1024, repeats: int = 10) -> float:
    """What a large fp32 matrix product achieves here (an achievable peak, for comparison)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        tic = time.perf_counter()
        for _ in range(repeats):
            a @ b
        return 2 * n**3 * repeats / (time.perf_counter() - tic) / 1e9
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- the rows
def _toy_case(loss: str, steps: int):
    from .data.toy import ring_2d
    from .baselines.toy import make_toy_models, toy_settings
    from .train.gan import GANTrainConfig

    mixture = ring_2d()
    settings = toy_settings(mixture)
    config = GANTrainConfig(loss=loss, steps=steps, batch_size=settings.batch_size, lr_g=settings.lr,
                            lr_d=settings.lr, beta1=settings.beta1, beta2=settings.beta2, log_every=10,
                            sample_every=steps, num_samples=64, progress=False, amp=False)
    return (lambda s: make_toy_models(mixture, settings, s)), mixture.sample, config


def _dcgan_case(steps: int, size: Any):
    from .models.dcgan import Discriminator, Generator
    from .train.gan import GANTrainConfig

    def make(seed: int):
        torch.manual_seed(seed)
        return (Generator(latent_dim=size.latent_dim, channels=size.gan_channels, image_size=size.image_size),
                Discriminator(channels=size.gan_channels, image_size=size.image_size))

    data = torch.rand(size.dataset_size, 3, size.image_size, size.image_size,
                      generator=torch.Generator().manual_seed(0)) * 2 - 1
    config = GANTrainConfig(steps=steps, batch_size=size.gan_batch_size, log_every=steps, sample_every=steps,
                            num_samples=1, progress=False, amp=False)
    return make, data, config


def _gan_runs(make, data, config, k: int) -> dict[str, Callable[[], float]]:
    from .train.ensemble_gan import train_gan_ensemble
    from .train.gan import train_gan

    seeds = list(range(k))

    def batched() -> float:
        return train_gan_ensemble(make, data, seeds, config).seconds

    def sequential() -> float:
        total = 0.0
        for s in seeds:
            g, d = make(s)
            total += train_gan(g, d, data, config.__class__(**{**config.__dict__, "seed": s}), device="cpu",
                               resume=False).seconds
        return total

    return {"batched": batched, "sequential": sequential}


def _recognition_runs(size: Any, steps: int, k: int) -> dict[str, Callable[[], float]]:
    """K recognisers: one stacked step under vmap (dropout per member) against K eager steps, Adam both."""
    from .losses.margin import get_head
    from .models.recognition import FaceEmbedder
    from .train.ensemble import Stack, StackedAdam

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(size.dataset_size, 3, size.image_size, size.image_size, generator=gen) * 2 - 1
    labels = torch.randint(size.num_identities, (size.dataset_size,), generator=gen)
    b = size.recognizer_batch_size

    def models(seed: int):
        torch.manual_seed(seed)
        return (FaceEmbedder(embedding_dim=size.embedding_dim, channels=size.recognizer_channels,
                             image_size=size.image_size),
                get_head("arcface", size.embedding_dim, size.num_identities, scale=16.0))

    def batched() -> float:
        pairs = [models(s) for s in range(k)]
        emb, head = Stack([p[0] for p in pairs], randomness="different"), Stack([p[1] for p in pairs])
        params = [*emb.params.values(), *head.params.values()]
        opt = StackedAdam(params, 1e-3)
        tic = time.perf_counter()
        for _ in range(steps):
            index = torch.randint(images.shape[0], (k, b))
            y = labels[index]
            logits = head(emb(images[index], method="features"), y)
            loss = torch.vmap(F.cross_entropy)(logits, y)
            opt.step(torch.autograd.grad(loss.sum(), params))
        return time.perf_counter() - tic

    def sequential() -> float:
        total = 0.0
        for s in range(k):
            embedder, head = models(s)
            opt = torch.optim.Adam([*embedder.parameters(), *head.parameters()], lr=1e-3, foreach=True)
            tic = time.perf_counter()
            for _ in range(steps):
                index = torch.randint(images.shape[0], (b,))
                loss = F.cross_entropy(head(embedder.features(images[index]), labels[index]), labels[index])
                opt.zero_grad()
                loss.backward()
                opt.step()
            total += time.perf_counter() - tic
        return total

    return {"batched": batched, "sequential": sequential}


def _count_flops(run: Callable[[], None]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def run_ensemble_benchmark(members=MEMBERS, repeats: int = 3, toy_threads: int = 1, conv_threads: int | None = None,
                           scale: float = 1.0, cases: tuple[str, ...] = CASES,
                           size: Any = None) -> dict[str, Any]:
    """Time batched against sequential members; returns a JSON-ready dict (rows in ``results``).

    Args:
        members: the ensemble sizes K.
        repeats: timed repetitions per K and mode (median reported), after one warm-up each.
        toy_threads, conv_threads: torch threads of the toy rows and of the DCGAN/recognition rows
            (default all ``os.cpu_count()``).
        scale: multiplies the steps per repetition (tests use a small one).
        cases: which rows.
        size: a ``facelab.bench.BenchSize`` (default the quick profile's).
    """
    from .bench_measure import SIZES

    unknown = [c for c in cases if c not in CASES]
    if unknown or repeats < 1 or not members or min(members) < 1:
        raise ValueError(f"run_ensemble_benchmark: cases must come from {list(CASES)} (got unknown {unknown}), "
                         f"repeats >= 1 (got {repeats}) and members >= 1 (got {list(members)}).")
    size = size or SIZES["quick"]()
    conv_threads = conv_threads or os.cpu_count() or 1
    steps = {"toy-nonsaturating": 200, "toy-wgan-gp": 60, "dcgan-quick": 10, "recognition-quick": 10}
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or ''}",
                              "torch": torch.__version__, "repeats": repeats, "peak": {}, "results": []}
    previous = torch.get_num_threads()
    try:
        for case in cases:
            threads = toy_threads if case.startswith("toy") else conv_threads
            torch.set_num_threads(threads)
            peak = cpu_fp32_peak(threads)
            report["peak"][str(threads)] = {**peak, "measured_matmul_gflops": measured_matmul_gflops(threads)}
            n = max(1, round(steps[case] * scale))
            if case.startswith("toy"):
                make, data, config = _toy_case(case[4:], n)
                batch = config.batch_size
            elif case == "dcgan-quick":
                make, data, config = _dcgan_case(n, size)
                batch = config.batch_size
            else:
                batch = size.recognizer_batch_size
            for k in members:
                runs = (_recognition_runs(size, n, k) if case.startswith("recognition")
                        else _gan_runs(make, data, config, k))
                flop_runs = (_recognition_runs(size, 1, 1) if case.startswith("recognition")
                             else _gan_runs(make, data, config.__class__(**{**config.__dict__, "steps": 1}), 1))
                flops_per_member_step = _count_flops(flop_runs["batched"])
                times: dict[str, list[float]] = {m: [] for m in runs}
                for run in runs.values():
                    run()  # warm-up
                for _ in range(repeats):
                    for mode, run in runs.items():
                        times[mode].append(run())  # the training loops' own time (set-up excluded)
                seq = statistics.median(times["sequential"])
                for mode, values in times.items():
                    seconds = statistics.median(values)
                    gflops = flops_per_member_step * n * k / seconds / 1e9
                    report["results"].append({
                        "case": case, "mode": mode, "members": k, "threads": threads, "steps": n, "batch_size": batch,
                        "seconds": seconds, "images_per_second_per_member": batch * n / seconds,
                        "speedup_vs_sequential": seq / seconds, "gflops": gflops,
                        "fraction_of_peak": gflops / peak["gflops"], "times": values})
    finally:
        torch.set_num_threads(previous)
    return report


def format_ensemble_table(report: dict[str, Any]) -> str:
    """The ensemble rows as a Markdown table (one line per case, K and mode) with the peaks used."""
    lines = [f"machine: {report['machine']}; torch {report['torch']}; median of {report['repeats']} repetitions"]
    for threads, p in report["peak"].items():
        lines.append(f"fp32 peak, {threads} thread(s): {p['formula']} (a {p['measured_matmul_gflops']:.1f} GFLOP/s "
                     "1024x1024 matmul measured)")
    lines += ["", "| case | K | mode | threads | steps | seconds | images/s per member | vs K sequential "
              "| GFLOP/s | of fp32 peak |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['case']} | {r['members']} | {r['mode']} | {r['threads']} | {r['steps']} "
                     f"| {r['seconds']:.3f} | {r['images_per_second_per_member']:.0f} "
                     f"| {r['speedup_vs_sequential']:.2f}x | {r['gflops']:.2f} | {100 * r['fraction_of_peak']:.1f}% |")
    return "\n".join(lines)


def ensemble_from_args(args: Any) -> int:
    """``facelab bench --ensemble``: run, print the table, write the JSON (``--out``)."""
    import json

    try:
        members = tuple(int(m) for m in args.members.split(",") if m.strip())
    except ValueError:
        members = ()
    if not members or min(members) < 1:
        raise SystemExit(f"--members must be positive integers separated by commas, got {args.members!r}; "
                         "e.g. --members 1,5,10.")
    cases = tuple(c.strip() for c in args.cases.split(",") if c.strip())
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        raise SystemExit(f"Unknown ensemble case(s) {unknown or args.cases!r}; choose from {list(CASES)}.")
    report = run_ensemble_benchmark(members, repeats=args.repeats, scale=args.scale, cases=cases)
    print(format_ensemble_table(report))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0
