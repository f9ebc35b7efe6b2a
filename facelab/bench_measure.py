"""Measuring helpers of the benchmark: the sizes of its rows, device sync, peak memory of a block, the GPU's bf16 peak."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

__all__ = ["BenchSize", "SIZES", "measure_bf16_peak"]


@dataclass(frozen=True)
class BenchSize:
    """The model and batch sizes of one benchmark row (from a profile, or tiny for tests)."""

    name: str
    image_size: int
    latent_dim: int
    gan_channels: int
    gan_batch_size: int
    recognizer_channels: int
    embedding_dim: int
    recognizer_batch_size: int
    num_identities: int = 100      # classes of the recognition head
    dataset_size: int = 2048       # images held in memory (random pixels: only speed is measured)

    @classmethod
    def from_profile(cls, name: str) -> "BenchSize":
        from .profile import get_profile

        p = get_profile(name)
        return cls(name, p.image_size, p.latent_dim, p.gan_channels, p.gan_batch_size, p.recognizer_channels,
                   p.embedding_dim, p.recognizer_batch_size)


SIZES: dict[str, Callable[[], BenchSize]] = {
    "quick": lambda: BenchSize.from_profile("quick"),
    "full": lambda: BenchSize.from_profile("full"),
    # a smoke-test size: seconds on a CPU
    "tiny": lambda: BenchSize("tiny", 32, 8, 4, 8, 4, 8, 8, num_identities=10, dataset_size=64),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


class _PeakMemory:
    """Peak memory of a block: the CUDA allocator's peak, or the resident-set growth on a CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mib = device, None
        self._stop = threading.Event()

    def __enter__(self) -> "_PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._base = _rss_bytes()
            self._max = self._base
            if self._base is not None:
                self._thread = threading.Thread(target=self._watch, daemon=True)
                self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            self._max = max(self._max, _rss_bytes() or 0)

    def __exit__(self, *exc: Any) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._base is not None:
            self._stop.set()
            self._thread.join()
            self._max = max(self._max, _rss_bytes() or 0)
            self.peak_mib = max(self._max - self._base, 0) / 2**20


def measure_bf16_peak(device: torch.device, n: int = 8192, repeats: int = 10) -> float | None:
    """The card's achievable bf16 TFLOP/s: a ``n x n`` by ``n x n`` matrix product, timed (CUDA only)."""
    if device.type != "cuda":
        return None
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    tic = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - tic) / 1e12
