"""The experiments of chapter 03: training a DCGAN on faces, and mode collapse.

* Data (:func:`load_training_faces`, :func:`load_held_out_faces`): the synthetic
  faces of the quick profile, or real faces for the full one -- LFW (Huang et al.
  2007) through scikit-learn, falling back to CelebA (Liu et al. 2015) through
  torchvision, or any folder of images named by ``$FACELAB_FACES_DIR``. All come as
  ``(N, 3, S, S)`` tensors in ``[-1, 1]``, the range of the generator's ``tanh``;
  the held-out faces are of people the GAN never sees.
* The networks (:func:`build_dcgan`): the DCGAN of Radford, Metz & Chintala
  (ICLR 2016) at the profile's size.
* Training (:func:`train_face_gan`): :func:`facelab.train.gan.train_gan` with the
  DCGAN paper's optimiser settings. In the full profile it checkpoints under a runs
  directory (``$FACELAB_RUNS_DIR``, default ``~/facelab_runs``); calling it again
  resumes from the checkpoint, which is what makes a long run survive a Colab
  disconnect when that directory is on Google Drive.
* Mode collapse (:func:`mode_collapse_experiment`): the 8-Gaussian ring of the
  unrolled-GAN paper (Metz et al. 2017), where the modes a generator covers can be
  counted, trained with a setting that collapses and with standard remedies.
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from facelab.data.base import FaceTensorDataset
from facelab.models.dcgan import Discriminator, Generator
from facelab.profile import Profile
from facelab.runs import RUNS_DIR_ENV, reuse_runs, run_plan, runs_dir, train_or_reuse
from facelab.runtime import get_device, seed_everything
from facelab.train.gan import GANHistory, GANTrainConfig, sample, train_gan

__all__ = [
    "FACES_DIR_ENV",
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

#: Environment variable naming a folder of face images (one sub-folder per person) to train on.
FACES_DIR_ENV = "FACELAB_FACES_DIR"
#: Images kept from CelebA when it is the fallback (162,770 images would need ~8 GB at 64x64).
CELEBA_MAX_IMAGES = 50_000


# ----------------------------------------------------------------------------- data
def load_training_faces(profile: Profile, seed: int = 0) -> FaceTensorDataset:
    """The faces chapter 03 trains its GAN on.

    * quick profile (``profile.dataset == "synthetic"``): procedural faces,
      ``profile.num_identities x profile.images_per_identity`` images at
      ``profile.image_size`` (offline, deterministic in ``seed``).
    * full profile: real faces (see :func:`load_real_faces`) except the held-out
      identities of :func:`load_held_out_faces`.

    Args:
        profile: the course profile.
        seed: dataset seed of the synthetic faces (a different seed gives other people).

    Returns:
        The faces, ``(N, 3, S, S)`` in ``[-1, 1]`` with identity labels.

    Raises:
        FileNotFoundError: full profile, and none of the real sources could be loaded.
    """
    if profile.dataset == "synthetic":
        from facelab.data.synthetic import make_synthetic_faces

        return make_synthetic_faces(num_identities=profile.num_identities,
                                    images_per_identity=profile.images_per_identity,
                                    size=profile.image_size, seed=seed)
    faces = load_real_faces(profile.image_size)
    return faces.subset(~_held_out_mask(faces), relabel=True)


def load_held_out_faces(profile: Profile, seed: int = 0) -> FaceTensorDataset:
    """Faces of people the GAN never trains on, to measure it against.

    quick profile: synthetic faces of other identities (dataset seed ``seed + 1``),
    a tenth as many as :func:`load_training_faces`; full profile: every 20th identity
    of the real faces (5%; every 20th image for a folder of fewer than 20 people), which
    :func:`load_training_faces` leaves out.
    """
    if profile.dataset == "synthetic":
        from facelab.data.synthetic import make_synthetic_faces

        return make_synthetic_faces(num_identities=max(1, profile.num_identities // 10),
                                    images_per_identity=profile.images_per_identity,
                                    size=profile.image_size, seed=seed + 1)
    faces = load_real_faces(profile.image_size)
    return faces.subset(_held_out_mask(faces), relabel=True)


def _held_out_mask(faces: FaceTensorDataset) -> torch.Tensor:
    """Every 20th identity (a fixed, seed-free split); every 20th image when there are few people."""
    if faces.num_identities >= 20:
        return faces.labels % 20 == 19
    return torch.arange(len(faces)) % 20 == 19


def load_real_faces(size: int = 64) -> FaceTensorDataset:
    """Real faces for the full profile, from the first source that works.

    1. ``$FACELAB_FACES_DIR`` when it is set: your own folder, one sub-folder per person
       (:func:`facelab.data.real.load_image_folder`);
    2. otherwise all 13,233 LFW images through scikit-learn (downloaded once, ~200 MB);
    3. if that fails, CelebA through torchvision (at most :data:`CELEBA_MAX_IMAGES` images).

    Raises:
        FileNotFoundError: none of the sources could be loaded; the message lists why
            each failed and how to fix it.
    """
    from facelab.data import real

    folder = os.environ.get(FACES_DIR_ENV, "").strip()
    if folder:
        print(f"Loading faces from ${FACES_DIR_ENV} = {folder}")
        return real.load_image_folder(folder, size=size)
    errors: list[str] = []
    try:
        # every LFW image: a GAN needs many faces, not many per person
        return real.load_lfw_people(size=size, min_faces_per_person=0, download=True)
    except OSError as err:
        errors.append(f"LFW: {err}")
        warnings.warn(f"Could not load LFW ({err}); trying CelebA through torchvision instead.", stacklevel=2)
    try:
        return real.load_celeba(size=size, split="train", download=True, max_images=CELEBA_MAX_IMAGES)
    except (OSError, RuntimeError) as err:
        errors.append(f"CelebA: {err}")
    raise FileNotFoundError(
        "No real faces could be loaded for the full profile:\n  " + "\n  ".join(errors) + "\n"
        f"Fix the network or the files above, or set {FACES_DIR_ENV} to a folder of face images laid out "
        "one sub-folder per person, or use the synthetic faces with FACELAB_PROFILE=quick."
    )


# ----------------------------------------------------------------------------- models
def build_dcgan(profile: Profile) -> tuple[Generator, Discriminator]:
    """The DCGAN generator and discriminator at the profile's size (paper size in the full profile)."""
    generator = Generator(latent_dim=profile.latent_dim, channels=profile.gan_channels,
                          image_size=profile.image_size)
    discriminator = Discriminator(channels=profile.gan_channels, image_size=profile.image_size)
    return generator, discriminator


