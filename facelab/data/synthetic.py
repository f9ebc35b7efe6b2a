"""Procedural synthetic faces: the offline default data of the course.

Real face sets (LFW, CelebA) are large downloads with licence terms, and a
notebook that needs them cannot run offline or in seconds. This module draws
cartoon faces instead: every *identity* (an integer id plus a dataset seed) has
its own fixed geometry and appearance (face shape, skin tone, hair colour and
style, eyes, brows, nose, mouth, glasses, beard), and every *image* of it adds
nuisance variation (pose, expression, lighting, background, clothing, noise).
That is exactly the structure the course needs:

* GANs (chapters 01-03) get a smooth, varied image distribution that a DCGAN
  learns at 32x32 in about a minute on a laptop CPU.
* Face recognition gets identities that are distinct but have look-alikes
  (all parameters are continuous), so verification of unseen identities is
  hard enough to be interesting.
* Fairness experiments get per-image group attributes (``tone``, ``hair_long``).

Everything is rendered in torch over a batch: each face part is a soft
(sigmoid anti-aliased) signed-distance shape on a coordinate grid, composited
back to front. Randomness comes from a counter-based hash of
``(seed, identity id[, image seed])``, so a face never depends on batch size,
batch order or the global RNG state.
"""
from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from facelab.data.base import FaceTensorDataset
from facelab.data.face_drawing import CY as _CY, FACE_PARTS, RENDER as _RENDER, Canvas, as_pixels

__all__ = ["SyntheticFaceConfig", "identity_params", "render_faces", "make_synthetic_faces", "clear_render_cache"]

_CHUNK = 256  # images rendered at once: bounds memory (~50 MB) and stays cache-friendly
_M32 = 0xFFFFFFFF
_ID_STREAM, _IMG_STREAM, _NOISE_STREAM = 0x1D3A, 0x6E57, 0x4015  # independent hash streams


@dataclass(frozen=True)
class SyntheticFaceConfig:
    """Settings of :func:`make_synthetic_faces`."""

    num_identities: int = 100  # identities 0..K-1 (params depend only on seed and id)
    images_per_identity: int = 20  # images per identity, image seeds 0..M-1
    size: int = 32  # 32 or 64 pixels
    seed: int = 0  # dataset seed: a different seed gives different people
    noise: float = 0.03  # std of Gaussian pixel noise (in [-1, 1] units)
    variation: float = 1.0  # scales all per-image variation (0 = every image of an identity identical)


# ----------------------------------------------------------------------------- randomness
def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (xorshift-multiply); constants < 2**31 so int64 never overflows."""
    x = x & _M32
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x5BD1E995) & _M32
    return x ^ (x >> 16)


def _hash(seed: int, stream: int, *keys: torch.Tensor) -> torch.Tensor:
    """Hash a scalar seed, a stream id and integer key tensors into one int64 per row."""
    h = _mix32(torch.tensor([(seed & _M32) ^ _mix32(torch.tensor([seed >> 32])).item()]))
    h = _mix32(h ^ stream)
    for k in keys:
        k = k.long()
        h = _mix32(_mix32(h ^ (k & _M32)) ^ ((k >> 32) & _M32))
    return h


def _uniform(h: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` uniforms in (0, 1) per row, a pure function of the row's hash (counter-based)."""
    counters = _mix32(torch.arange(n) * 0x9E3779B + 0x632BE5A)
    bits = _mix32(_mix32(h[:, None] ^ counters[None]) + 0x2545F49)
    return ((bits >> 8).float() + 0.5) / 2**24


def _normal(u: torch.Tensor) -> torch.Tensor:
    """Standard normal from a uniform (inverse CDF), clipped to +-3 sd."""
    return (math.sqrt(2.0) * torch.erfinv(2 * u - 1)).clamp(-3, 3)


def _lerp(a, b, t):
    return a + (b - a) * t


