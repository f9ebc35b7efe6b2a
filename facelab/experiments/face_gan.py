"""The experiments of chapter 03: training a DCGAN on faces, and mode collapse.

The faces (:mod:`facelab.data.faces`), the networks (:mod:`facelab.models.zoo`), the training run
(:mod:`facelab.baselines.face_gan`) and its measures (:mod:`facelab.metrics.samples`) live in the layers
below, where chapters 06-08 reuse them; they are imported here so the chapter finds everything under
one name. This module adds the mode-collapse experiment (:func:`mode_collapse_experiment`): the
8-Gaussian ring of the unrolled-GAN paper (Metz et al. 2017), where the modes a generator covers can be
counted, trained with a setting that collapses and with standard remedies.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from facelab.baselines.face_gan import FaceGANRun, default_checkpoint_path, train_face_gan
from facelab.data.faces import (CELEBA_MAX_IMAGES, FACES_DIR_ENV, load_held_out_faces, load_real_faces,
                                load_training_faces)
from facelab.figures.face_gan import plot_mode_collapse
from facelab.metrics.samples import discriminator_auc, pixel_frechet_distance, sample_diversity
from facelab.models.zoo import MinibatchStdDiscriminator, build_dcgan, initial_dcgan
from facelab.runs import RUNS_DIR_ENV, runs_dir
from facelab.runtime import seed_everything
from facelab.models.sampling import sample
from facelab.profile import Profile
from facelab.train.gan import GANTrainConfig, train_gan

__all__ = [
    "FACES_DIR_ENV",
    "CELEBA_MAX_IMAGES",
    "RUNS_DIR_ENV",
    "FaceGANRun",
    "load_training_faces",
    "load_held_out_faces",
    "load_real_faces",
    "build_dcgan",
    "runs_dir",
    "default_checkpoint_path",
    "initial_dcgan",
    "train_face_gan",
    "pixel_frechet_distance",
    "sample_diversity",
    "discriminator_auc",
    "CollapseSetting",
    "MODE_COLLAPSE_SETTINGS",
    "TTUR_SETTING",
    "WGAN_GP_SETTING",
    "ModeCollapseResult",
    "MinibatchStdDiscriminator",
    "effective_modes",
    "mode_collapse_experiment",
    "plot_mode_collapse",
]


# ----------------------------------------------------------------------------- mode collapse
@dataclass(frozen=True)
class CollapseSetting:
    """One way of training the toy GAN of the mode-collapse experiment."""

    name: str
    loss: str = "nonsaturating"
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta2: float = 0.999
    minibatch_std: bool = False   # give D the minibatch standard deviation
    steps_factor: float = 1.0     # training length relative to the experiment's steps (WGAN-GP: 5 D steps each)


#: The settings chapter 03 compares: one that collapses, and two remedies of it.
MODE_COLLAPSE_SETTINGS: tuple[CollapseSetting, ...] = (
    CollapseSetting("G faster than D", lr_g=1e-3, lr_d=1e-4),
    CollapseSetting("balanced learning rates", lr_g=1e-3, lr_d=1e-3),
    CollapseSetting("G faster than D + minibatch std", lr_g=1e-3, lr_d=1e-4, minibatch_std=True),
)
#: Two more remedies to try (exercises): the two time-scale update rule and WGAN-GP.
TTUR_SETTING = CollapseSetting("TTUR: D faster than G", lr_g=1e-4, lr_d=1e-3)
WGAN_GP_SETTING = CollapseSetting("WGAN-GP", loss="wgan-gp", lr_g=1e-3, lr_d=1e-3, beta2=0.9, steps_factor=0.5)


@dataclass
class ModeCollapseResult:
    """Modes covered by toy GANs on the 8-Gaussian ring, per setting and seed."""

    settings: list[CollapseSetting]
    seeds: list[int]
    num_modes: int
    modes: list[list[int]] = field(default_factory=list)      # [setting][seed] modes covered
    effective: list[list[float]] = field(default_factory=list)  # [setting][seed] effective number of modes
    quality: list[list[float]] = field(default_factory=list)  # [setting][seed] fraction of samples on a mode
    samples: list[torch.Tensor] = field(default_factory=list)  # [setting] samples of the first seed
    data: torch.Tensor | None = None                           # samples of the ring itself
    seconds: float = 0.0

    def mean_modes(self) -> list[float]:
        """Mean number of modes covered by each setting, over the seeds."""
        return [sum(m) / len(m) for m in self.modes]

    def mean_effective(self) -> list[float]:
        """Mean effective number of modes of each setting, over the seeds."""
        return [sum(m) / len(m) for m in self.effective]

    def to_markdown(self) -> str:
        """A table of the results, one row per setting (means over the seeds)."""
        rows = ["| setting | modes covered (of {}) | effective modes | samples on a mode |".format(self.num_modes),
                "|---|---|---|---|"]
        for setting, modes, eff, quality in zip(self.settings, self.modes, self.effective, self.quality):
            rows.append(f"| {setting.name} | {sum(modes) / len(modes):.1f} | {sum(eff) / len(eff):.1f} "
                        f"| {100 * sum(quality) / len(quality):.0f}% |")
        return "\n".join(rows)


def effective_modes(samples: torch.Tensor, mixture: Any) -> float:
    """``exp(entropy)`` of the share of samples nearest to each mode of ``mixture``.

    It counts modes by how evenly samples spread over them, whatever their precision:
    1 when every sample sits by the same mode, ``K`` when they spread evenly over all
    ``K`` (compare :func:`facelab.data.toy.modes_covered`, which also asks that samples
    lie *on* a mode).
    """
    nearest = torch.cdist(samples.float(), mixture.means.float()).argmin(dim=1)
    share = torch.bincount(nearest, minlength=mixture.means.shape[0]).float() / samples.shape[0]
    share = share[share > 0]
    return float(torch.exp(-(share * share.log()).sum()))


def mode_collapse_experiment(
    profile: Profile,
    settings: Sequence[CollapseSetting] = MODE_COLLAPSE_SETTINGS,
    seeds: Sequence[int] = (0,),
    steps: int | None = None,
    num_samples: int = 2000,
) -> ModeCollapseResult:
    """Train small GANs on the 8-Gaussian ring and count the modes each covers.

    The ring (:func:`facelab.data.toy.ring_2d`) is the standard mode-collapse test
    (Metz et al. 2017): a collapsed generator puts its samples on a few of the eight
    modes, and :func:`facelab.data.toy.modes_covered` counts them.

    Args:
        profile: the course profile (``toy_steps`` sets the length).
        settings: the training settings to compare.
        seeds: seeds per setting (collapse is random: look at more than one).
        steps: generator updates per run; default two thirds of ``profile.toy_steps``
            (1,000 in the quick profile): collapse shows within a few hundred steps,
            and the remedies have spread over the ring by then (though not yet all on
            the modes).
        num_samples: samples drawn to count modes.

    Returns:
        The :class:`ModeCollapseResult`.
    """
    import time

    from facelab.data.toy import ring_2d

    ring = ring_2d()
    steps = steps if steps is not None else profile.toy_steps * 2 // 3
    result = ModeCollapseResult(list(settings), list(seeds), ring.means.shape[0])
    result.data = ring.sample(num_samples, generator=torch.Generator().manual_seed(12345))
    tic = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny MLPs: splitting 128x64 products over threads costs more than it saves
    try:
        _train_collapse_settings(result, ring, settings, seeds, steps, num_samples)
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - tic
    return result


def _train_collapse_settings(result: ModeCollapseResult, ring: Any, settings: Sequence[CollapseSetting],
                             seeds: Sequence[int], steps: int, num_samples: int) -> None:
    from facelab.data.toy import high_quality_fraction, modes_covered
    from facelab.models.toy import ToyDiscriminator, ToyGenerator

    for setting in settings:
        modes, quality, effective = [], [], []
        for seed in seeds:
            seed_everything(seed)
            generator = ToyGenerator(data_dim=2, latent_dim=2, hidden=64, depth=3)
            make_d = MinibatchStdDiscriminator if setting.minibatch_std else ToyDiscriminator
            discriminator = make_d(data_dim=2, hidden=64, depth=3)
            config = GANTrainConfig(loss=setting.loss, steps=max(1, int(steps * setting.steps_factor)),
                                    batch_size=128, lr_g=setting.lr_g, lr_d=setting.lr_d, beta2=setting.beta2,
                                    log_every=50, sample_every=10**9, num_samples=1, seed=seed, progress=False)
            train_gan(generator, discriminator, ring.sample, config, device="cpu")
            fake = sample(generator, generator.sample_latent(num_samples, generator=torch.Generator().manual_seed(seed)))
            modes.append(modes_covered(fake, ring))
            quality.append(high_quality_fraction(fake, ring))
            effective.append(effective_modes(fake, ring))
            if seed == seeds[0]:
                result.samples.append(fake)
        result.modes.append(modes)
        result.quality.append(quality)
        result.effective.append(effective)


