"""Drawing the synthetic faces: soft signed-distance shapes composited back to front.

:mod:`facelab.data.synthetic` decides *what* a face looks like (identity and image parameters from a
counter-based hash); this module *draws* it. Each part (body, face oval, mouth, nose, hair, eyes) is a
sigmoid anti-aliased signed-distance shape evaluated on the pixel grid of a canonical, upright frame.
"""
from __future__ import annotations


import torch

__all__ = ["RENDER", "ZOOM", "CY", "Canvas", "FACE_PARTS", "as_pixels"]

RENDER = 64  # native resolution; 32x32 is area-downsampled from it (smoother edges)
ZOOM, CY = 1.1, -0.05  # face units -> image units: the head fills the frame like an aligned crop
_RENDER, _ZOOM, _CY = RENDER, ZOOM, CY
_EPS = 0.3 * 2.0 / (_RENDER * _ZOOM)  # edge softness in face units: a ~1.3 px wide sigmoid ramp


# ----------------------------------------------------------------------------- drawing
# Faces are drawn in an upright "canonical" frame (face centre at the origin, lengths in the
# units of identity_params) and then warped by the per-image roll/scale/shift in one
# grid_sample. Upright, every small part lies in a known band of rows and columns, so it is
# only evaluated there: that is what makes a few thousand faces per second possible on a CPU.
def _soft(sdf: torch.Tensor) -> torch.Tensor:
    """Coverage of a shape from its signed distance (negative inside): anti-aliased edge."""
    return torch.sigmoid(sdf * (-1 / _EPS))


def _ellipse(x, y, a, b):
    """Approximate signed distance to an axis-aligned ellipse.

    First order (level-set value over its gradient), bounded below by the distance to the
    bounding box: alone, the first-order value collapses along the long axis of thin ellipses.
    """
    qx, qy = x / a, y / b
    q2 = qx * qx + qy * qy + 1e-9
    grad = torch.sqrt(((qx / a) ** 2 + (qy / b) ** 2 + 1e-9) / q2)
    box = torch.maximum(x.abs() - a, y.abs() - b)
    return torch.maximum((q2.sqrt() - 1) / grad, box)


def _box(x, y, w, h, r):
    """Signed distance to a centred box of half-size (w, h) with corner radius r."""
    dx, dy = x.abs() - (w - r), y.abs() - (h - r)
    outside = torch.sqrt(dx.clamp(min=0) ** 2 + dy.clamp(min=0) ** 2)
    return outside + torch.maximum(dx, dy).clamp(max=0) - r


def _c(t):  # (B, 3) colour -> (B, 3, 1, 1) for broadcasting over pixels
    return t[:, :, None, None]


_WHITE, _BLACK = torch.tensor([0.95, 0.94, 0.92]), torch.tensor([0.04, 0.03, 0.03])


class _Canvas:
    """A batch of canonical-frame images plus the coordinates of its pixel rows and columns."""

    def __init__(self, background: torch.Tensor):
        self.img = background.contiguous()
        g = torch.linspace(-1 + 1 / _RENDER, 1 - 1 / _RENDER, _RENDER)
        self.xs, self.ys = g / _ZOOM, (g - _CY) / _ZOOM  # pixel centres in face units

    def region(self, y0: float, y1: float, x0: float, x1: float | None = None):
        """Coordinates ``x (1,1,w)``, ``y (1,h,1)`` and an image view of ``y0<=y<=y1, x0<=x<=x1``.

        ``x1=None`` means ``|x| <= x0``. Drawing into the view (in place) draws into the canvas.
        """
        x0, x1 = (-x0, x0) if x1 is None else (x0, x1)
        rows = torch.nonzero((self.ys >= y0) & (self.ys <= y1)).flatten()
        cols = torch.nonzero((self.xs >= x0) & (self.xs <= x1)).flatten()
        r, c = slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
        return self.xs[c][None, None, :], self.ys[r][None, :, None], self.img[:, :, r, c]


def _over(view, alpha, color):
    """Composite ``color`` with coverage ``alpha`` (B, h, w) onto an image view, in place."""
    view.lerp_(color.expand_as(view), alpha.unsqueeze(1))  # one fused pass, no temporaries


