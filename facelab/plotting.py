"""Plotting helpers. Each returns a matplotlib ``Figure`` and never calls ``plt.show()``.

The book and nbval display a returned figure once; returning it (instead of
showing it) also lets a reader save or restyle it. Importing this module applies the book's figure
style (:mod:`facelab.style`): fonts readable at the page's width, figures no wider than the page.
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from facelab.style import MAX_PANELS_PER_ROW, use_book_style

use_book_style()


def to_image(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """Arrange a batch ``(B, C, H, W)`` in ``[-1, 1]`` as one ``(H', W', C)`` array in ``[0, 1]``."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, normalize=True,
                     value_range=(-1, 1), pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def show_images(images: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None,
                scale: float = 0.6) -> Figure:
    """An image grid of a batch in ``[-1, 1]``.

    Args:
        images: ``(B, 3, H, W)`` tensor.
        nrow: images per row.
        title: optional title.
        ax: draw into this axes instead of a new figure.
        scale: inches per image in a new figure.
    """
    rows = int(np.ceil(images.shape[0] / nrow))
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(scale * nrow, 2), max(scale * rows, 1.2)))
    else:
        fig = ax.figure
    ax.imshow(to_image(images, nrow=nrow), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def show_image_rows(rows: Sequence[torch.Tensor], labels: Sequence[str], scale: float = 0.7) -> Figure:
    """Several batches as labelled rows (e.g. samples at different training steps)."""
    n = max(r.shape[0] for r in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(scale * n + 1, scale * len(rows) + 0.3), squeeze=False)
    for ax, batch, label in zip(axes[:, 0], rows, labels):
        ax.imshow(to_image(batch, nrow=n), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        for side in ax.spines.values():
            side.set_visible(False)
    fig.tight_layout()
    return fig


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size < window:
        return values
    kernel = np.ones(window) / window
    head = np.cumsum(values[: window - 1]) / np.arange(1, window)
    return np.concatenate([head, np.convolve(values, kernel, mode="valid")])


def plot_gan_history(history: Any, smooth: int = 5, title: str | None = None) -> Figure:
    """Loss curves of G and D, and the mean ``D(x)`` and ``D(G(z))``, against the step."""
    fig, (ax_loss, ax_d) = plt.subplots(1, 2, figsize=(10, 3.2))
    steps = history.step
    ax_loss.plot(steps, _smooth(history.loss_d, smooth), label="loss D")
    ax_loss.plot(steps, _smooth(history.loss_g, smooth), label="loss G")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    real_label, fake_label = ("D(x)", "D(G(z))") if history.probabilistic else ("score on x", "score on G(z)")
    ax_d.plot(steps, _smooth(history.d_real, smooth), label=real_label)
    ax_d.plot(steps, _smooth(history.d_fake, smooth), label=fake_label)
    if history.probabilistic:
        ax_d.axhline(0.5, color="grey", ls="--", lw=1, label="equilibrium 1/2")
        ax_d.set_ylim(0, 1)
    ax_d.set_xlabel("step")
    ax_d.set_ylabel("mean discriminator output")
    ax_d.legend()
    ax_d.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_density_1d(grid: torch.Tensor, p_data: torch.Tensor, p_model: torch.Tensor | None = None,
                    discriminator: torch.Tensor | None = None, samples: torch.Tensor | None = None,
                    title: str | None = None, ax=None) -> Figure:
    """The data density, the generator's density and the discriminator's output on a 1-D grid."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    else:
        fig = ax.figure
    x = grid.cpu().numpy()
    ax.fill_between(x, p_data.cpu().numpy(), alpha=0.3, color="C0", label="$p_{data}$")
    if samples is not None:
        ax.hist(samples.flatten().cpu().numpy(), bins=80, density=True, range=(x.min(), x.max()),
                alpha=0.35, color="C1")
    if p_model is not None:
        ax.plot(x, p_model.cpu().numpy(), color="C1", lw=2, label="$p_g$ (generator)")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    if discriminator is not None:
        ax2 = ax.twinx()
        ax2.plot(x, discriminator.cpu().numpy(), color="C2", lw=1.5, ls="--", label="$D(x)$")
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("D(x)", color="C2")
        lines = ax.get_legend_handles_labels()
        lines2 = ax2.get_legend_handles_labels()
        ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="upper left", fontsize=8)
    else:
        ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title)
    return fig


def plot_samples_2d(real: torch.Tensor, fake: torch.Tensor, title: str | None = None, ax=None,
                    limit: float = 3.0) -> Figure:
    """Real and generated 2-D samples as a scatter plot."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.6, 3.6))
    else:
        fig = ax.figure
    r, f = real.detach().cpu().numpy(), fake.detach().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=4, alpha=0.3, color="C0", label="data")
    ax.scatter(f[:, 0], f[:, 1], s=4, alpha=0.5, color="C1", label="generator")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_panels(draw, items: Sequence[Any], titles: Sequence[str], ncols: int | None = None,
                size: float = 3.0, suptitle: str | None = None, **kwargs) -> Figure:
    """A grid of panels, calling ``draw(item, ax=ax, title=title, **kwargs)`` for each.

    At most :data:`facelab.style.MAX_PANELS_PER_ROW` (3) panels go side by side, so each stays readable at
    the page's width; more items wrap onto further rows.

    Raises:
        ValueError: ``ncols`` asks for more than three panels in a row.
    """
    if ncols is not None and ncols > MAX_PANELS_PER_ROW:
        raise ValueError(f"plot_panels: ncols={ncols} puts more than {MAX_PANELS_PER_ROW} panels side by side, "
                         f"too small to read at the page's width; use ncols <= {MAX_PANELS_PER_ROW} "
                         "(the items wrap onto more rows).")
    ncols = ncols or (2 if len(items) == 4 else min(len(items), MAX_PANELS_PER_ROW))  # 4 panels: 2 x 2
    nrows = int(np.ceil(len(items) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax, item, title in zip(axes.flat, items, titles):
        draw(item, ax=ax, title=title, **kwargs)
    for ax in list(axes.flat)[len(items):]:
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


class LiveGANPlot:
    """A training callback that redraws the latest samples and the loss curves in place.

    Use as ``train_gan(..., callbacks=[LiveGANPlot(total_steps=...)])`` in a notebook. Outside
    IPython it does nothing, so scripts and tests can pass it too.

    Each frame is one display updated in place, so the notebook (and the book, which stores the display's
    last state) shows the final step. The frame says which step it is, in its caption and in the HTML
    attributes ``data-live-step`` / ``data-live-total`` that the book's browser test reads.
    """

    #: It only draws, so a run that uses it is still named and reused by :mod:`facelab.runs`.
    display_only = True

    def __init__(self, nrow: int = 8, max_images: int = 32, total_steps: int | None = None):
        self.nrow, self.max_images, self.total_steps = nrow, max_images, total_steps
        self._handle = None

    def frame(self, history: Any, step: int) -> dict[str, str]:
        """The display bundle of the frame at ``step``: an HTML figure, its PNG and a text line."""
        fig = self.figure(history, step)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(fig)
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        of_total = f" of {self.total_steps:,}" if self.total_steps else ""
        caption = f"Live training plot, step {step:,}{of_total}"
        total_attribute = f' data-live-total="{self.total_steps}"' if self.total_steps else ""
        page = (f'<figure class="facelab-live-plot" data-live-step="{step}"{total_attribute}>'
                f'<img src="data:image/png;base64,{png}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return {"text/html": page, "image/png": png, "text/plain": caption}

    def figure(self, history: Any, step: int) -> Figure:
        """The latest fixed-noise samples and the loss curves so far."""
        fig, (ax_img, ax_loss) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1.2, 1]})
        show_images(history.samples[-1][: self.max_images], nrow=self.nrow, ax=ax_img,
                    title=f"fixed-noise samples, step {step}")
        ax_loss.plot(history.step, history.loss_d, label="loss D")
        ax_loss.plot(history.step, history.loss_g, label="loss G")
        ax_loss.set_xlabel("step")
        ax_loss.legend()
        ax_loss.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    def __call__(self, history: Any, step: int) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - plain Python
            return
        if get_ipython() is None:  # a script or a test: nothing to draw into
            return
        bundle = self.frame(history, step)
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
