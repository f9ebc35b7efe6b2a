"""Chapter 03's DCGAN on faces: :func:`train_face_gan`, named and reused by :mod:`facelab.runs`.

:func:`facelab.train.gan.train_gan` with the DCGAN paper's optimiser settings at the profile's size. In
the full profile it checkpoints under a runs directory (``$FACELAB_RUNS_DIR``, default ``~/facelab_runs``);
calling it again resumes from the checkpoint, which is what makes a long run survive a Colab disconnect
when that directory is on Google Drive.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from ..data.faces import load_training_faces
from ..models.dcgan import Discriminator, Generator
from ..models.sampling import sample
from ..models.zoo import initial_dcgan
from ..profile import Profile
from ..runs import run_plan, train_or_reuse
from ..runtime import get_device
from ..train.gan import GANHistory, GANTrainConfig, train_gan

__all__ = ["FaceGANRun", "default_checkpoint_path", "train_face_gan"]


@dataclass
class FaceGANRun:
    """A trained face GAN: both networks, the training history and its settings."""

    generator: Generator
    discriminator: Discriminator
    history: GANHistory
    config: GANTrainConfig
    profile: Profile
    device: torch.device
    checkpoint_path: Path | None = None
    initial_samples: torch.Tensor | None = None  # the fixed noise through the untrained generator

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` generated faces ``(n, 3, S, S)`` on the CPU, from latents seeded by ``seed``."""
        z = self.generator.sample_latent(n, generator=torch.Generator().manual_seed(seed))
        return sample(self.generator, z.to(self.device)).cpu()


def default_checkpoint_path(profile: Profile, loss: str = "nonsaturating", seed: int = 0, data: Any = None,
                            steps: int | None = None, **config_overrides: Any) -> Path | None:
    """The checkpoint file :func:`train_face_gan` writes for these arguments (None: the run is not kept).

    The same function names the file for both (:func:`facelab.runs.run_plan`), keyed by the profile, every
    setting and the data (default: :func:`load_training_faces` of the profile).
    """
    data = load_training_faces(profile) if data is None else data
    plan = run_plan(f"dcgan_{loss}", profile, _gan_settings(profile, loss, steps, seed, config_overrides), data)
    return Path(plan["checkpoint_path"]) if plan["checkpoint_path"] else None


def _gan_settings(profile: Profile, loss: str, steps: int | None, seed: int, overrides: dict[str, Any]) -> dict:
    fields = {f.name for f in dataclasses.fields(GANTrainConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"Unknown training setting(s) {unknown}; valid ones are {sorted(fields)}.")
    return {**dict(loss=loss, steps=steps if steps is not None else profile.gan_steps,
                   batch_size=profile.gan_batch_size, sample_every=profile.sample_every, seed=seed), **overrides}


def train_face_gan(
    profile: Profile,
    data: Any = None,
    loss: str = "nonsaturating",
    steps: int | None = None,
    seed: int = 0,
    checkpoint_path: str | os.PathLike | None = None,
    callbacks: Sequence[Callable[[GANHistory, int], None]] = (),
    models: tuple[Generator, Discriminator] | None = None,
    **config_overrides: Any,
) -> FaceGANRun:
    """Train chapter 03's DCGAN on faces.

    Args:
        profile: the course profile (sizes, batch size, steps, sampling interval).
        data: the faces (a ``FaceTensorDataset``, a tensor or a ``DataLoader``);
            default :func:`load_training_faces` of the profile.
        loss: GAN objective, a name in ``facelab.losses.GAN_LOSSES``.
        steps: generator updates; default ``profile.gan_steps``.
        seed: seeds the initial weights, the fixed noise and the training stream.
        checkpoint_path: checkpoint file, resumed from when it exists (saved every 1,000 steps
            and at the end). Default: :func:`default_checkpoint_path` under :func:`runs_dir` on the
            full profile, and on the quick profile when ``$FACELAB_RUNS_DIR`` is set and neither
            ``data`` nor callbacks other than display-only ones are given (see :mod:`facelab.runs`); otherwise none.
        callbacks: ``callback(history, step)`` every ``profile.sample_every`` steps,
            e.g. ``facelab.plotting.LiveGANPlot()``.
        models: the ``(generator, discriminator)`` to train; default :func:`initial_dcgan` of the
            profile and seed. Build them with :func:`initial_dcgan` to keep a reference to the
            generator for a callback while it trains, with the same initial weights.
        **config_overrides: other fields of :class:`facelab.train.gan.GANTrainConfig`
            (``lr_g=1e-4``, ``max_steps=10``, ``progress=False``, ...).

    Returns:
        The :class:`FaceGANRun`.

    Raises:
        ValueError: an unknown or invalid setting.
    """
    settings = _gan_settings(profile, loss, steps, seed, config_overrides)
    settings["checkpoint_path"] = checkpoint_path
    # on the quick profile only the default data, with callbacks that only draw (LiveGANPlot), is reused:
    # callbacks that measure would miss a reused run; on the full profile any data is, keyed by its content
    reusable = models is None and (profile.name == "full" or (
        data is None and all(getattr(callback, "display_only", False) for callback in callbacks)))
    device = get_device()
    if data is None:
        data = load_training_faces(profile)
    generator, discriminator = models if models is not None else initial_dcgan(profile, seed)
    initial: list[torch.Tensor] = []

    def train(config: GANTrainConfig) -> GANHistory:
        # the untrained generator on the fixed noise batch that train_gan draws (same seed, same draw)
        torch.manual_seed(config.seed)
        fixed_noise = generator.to(device).sample_latent(config.num_samples, device=device)
        initial.append(sample(generator, fixed_noise).cpu())
        return train_gan(generator, discriminator, data, config, device=device, callbacks=callbacks)

    config, history = train_or_reuse(f"dcgan_{loss}", profile, GANTrainConfig, settings, data, train,
                                     reusable=reusable, label=f"DCGAN ({loss})")
    initial_samples = initial[0]
    return FaceGANRun(generator, discriminator, history, config, profile, device,
                      Path(config.checkpoint_path) if config.checkpoint_path else None, initial_samples)