def _body(cv, p, q):
    """Shoulders, neck, long back hair and ears: everything behind the face oval."""
    a, b, vol, fx = p["face_w"], p["face_h"], p["hair_vol"], q["yaw"]
    skin = _c(p["skin"])
    x, y, view = cv.region(0.5, 9, 9)
    _over(view, _soft(_ellipse(x + 0.03 * fx, y - 1.2, 1.0, 0.48)), _c(q["cloth"]))
    x, y, view = cv.region(0.2, 9, 0.3)
    _over(view, _soft(torch.maximum((x + 0.02 * fx).abs() - a * 0.45, -y)), skin * 0.8)
    x, y, view = cv.region(-9, 9, 0.8)
    # Long hair: the head outline plus a drape down to hair_len with rounded corners.
    head = _ellipse(x - 0.02 * fx, y + 0.02, a + vol, b + vol)
    drape = _box(x, y - p["hair_len"] / 2, a + vol * 1.1, p["hair_len"] / 2, 0.1)
    _over(view, _soft(torch.minimum(head, drape)) * p["hair_long"], _c(p["hair"]) * 0.85)
    x, y, view = cv.region(-0.15, 0.2, 0.7)
    for side in (-1, 1):
        ear = _ellipse(x - side * (a - 0.01) + 0.04 * fx, y - 0.02, p["ear"] * 0.55, p["ear"])
        _over(view, _soft(ear), skin * 0.92)


def _face(cv, p, q):
    """The face oval (chin narrowed by the jaw, darker towards the rim) and the beard."""
    a, b, fx = p["face_w"], p["face_h"], q["yaw"]
    x, y, view = cv.region(-0.72, 0.72, 0.6)
    xs = x - 0.02 * fx
    face_sdf = _ellipse(xs / (1 - p["jaw"] * (y / b).clamp(min=0) ** 2), y, a, b)
    rim = 1 - 0.22 * (((xs / a) ** 2 + (y / b) ** 2).clamp(max=1) ** 2)  # fake 3-D: darker rim
    _over(view, _soft(face_sdf), _c(p["skin"]) * rim.unsqueeze(1))
    # Beard: the lower face below a curve through the upper lip, plus an optional moustache.
    beard = _soft(face_sdf + 0.01) * _soft(p["mouth_y"] - 0.08 - y + 0.1 * (x / a) ** 2)
    stache = _soft(_ellipse(x - 0.12 * fx, y - p["mouth_y"] + 0.045, p["mouth_w"] * 1.1, 0.03))
    _over(view, torch.maximum(beard, stache * p["moustache"]) * p["beard"], _c(p["hair"]) * 0.9)


def _mouth(cv, p, q):
    """Lips (curved by the smile), the dark opening and teeth when the mouth is open."""
    x, y, view = cv.region(0.15, 0.53, 0.38)
    mw = p["mouth_w"] * (1 + 0.15 * q["smile"].clamp(min=0))
    mx = x - 0.12 * q["yaw"]
    t = (1 - (mx / mw) ** 2).clamp(min=0)
    centre = p["mouth_y"] - (p["smile0"] + q["smile"]) * 0.05 * (1 - t)  # corners up when smiling
    d = (y - centre).abs()
    opening = q["mouth_open"] * 0.045 * t.sqrt()
    lips = torch.maximum(d - (p["lip_thick"] * t.sqrt() + opening), mx.abs() - mw)  # pointed corners
    _over(view, _soft(lips + 0.004), _c(p["lips"]))
    inner = _soft(torch.maximum(d - opening, mx.abs() - 0.9 * mw))
    is_open = q["mouth_open"] > 0.1
    _over(view, inner * is_open, torch.tensor([0.25, 0.06, 0.06])[None, :, None, None])
    teeth = inner * _soft(y - centre + opening * 0.2) * is_open
    _over(view, teeth, _WHITE[None, :, None, None])
    seam = torch.exp(-((y - centre) / 0.008) ** 2) * t.sqrt().clamp(max=0.5) * 2  # line between lips
    _over(view, 0.5 * seam * ~is_open, _c(p["lips"] * 0.45))


def _nose(cv, p, q):
    """A shadow along one side, a darker base with nostrils and a highlight on the tip."""
    x, y, view = cv.region(-0.12, 0.3, 0.28)
    skin = _c(p["skin"])
    nx, ny = x - 0.17 * q["yaw"], y - p["eye_y"] - p["nose_len"]
    ridge = _ellipse(nx + p["nose_w"] * 0.6, ny + p["nose_len"] * 0.45, 0.012, p["nose_len"] * 0.5)
    _over(view, 0.25 * _soft(ridge), skin * 0.6)
    _over(view, 0.45 * _soft(_ellipse(nx, ny, p["nose_w"], 0.022)), skin * 0.65)
    for side in (-1, 1):
        nostril = _ellipse(nx - side * p["nose_w"] * 0.45, ny + 0.004, 0.016, 0.01)
        _over(view, 0.7 * _soft(nostril), skin * 0.35)
    _over(view, 0.35 * _soft(_ellipse(nx, ny - 0.03, p["nose_w"] * 0.45, 0.02)), torch.ones(1, 3, 1, 1))


