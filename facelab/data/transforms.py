"""The one conversion every face loader ends with: pixels -> ``(N, 3, size, size)`` floats in ``[-1, 1]``."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["check_size", "to_faces"]


def check_size(size: int) -> int:
    """``size`` as an int, or a ValueError saying what is expected."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(
            f"size must be an integer of at least 8 pixels (64 or 32 in the course), got {size!r}."
        )
    return int(size)


def to_faces(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """``(N, H, W[, 3])`` floats in ``[0, 1]`` (or uint8 in ``0..255``) -> ``(N, 3, size, size)`` in ``[-1, 1]``."""
    if isinstance(images, torch.Tensor) and images.dtype == torch.uint8:
        x = images.float() / 255.0  # the same float32 values as np.asarray(image, float32) / 255
    else:
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    x = x.unsqueeze(1).repeat(1, 3, 1, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    if x.shape[-2:] != (size, size) and x.shape[0] > 0:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0.0, 1.0) * 2.0 - 1.0).contiguous()
