"""Figures of chapter 08: generators side by side, and an unstable GAN run against chapter 03's."""
from __future__ import annotations

from typing import Any, Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

__all__ = ["plot_side_by_side", "plot_instability"]


def plot_side_by_side(images: Mapping[str, torch.Tensor], nrow: int = 6, num_images: int = 36) -> Figure:
    """One image grid per entry (e.g. real, GAN, VAE), side by side, titled with its name."""
    from facelab.plotting import show_images

    fig, axes = plt.subplots(1, len(images), figsize=(3.6 * len(images), 3.9), squeeze=False)
    for ax, (name, batch) in zip(axes[0], images.items()):
        show_images(batch[:num_images], nrow=nrow, ax=ax, title=name)
    fig.tight_layout()
    return fig


def plot_instability(result: Any) -> Figure:
    """Generator loss, discriminator loss and D's outputs of both runs against the step."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    label = (f"lr {result.settings['lr_g']:g}, beta1 {result.settings['beta1']:g}")
    for history, name, color in ((result.baseline, "chapter 3: lr 2e-4, beta1 0.5", "C0"),
                                 (result.aggressive, label, "C3")):
        axes[0].plot(history.step, history.loss_g, color=color, label=name)
        axes[1].plot(history.step, history.loss_d, color=color, label=name)
        axes[2].plot(history.step, history.d_real, color=color, label=f"D(x), {name}")
        axes[2].plot(history.step, history.d_fake, color=color, ls="--", label=f"D(G(z)), {name}")
    for ax, title in zip(axes, ("generator loss", "discriminator loss", "D(x) solid, D(G(z)) dashed")):
        ax.set_xlabel("step")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[2].set_ylim(-0.02, 1.02)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