def _hair_cap(cv, p, q):
    """Hair above the hairline: high in the middle, down to ear level at the sides."""
    a, b, vol = p["face_w"], p["face_h"], p["hair_vol"]
    x, y, view = cv.region(-9, 0.12, 0.75)
    head = _ellipse(x - 0.02 * q["yaw"], y + 0.02, a + vol, b + vol)
    # A side parting tilts the hairline; a fringe brings it down to just above the brows.
    top = torch.where(p["fringe"] > 0, p["eye_y"] - p["brow_gap"] - 0.09, -b * p["hairline"])
    top = top + 0.05 * p["hair_part"] * x / a
    line = top * (1 - (x / a).abs().clamp(max=1) ** 4)
    strands = 1 + 0.06 * torch.sin(40 * x + 9 * y)  # a hint of texture
    cap = _soft(torch.maximum(head, y - line)) * (1 - 0.6 * p["buzz"])  # buzz cut: skin shows through
    _over(view, cap, _c(p["hair"]) * strands.unsqueeze(1))


def _eyes(cv, p, q):
    """Eyes (white, iris, pupil, glint, lash line), brows and glasses."""
    fx = q["yaw"]
    for side in (-1, 1):
        x, y, view = cv.region(-0.37, 0.2, *sorted((-0.2 * side, 0.6 * side)))  # this eye's half
        ew = p["eye_w"] * (1 - 0.25 * side * fx)  # the far eye looks narrower when turned
        eh = p["eye_h"] * q["eye_open"].clamp(min=0.15)
        ex, ey = x - side * p["eye_sep"] - 0.12 * fx, y - p["eye_y"]
        white_sdf = _ellipse(ex, ey, ew, eh)
        white = _soft(white_sdf)
        _over(view, white, _WHITE[None, :, None, None])
        ir = p["eye_h"] * 0.95
        ix, iy = ex - q["gaze_x"] * ew * 0.45, ey - q["gaze_y"] * eh * 0.4
        rr = torch.sqrt(ix * ix + iy * iy + 1e-9)
        _over(view, _soft(rr - ir) * white, _c(p["iris"]))
        _over(view, _soft(rr - ir * 0.45) * white, _BLACK[None, :, None, None])
        glint = _soft(torch.sqrt((ix + ir * 0.35) ** 2 + (iy + ir * 0.35) ** 2) - ir * 0.22)
        _over(view, glint * white * 0.9, torch.ones(1, 3, 1, 1))
        lash = torch.exp(-(white_sdf / (0.6 * _EPS + 0.012)) ** 2) * (ey < 0.25 * eh)
        _over(view, 0.85 * lash, _c(p["hair"] * 0.4))
        # Brow: a tilted, arched ellipse; mirrored so a positive tilt lifts the outer end.
        u = (x - side * (p["eye_sep"] + 0.01) - 0.12 * fx) * side
        v = y - (p["eye_y"] - p["brow_gap"] - q["brow_raise"])
        v = v + p["brow_tilt"] * 0.3 * u + p["brow_arch"] * (1 - (u / p["brow_len"]) ** 2)
        _over(view, _soft(_ellipse(u, v, p["brow_len"], p["brow_thick"])), _c(p["hair"]) * 0.8)
        # Glasses: a ring around the eye.
        rg = torch.sqrt(ex ** 2 + (ey * 1.25) ** 2 + 1e-9)
        ring = _soft((rg - p["eye_w"] * p["glasses_r"]).abs() - 0.012) * p["glasses"]
        _over(view, ring, p["frame"].unsqueeze(1))
    x, y, view = cv.region(-0.2, 0.1, 0.25)
    bridge = torch.maximum((x - 0.12 * fx).abs() - p["eye_sep"] + p["eye_w"] * p["glasses_r"],
                           (y - p["eye_y"] + 0.02).abs() - 0.01)
    _over(view, _soft(bridge) * p["glasses"], p["frame"].unsqueeze(1))


Canvas = _Canvas
as_pixels = _c
#: The parts in drawing order (back to front); each is ``part(canvas, identity_params, image_params)``.
FACE_PARTS = (_body, _face, _mouth, _nose, _hair_cap, _eyes)