def _palette(anchors: list[tuple[float, float, float]], t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear colour ramp: ``t`` in [0, 1] -> (N, 3) RGB in [0, 1]."""
    pal = torch.tensor(anchors)
    pos = t.clamp(0, 1) * (len(anchors) - 1)
    i = pos.floor().long().clamp(max=len(anchors) - 2)
    return _lerp(pal[i], pal[i + 1], (pos - i)[:, None])


_SKIN = [(1.00, 0.87, 0.77), (0.96, 0.78, 0.65), (0.87, 0.66, 0.51),  # lighter group (t < 0.5)
         (0.72, 0.51, 0.36), (0.55, 0.37, 0.25), (0.38, 0.25, 0.17)]  # darker group
_HAIR = [(0.06, 0.05, 0.05), (0.20, 0.12, 0.08), (0.40, 0.24, 0.13), (0.62, 0.28, 0.12),
         (0.72, 0.55, 0.32), (0.93, 0.82, 0.55)]  # black .. auburn .. blonde
_IRIS = [(0.22, 0.12, 0.06), (0.40, 0.24, 0.10), (0.45, 0.42, 0.18), (0.28, 0.50, 0.30),
         (0.25, 0.45, 0.75), (0.50, 0.60, 0.68)]  # dark brown .. green .. blue .. grey


# ----------------------------------------------------------------------------- parameters
def _as_ids(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 1 or x.dtype.is_floating_point:
        raise ValueError(f"{name} must be a 1-D integer tensor, got dtype {x.dtype} and shape "
                         f"{tuple(x.shape)}; pass e.g. torch.arange(10).")
    return x.long()


def identity_params(identity_ids: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed geometry and appearance of each identity.

    Depends only on ``(seed, identity id)``, never on how many identities are
    asked for, so a dataset with 50 identities has the same first 50 people as
    one with 100.

    Args:
        identity_ids: ``(N,)`` integer identity ids (any non-negative ints).
        seed: dataset seed.

    Returns:
        Dict of ``(N,)`` float tensors (lengths in face units: origin at the face
        centre, the upright image spans about +-0.9), ``(N, 3)`` RGB colours in
        ``[0, 1]``, and the ``(N,)`` long group attributes ``tone`` (0 lighter,
        1 darker skin; each half of the identities) and ``hair_long`` (0/1, ~45 % long).
    """
    ids = _as_ids(identity_ids, "identity_ids")
    u = iter(_uniform(_hash(seed, _ID_STREAM, ids), 40).unbind(1))
    p: dict[str, torch.Tensor] = {}
    # Face oval: half width/height, chin narrowing, ears.
    p["face_w"], p["face_h"] = _lerp(0.40, 0.52, next(u)), _lerp(0.54, 0.66, next(u))
    p["jaw"], p["ear"] = _lerp(0.0, 0.45, next(u)), _lerp(0.07, 0.11, next(u))
    # Skin: continuous tone, the fairness group is which half of the ramp it lies in.
    skin_t = next(u)
    p["tone"] = (skin_t >= 0.5).long()
    p["skin"] = _palette(_SKIN, skin_t) * _lerp(0.96, 1.04, next(u))[:, None]
    # Hair: darker skin mostly goes with dark hair and eyes (as in real face sets); some grey.
    dark = p["tone"].float()
    hair = _palette(_HAIR, next(u) * (1 - 0.7 * dark))
    grey = (next(u) < 0.08).float()[:, None]
    p["hair"] = _lerp(hair, torch.tensor([0.72, 0.72, 0.70]), grey)
    p["hair_long"] = (next(u) < 0.45).long()
    p["fringe"] = (next(u) < 0.35).float()
    p["buzz"] = ((next(u) < 0.2) & (p["hair_long"] == 0)).float()  # shaved / bald-ish
    p["hair_vol"], p["hairline"] = _lerp(0.04, 0.13, next(u)), _lerp(0.45, 0.75, next(u))
    p["hair_part"], p["hair_len"] = _lerp(-1.0, 1.0, next(u)), _lerp(0.55, 1.05, next(u))
    # Eyes.
    p["eye_sep"], p["eye_y"] = _lerp(0.16, 0.23, next(u)), _lerp(-0.10, 0.0, next(u))
    p["eye_w"], p["eye_h"] = _lerp(0.085, 0.12, next(u)), _lerp(0.045, 0.065, next(u))
    p["iris"] = _palette(_IRIS, next(u) * (1 - 0.75 * dark))
    # Brows.
    p["brow_thick"], p["brow_gap"] = _lerp(0.014, 0.036, next(u)), _lerp(0.07, 0.115, next(u))
    p["brow_len"], p["brow_tilt"] = _lerp(0.08, 0.13, next(u)), _lerp(-0.30, 0.30, next(u))
    p["brow_arch"] = _lerp(0.0, 0.035, next(u))
    # Nose and mouth.
    p["nose_len"], p["nose_w"] = _lerp(0.13, 0.24, next(u)), _lerp(0.045, 0.085, next(u))
    p["mouth_w"], p["mouth_y"] = _lerp(0.11, 0.19, next(u)), _lerp(0.30, 0.40, next(u))
    p["lip_thick"], p["smile0"] = _lerp(0.016, 0.036, next(u)), _lerp(-0.1, 0.6, next(u))
    redness = _lerp(0.35, 0.7, next(u))[:, None]
    p["lips"] = _lerp(p["skin"], torch.tensor([0.72, 0.26, 0.28]), redness) * 0.9
    # Accessories: glasses for some, beards (stubble .. full) for some short-haired people.
    p["glasses"] = (next(u) < 0.15).float()
    p["glasses_r"], p["frame"] = _lerp(1.25, 1.6, next(u)), _lerp(0.05, 0.45, next(u))
    beard_u = next(u)
    p["beard"] = torch.where((beard_u < 0.3) & (p["hair_long"] == 0), _lerp(0.35, 0.95, next(u)), 0.0)
    p["moustache"] = (next(u) < 0.6).float() * (p["beard"] > 0)
    return p


def _muted(rgb: torch.Tensor) -> torch.Tensor:
    """Random (N, 3) colours pulled towards grey: photo backgrounds are rarely saturated."""
    return 0.1 + 0.8 * _lerp(rgb.mean(1, keepdim=True), rgb, 0.5)


def _image_params(identity_ids: torch.Tensor, image_seeds: torch.Tensor, seed: int, variation: float):
    """Per-image nuisance parameters; ``variation`` blends each from its neutral value."""
    u = _uniform(_hash(seed, _IMG_STREAM, identity_ids, image_seeds), 28)
    n, v = _normal(u), float(variation)
    return {
        "roll": 0.09 * v * n[:, 0], "scale": 1 + 0.05 * v * n[:, 1],
        "tx": 0.045 * v * n[:, 2], "ty": 0.04 * v * n[:, 3],
        "yaw": (0.35 * v * n[:, 4]).clamp(-0.8, 0.8),  # turns the features sideways
        "smile": 0.4 * v * n[:, 5], "mouth_open": v * (0.55 * n[:, 6] - 0.35).clamp(0, 1),
        "brow_raise": 0.018 * v * n[:, 7],
        "eye_open": 1 - v * torch.where(u[:, 8] < 0.07, 0.85, 0.2 * u[:, 9]),  # 7 % blinks
        "gaze_x": 0.3 * v * n[:, 10], "gaze_y": 0.15 * v * n[:, 11],
        "light_dir": 2 * math.pi * u[:, 12], "light": 0.45 * v * u[:, 13],
        "bright": 1 + 0.1 * v * n[:, 14], "cast": 0.035 * v * n[:, 15:18],
        # Neutral grey background and clothes at variation=0, random colours at 1.
        "bg0": _lerp(torch.tensor(0.55), _muted(u[:, 18:21]), v),
        "bg1": _lerp(torch.tensor(0.45), _muted(u[:, 21:24]), v),
        "bg_dir": 2 * math.pi * v * u[:, 24],
        "cloth": _lerp(torch.tensor([0.30, 0.34, 0.42]), 0.1 + 0.7 * u[:, 25:28], v),
    }


def _render_chunk(ids: torch.Tensor, seeds: torch.Tensor, seed: int, variation: float) -> torch.Tensor:
    """Render one chunk at the native resolution: (B, 3, 64, 64) in [0, 1]."""
    # Scalars per face become (B, 1, 1) to broadcast over pixels; colours stay (B, 3).
    p = identity_params(ids, seed)
    p = {k: v.float()[:, None, None] if v.ndim == 1 else v for k, v in p.items()}
    q = _image_params(ids, seeds, seed, variation)
    q = {k: v[:, None, None] if v.ndim == 1 else v for k, v in q.items()}
    g = torch.linspace(-1 + 1 / _RENDER, 1 - 1 / _RENDER, _RENDER)
    X, Y = g[None, None, :], g[None, :, None]
    # Background: a linear gradient between two colours; then the face, back to front.
    t = (X * torch.cos(q["bg_dir"]) + Y * torch.sin(q["bg_dir"])).unsqueeze(1) * 0.5 + 0.5
    cv = Canvas(torch.addcmul(as_pixels(q["bg0"]), as_pixels(q["bg1"] - q["bg0"]), t))
    for part in FACE_PARTS:  # back to front
        part(cv, p, q)
    # Pose: output pixel -> canonical pixel is a rotation about the face centre, a scale and a
    # shift (grid_sample uses the same [-1, 1] pixel-centre convention as the grid above).
    c, s = torch.cos(q["roll"]) / q["scale"], torch.sin(q["roll"]) / q["scale"]
    tx, ty = -q["tx"], -q["ty"] - _CY
    grid = torch.stack([c * X + s * Y + (c * tx + s * ty), -s * X + c * Y + (-s * tx + c * ty) + _CY], -1)
    img = F.grid_sample(cv.img, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # Lighting: a directional gradient, overall brightness and a colour cast.
    shade = q["bright"] * (1 + q["light"] * 0.5 * (X * torch.cos(q["light_dir"]) + Y * torch.sin(q["light_dir"])))
    return img.mul_(shade.unsqueeze(1)).add_(as_pixels(q["cast"])).clamp_(0, 1)


def render_faces(identity_ids: torch.Tensor, image_seeds: torch.Tensor, size: int = 32, seed: int = 0,
                 noise: float = 0.03, variation: float = 1.0) -> torch.Tensor:
    """Render one face per ``(identity id, image seed)`` pair.

    Args:
        identity_ids: ``(N,)`` integer identity ids.
        image_seeds: ``(N,)`` integer image seeds; the nuisance variation of an
            image is a function of ``(seed, identity id, image seed)``.
        size: output size, 32 or 64 (32 is rendered at 64 and area-downsampled).
        seed: dataset seed.
        noise: standard deviation of the Gaussian pixel noise.
        variation: scale of the per-image variation (0 = no variation).

    Returns:
        ``(N, 3, size, size)`` float32 tensor in ``[-1, 1]``.
    """
    ids, seeds = _as_ids(identity_ids, "identity_ids"), _as_ids(image_seeds, "image_seeds")
    _check(size=size, noise=noise, variation=variation)
    if ids.shape != seeds.shape:
        raise ValueError(f"identity_ids and image_seeds must have the same shape, got "
                         f"{tuple(ids.shape)} and {tuple(seeds.shape)}; pass one image seed per image.")
    out = torch.empty(len(ids), 3, size, size)
    noise_keys = _hash(seed, _NOISE_STREAM, ids, seeds) if noise > 0 else None
    with torch.no_grad():
        for i in range(0, len(ids), _CHUNK):
            img = _render_chunk(ids[i:i + _CHUNK], seeds[i:i + _CHUNK], seed, variation)
            if size != _RENDER:
                img = F.interpolate(img, size=(size, size), mode="area")
            out[i:i + _CHUNK] = img * 2 - 1
    if noise_keys is not None:
        # Noise needs one number per pixel: a per-image generator is cheaper than hashing pixels.
        gen = torch.Generator()
        for i, key in enumerate(noise_keys.tolist()):
            gen.manual_seed(key)
            out[i].add_(torch.randn(3, size, size, generator=gen), alpha=noise)
        out.clamp_(-1, 1)
    return out


def _check(**kw) -> None:
    """Validate arguments, with messages that say what was wrong and how to fix it."""
    if "size" in kw and kw["size"] not in (32, 64):
        raise ValueError(f"size must be 32 or 64, got {kw['size']!r}; resize the result with "
                         "torch.nn.functional.interpolate for other sizes.")
    for name in ("num_identities", "images_per_identity"):
        if name in kw and (not isinstance(kw[name], numbers.Integral) or kw[name] < 1):
            raise ValueError(f"{name} must be an integer >= 1, got {kw[name]!r}; pass e.g. {name}=10.")
    for name in ("noise", "variation"):
        if name in kw and not kw[name] >= 0:
            raise ValueError(f"{name} must be >= 0, got {kw[name]!r}; use {name}=0 to switch it off.")


def make_synthetic_faces(config: SyntheticFaceConfig | None = None, **overrides) -> FaceTensorDataset:
    """Build a synthetic face dataset.

    Args:
        config: settings; defaults to ``SyntheticFaceConfig()``.
        **overrides: fields of :class:`SyntheticFaceConfig` to change, e.g.
            ``make_synthetic_faces(num_identities=50, size=64)``.

    Returns:
        A :class:`FaceTensorDataset` ordered identity-major (all images of
        identity 0, then identity 1, ...), labels ``0..K-1``, names
        ``["id000", ...]`` and per-image groups ``{"tone", "hair_long"}``.

    Example:
        >>> ds = make_synthetic_faces(num_identities=10, images_per_identity=5)
        >>> ds.images.shape
        torch.Size([50, 3, 32, 32])
    """
    config = config or SyntheticFaceConfig()
    unknown = set(overrides) - set(SyntheticFaceConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; valid options are "
                         f"{sorted(SyntheticFaceConfig.__dataclass_fields__)}.")
    cfg = replace(config, **overrides)
    _check(num_identities=cfg.num_identities, images_per_identity=cfg.images_per_identity,
           size=cfg.size, noise=cfg.noise, variation=cfg.variation)
    faces = _RENDERED.get(cfg)
    if faces is None:
        faces = _render_dataset(cfg)
        _RENDERED[cfg] = faces
        while len(_RENDERED) > _RENDERED_MAX:
            _RENDERED.popitem(last=False)
    _RENDERED.move_to_end(cfg)
    # a copy: callers may change their tensors in place without touching the kept set
    return FaceTensorDataset(faces.images.clone(), faces.labels.clone(), list(faces.names),
                             {name: group.clone() for name, group in faces.groups.items()})


#: The last few sets rendered, by configuration: a chapter asks for the same faces several times (its
#: recognition split, its GAN's training faces), and rendering 4,000 faces takes seconds. ~50 MB per set at 32x32.
_RENDERED: "OrderedDict[SyntheticFaceConfig, FaceTensorDataset]" = OrderedDict()
_RENDERED_MAX = 2


def clear_render_cache() -> None:
    """Forget the sets kept by :func:`make_synthetic_faces`, so the next call renders again (tests of determinism)."""
    _RENDERED.clear()


def _render_dataset(cfg: SyntheticFaceConfig) -> FaceTensorDataset:
    k, m = cfg.num_identities, cfg.images_per_identity
    labels = torch.arange(k).repeat_interleave(m)
    seeds = torch.arange(m).repeat(k)
    images = render_faces(labels, seeds, cfg.size, cfg.seed, cfg.noise, cfg.variation)
    params = identity_params(torch.arange(k), cfg.seed)
    groups = {"tone": params["tone"][labels], "hair_long": params["hair_long"][labels]}
    width = max(3, len(str(k - 1)))
    return FaceTensorDataset(images, labels, [f"id{i:0{width}d}" for i in range(k)], groups)
