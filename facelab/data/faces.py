"""Faces to train on, chosen in one place: the chapters' data (:func:`load_training_faces`) and the CLI's (:func:`load_faces`).

* quick profile: the synthetic faces (:mod:`facelab.data.synthetic`), offline and deterministic;
* full profile (:func:`load_real_faces`): ``$FACELAB_FACES_DIR`` when set, else LFW (Huang et al. 2007)
  through scikit-learn, falling back to CelebA (Liu et al. 2015) through torchvision;
* :func:`load_faces` for a named source (``"synthetic"``, ``"lfw"``, ``"celeba"`` or a folder).

All come as ``(N, 3, S, S)`` tensors in ``[-1, 1]``, the range of the generator's ``tanh``; the
held-out faces (:func:`load_held_out_faces`) are of people the GAN never sees.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from ..profile import Profile
from .base import FaceTensorDataset

__all__ = ["FACES_DIR_ENV", "CELEBA_MAX_IMAGES", "SOURCES", "load_training_faces", "load_held_out_faces",
           "held_out_mask", "load_real_faces", "load_faces"]

#: Environment variable naming a folder of face images (one sub-folder per person) to train on.
FACES_DIR_ENV = "FACELAB_FACES_DIR"
#: Images kept from CelebA when it is the fallback (162,770 images would need ~8 GB at 64x64).
CELEBA_MAX_IMAGES = 50_000


# ----------------------------------------------------------------------------- data
#: Named sources of :func:`load_faces` (or a folder's path).
SOURCES = ("synthetic", "lfw", "celeba")


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
    return faces.subset(~held_out_mask(faces), relabel=True)


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
    return faces.subset(held_out_mask(faces), relabel=True)


def held_out_mask(faces: FaceTensorDataset) -> torch.Tensor:
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


def load_faces(source: str, size: int = 64, *, num_identities: int = 100, images_per_identity: int = 20,
               min_faces_per_person: int = 20, seed: int = 0) -> FaceTensorDataset:
    """Faces from a named source or a folder: ``"synthetic"``, ``"lfw"``, ``"celeba"`` or a path.

    Args:
        source: the source's name, or a folder with one sub-folder of images per person.
        size: image side in pixels.
        num_identities, images_per_identity, seed: the synthetic faces.
        min_faces_per_person: LFW people kept.

    Returns:
        A ``FaceTensorDataset``.

    Raises:
        FileNotFoundError: ``source`` is neither a known source nor an existing folder.
    """
    from . import real

    key = source.strip().lower()
    if key == "synthetic":
        from .synthetic import make_synthetic_faces

        return make_synthetic_faces(num_identities=num_identities, images_per_identity=images_per_identity,
                                    size=size, seed=seed)
    if key == "lfw":
        return real.load_lfw_people(size=size, min_faces_per_person=min_faces_per_person, download=True)
    if key == "celeba":
        return real.load_celeba(size=size, split="train", download=True, max_images=CELEBA_MAX_IMAGES)
    if Path(source).expanduser().is_dir():
        return real.load_image_folder(Path(source).expanduser(), size=size)
    raise FileNotFoundError(f"{source!r} is neither one of {SOURCES} nor an existing folder; pass "
                            "synthetic, lfw or celeba, or the path of a folder with one sub-folder per person.")