# ----------------------------------------------------------------------------- training
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


def initial_dcgan(profile: Profile, seed: int = 0) -> tuple[Generator, Discriminator]:
    """The DCGAN of the profile with the initial weights that seed ``seed`` gives (those of every run with it)."""
    seed_everything(seed)
    return build_dcgan(profile)


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
    return dict(loss=loss, steps=steps if steps is not None else profile.gan_steps,
                batch_size=profile.gan_batch_size, sample_every=profile.sample_every, seed=seed, **overrides)


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


# ----------------------------------------------------------------------------- measuring a face GAN
def _pixel_features(images: torch.Tensor, pool: int) -> torch.Tensor:
    return nn.functional.adaptive_avg_pool2d(images.float(), pool).flatten(1)


def pixel_frechet_distance(images_a: torch.Tensor, images_b: torch.Tensor, pool: int = 8) -> float:
    """Fréchet distance between two image sets on ``pool x pool`` average-pooled pixels.

    A crude, network-free relative of FID (Heusel et al. 2017): it compares the mean
    and covariance of coarse colour layouts, enough to tell noise from faces and to
    follow a GAN's progress. It is *not* comparable with published FID values.
    """
    from facelab.metrics.gan import frechet_distance

    return frechet_distance(_pixel_features(images_a, pool), _pixel_features(images_b, pool))


def sample_diversity(images: torch.Tensor, max_images: int = 500) -> float:
    """Mean Euclidean distance between two different images of a set (pixels in ``[-1, 1]``).

    A collapsed generator, which makes the same few faces over and over, has a much
    smaller value than the data; a healthy one comes close to the data's value.
    """
    x = images[:max_images].float().flatten(1)
    d = torch.cdist(x, x)
    n = x.shape[0]
    return float(d.sum() / (n * (n - 1)))


@torch.no_grad()
def discriminator_auc(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> float:
    """Probability that the discriminator scores a random real image above a random fake one.

    The area under the ROC curve of D used as a real-vs-fake detector: 0.5 is chance,
    1 perfect separation. D runs in eval mode (batch norm with running statistics),
    so a score does not depend on the rest of its batch.
    """
    was_training = discriminator.training
    discriminator.eval()
    device = next(discriminator.parameters()).device
    real_scores = discriminator(real.to(device)).float().cpu()
    fake_scores = discriminator(fake.to(device)).float().cpu()
    discriminator.train(was_training)
    greater = (real_scores[:, None] > fake_scores[None, :]).float()
    ties = (real_scores[:, None] == fake_scores[None, :]).float()
    return float((greater + 0.5 * ties).mean())


# ----------------------------------------------------------------------------- mode collapse
class MinibatchStdDiscriminator(nn.Module):
    """A toy discriminator that also sees how spread out its whole batch is.

    The batch's mean standard deviation is appended to every input as one more
    feature: the *minibatch standard deviation* of Karras et al. (2018), the simplest
    form of the minibatch discrimination of Salimans et al. (2016). A collapsed
    generator produces batches with too little spread, which D can now detect, so G
    is pushed to diversify. (Batches are all-real or all-fake in the training loop.)
    """

    def __init__(self, *, data_dim: int = 2, hidden: int = 64, depth: int = 3):
        super().__init__()
        from facelab.models.toy import ToyDiscriminator

        self.data_dim = data_dim
        self.inner = ToyDiscriminator(data_dim=data_dim + 1, hidden=hidden, depth=depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spread = x.std(dim=0).mean().expand(x.shape[0], 1)  # (B, 1): one number for the batch
        return self.inner(torch.cat([x, spread], dim=1))


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


def plot_mode_collapse(result: ModeCollapseResult) -> Figure:
    """One scatter panel per setting (its first seed), titled with that run's mode counts."""
    from facelab.plotting import plot_samples_2d

    n = len(result.settings)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.6), squeeze=False)
    for ax, setting, fake, modes, eff in zip(axes[0], result.settings, result.samples, result.modes,
                                             result.effective):
        plot_samples_2d(result.data, fake, ax=ax, limit=2.8,
                        title=f"{setting.name}\n{modes[0]} of {result.num_modes} modes covered, "
                              f"effective {eff[0]:.1f}")
    axes[0, 0].legend(loc="lower left", fontsize=7, markerscale=3)
    fig.tight_layout()
    return fig
