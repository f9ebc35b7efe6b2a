"""Measuring helpers of the benchmark: device sync, peak memory of a block, the GPU's bf16 peak."""
from __future__ import annotations

import os
import threading
import time
from typing import Any

import torch

__all__ = ["measure_bf16_peak"]


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
