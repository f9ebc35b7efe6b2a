"""The quick and full profiles: one place decides the scale of every experiment.

Notebooks never hard-code sizes; they ask ``get_profile()``. The *quick* profile
(default without a GPU) runs the whole course on the synthetic faces at 32x32 in
minutes on two CPU cores, which is what CI, ``pytest --nbval`` and laptop book
builds use. The *full* profile (default with CUDA, e.g. on Colab) uses real faces
at 64x64 with paper-size networks and real training lengths.

``FACELAB_PROFILE=quick|full`` overrides the automatic choice.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import torch

PROFILE_ENV = "FACELAB_PROFILE"
DATASETS = ("synthetic", "lfw")  # the data sources the experiments know how to load
_POSITIVE_FIELDS = ("num_identities", "images_per_identity", "latent_dim", "gan_channels", "gan_batch_size",
                    "gan_steps", "toy_steps", "embedding_dim", "recognizer_channels", "recognizer_batch_size",
                    "recognizer_steps", "sample_every")


@dataclass(frozen=True)
class Profile:
    """Every size and length an experiment needs, for one scale."""

    name: str
    dataset: str                 # "synthetic" (offline, procedural) or "lfw" (real, downloaded)
    image_size: int              # 32 (quick) or 64 (full, the DCGAN paper's size)
    # --- synthetic faces (quick profile data, and the tests) ---
    num_identities: int          # identities in the synthetic set
    images_per_identity: int     # images of each identity
    # --- GANs ---
    latent_dim: int              # size of the noise vector z (100 in the DCGAN paper)
    gan_channels: int            # base channel count of G and D (64 in the DCGAN paper)
    gan_batch_size: int          # 128 in the DCGAN paper
    gan_steps: int               # generator updates in the chapter-03 training run
    toy_steps: int               # updates of the 1-D/2-D toy GANs in chapters 01-02
    # --- recognition ---
    embedding_dim: int           # size of the face embedding
    recognizer_channels: int     # base width of the residual feature extractor
    recognizer_batch_size: int
    recognizer_steps: int        # optimisation steps of a recognition training run
    # --- practicalities ---
    sample_every: int            # steps between fixed-noise sample grids / live plots
    num_workers: int = 0         # DataLoader workers (0: data already in memory)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown dataset {self.dataset!r} in profile {self.name!r}; expected one of "
                             f"{DATASETS} ('synthetic': offline procedural faces, 'lfw': real faces). For your "
                             "own photos use facelab.data.real.load_image_folder.")
        if self.image_size not in (32, 64):
            raise ValueError(f"Profile image_size must be 32 or 64 (the sizes the models support), got "
                             f"{self.image_size!r}.")
        for name in _POSITIVE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Profile {name} must be an integer >= 1, got {value!r}; "
                                 f"see PROFILES['quick'] for sensible values.")

    def replace(self, **changes) -> "Profile":
        """A copy with some fields changed, e.g. ``profile.replace(gan_steps=10)``."""
        return dataclasses.replace(self, **changes)


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        dataset="synthetic",
        image_size=32,
        num_identities=200,
        images_per_identity=20,
        latent_dim=64,
        gan_channels=16,         # 16 channels at batch 32: ~1/8 of the compute per step of 32 at 64,
        gan_batch_size=32,       # so 1,000 steps fit the chapter's minute and give face-like samples
        gan_steps=1000,
        toy_steps=1500,
        embedding_dim=64,
        recognizer_channels=16,
        recognizer_batch_size=64,
        recognizer_steps=300,
        sample_every=200,
    ),
    "full": Profile(
        name="full",
        dataset="lfw",
        image_size=64,
        num_identities=2000,
        images_per_identity=30,
        latent_dim=100,
        gan_channels=64,
        gan_batch_size=128,
        gan_steps=20_000,
        toy_steps=5000,
        embedding_dim=128,
        recognizer_channels=32,
        recognizer_batch_size=256,
        recognizer_steps=10_000,
        sample_every=500,
        num_workers=2,
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """The active profile.

    Args:
        name: ``"quick"`` or ``"full"``. Defaults to ``$FACELAB_PROFILE``, then to
            ``"full"`` when CUDA is available and ``"quick"`` otherwise.

    Returns:
        The ``Profile``.

    Raises:
        ValueError: for an unknown profile name.
    """
    name = name or os.environ.get(PROFILE_ENV) or ("full" if torch.cuda.is_available() else "quick")
    key = name.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}; expected one of {sorted(PROFILES)}. "
            f"Set {PROFILE_ENV}=quick (CPU, minutes) or {PROFILE_ENV}=full (GPU, real data)."
        )
    return PROFILES[key]
