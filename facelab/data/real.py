"""Loaders for real face data sets, all returning :class:`FaceTensorDataset`.

* LFW, Labeled Faces in the Wild (Huang et al. 2007), in :mod:`facelab.data.lfw`
  (re-exported here): scikit-learn's files and layout, decoded without its pickled cache.
* CelebA (Liu et al. 2015, "Deep Learning Face Attributes in the Wild"),
  through ``torchvision.datasets.CelebA``.
* Any folder of face images with one sub-folder per person.
* The 100 LFW faces that scikit-image ships (``skimage.data.lfw_subset``): the
  only real faces available offline with no download at all.

LFW is fetched with scikit-learn's published SHA-256 sums, torchvision's CelebA verifies
the MD5 sums of its files (and extracts only its own archive). Anything else is
fetched with :func:`facelab.data.download.download_url` (SHA-256 checked, partial files
removed) and unpacked with :func:`facelab.data.download.extract_archive` (no member may
escape the target folder).

Images come back as ``(N, 3, size, size)`` float tensors in ``[-1, 1]`` (RGB),
square centre crops suited to each data set. Downloads happen only with
``download=True``; otherwise missing files raise
:class:`~facelab.data.cache.DatasetNotFoundError` naming the data set, the
directory looked in, and how to fix it.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from facelab.data.base import FaceTensorDataset
from facelab.data.cache import data_dir, ensure_dir, missing_dataset_error
from facelab.data.lfw import LfwPairs, load_lfw_pairs, load_lfw_people
from facelab.data.transforms import check_size, to_faces

__all__ = [
    "LfwPairs",
    "load_lfw_people",
    "load_lfw_pairs",
    "load_celeba",
    "load_image_folder",
    "load_lfw_subset",
]

# Aligned CelebA images are 178x218 (w x h); the central 140x140 square holds the
# face from chin to forehead, the usual crop for 64x64 face GANs.
_CELEBA_CROP = 140
_CELEBA_SPLITS = ("train", "valid", "test", "all")

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


# Kept for code that imported these private helpers from here.
_check_size, _to_faces = check_size, to_faces


def load_celeba(
    size: int = 64,
    split: str = "train",
    root: os.PathLike | str | None = None,
    download: bool = False,
    max_images: int | None = None,
    attributes: Sequence[str] = (),
    num_workers: int = 0,
) -> FaceTensorDataset:
    """Load aligned CelebA faces with their identity labels.

    Uses ``torchvision.datasets.CelebA(target_type="identity")``, which checks the
    md5 sums of its annotation files. Its download goes through Google Drive and
    needs the ``gdown`` package (preinstalled on Colab); Drive often refuses it
    for quota reasons, in which case download the files by hand from the CelebA
    site into ``<root>/celeba/``.

    Args:
        size: output side in pixels (the central 140x140 square is resized).
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"all"``.
        root: directory that holds ``celeba/``; defaults to
            :func:`facelab.data.cache.data_dir`.
        download: fetch the ~1.4 GB of files if missing (needs internet).
        max_images: keep only the first this many images of the split (the full
            training split is 162,770 images: about 8 GB as float tensors at 64x64).
        attributes: CelebA attribute names (e.g. ``("Male", "Young")``) to store
            as 0/1 ``groups`` for the fairness experiments.
        num_workers: DataLoader worker processes used to decode the JPEGs.

    Returns:
        The faces; identities renumbered ``0..K-1`` in order of their CelebA id,
        ``names[k]`` the original CelebA identity number as a string.

    Raises:
        DatasetNotFoundError: files missing (or failing torchvision's md5 check)
            and ``download`` is False, or the download failed.
        PermissionError: ``download`` is True but the folder is read-only.
        ValueError: unknown ``split`` or attribute, or bad ``max_images``.
    """
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    size = check_size(size)
    if split not in _CELEBA_SPLITS:
        raise ValueError(f"split must be one of {_CELEBA_SPLITS}, got {split!r}.")
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be a positive integer or None, got {max_images}.")
    root_path = Path(root).expanduser() if root is not None else data_dir()
    folder = root_path / datasets.CelebA.base_folder
    label = "CelebA (torchvision.datasets.CelebA: img_align_celeba/ and 5 md5-checked .txt files)"
    present = (folder / "img_align_celeba").is_dir() and (folder / "identity_CelebA.txt").is_file()
    if not present and not download:
        raise missing_dataset_error(label, folder)
    if not present:  # a read-only folder would otherwise surface as torchvision's "not found or corrupted"
        ensure_dir(folder, f"The CelebA folder {folder}",
                   "set FACELAB_DATA_DIR (or pass root=) to a folder you can write to, or copy CelebA there and "
                   "load it with download=False")
    transform = transforms.Compose(
        [
            transforms.CenterCrop(_CELEBA_CROP),
            transforms.Resize(size, antialias=True),
            transforms.ToTensor(),
        ]
    )
    target_type = ["identity", "attr"] if attributes else ["identity"]
    try:
        celeba = datasets.CelebA(
            str(root_path), split=split, target_type=target_type, transform=transform, download=download
        )
    except (RuntimeError, OSError) as error:  # torchvision's "not found or corrupted", gdown, network
        raise missing_dataset_error(label, folder, error) from error
    columns = []
    for name in attributes:
        if name not in celeba.attr_names:
            raise ValueError(f"Unknown CelebA attribute {name!r}; choose from {list(celeba.attr_names)}.")
        columns.append(celeba.attr_names.index(name))
    dataset = celeba if max_images is None else Subset(celeba, range(min(max_images, len(celeba))))
    images, identities, attrs = [], [], []
    for batch, target in DataLoader(dataset, batch_size=256, num_workers=num_workers):
        images.append(batch * 2.0 - 1.0)
        identity, attr = (target[0], target[1]) if attributes else (target, None)
        identities.append(identity.reshape(-1))
        if attr is not None:
            attrs.append(attr[:, columns])
    if not images:
        raise missing_dataset_error(label, folder, ValueError(f"the {split!r} split lists no images"))
    kept, labels = torch.unique(torch.cat(identities), return_inverse=True)
    groups = {}
    if attributes:
        table = torch.cat(attrs).long()
        groups = {name: table[:, j].contiguous() for j, name in enumerate(attributes)}
    return FaceTensorDataset(torch.cat(images), labels, names=[str(i) for i in kept.tolist()], groups=groups)


def _read_face(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        image.load()  # decode now, so truncated files fail here
        face = ImageOps.fit(image.convert("RGB"), (size, size), method=Image.BICUBIC)
    return np.asarray(face, dtype=np.float32) / 255.0


def load_image_folder(root: os.PathLike | str, size: int = 64) -> FaceTensorDataset:
    """Load a folder of face images laid out one sub-folder per person.

    The layout of ``torchvision.datasets.ImageFolder``: ``root/<person>/<image>``.
    Each image is centre-cropped to a square and resized to ``size``. Files that
    cannot be decoded are skipped with one warning giving their count; files
    without an image extension and hidden entries are ignored.

    Args:
        root: the folder holding one sub-folder per person.
        size: output side in pixels.

    Returns:
        The faces; people sorted by folder name, labelled ``0..K-1``, folder
        names as ``names`` (people with no readable image are dropped).

    Raises:
        FileNotFoundError: ``root`` is missing, has no person sub-folders, or
            holds no readable image.
    """
    size = check_size(size)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Image folder {root} does not exist (or is not a directory); "
            "pass the folder that holds one sub-folder of images per person."
        )
    try:
        people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except PermissionError as error:
        raise PermissionError(f"Image folder {root} cannot be read ({error}); make it readable (chmod u+rX) or "
                              "pass another folder.") from error
    if not people:
        raise FileNotFoundError(
            f"{root} has no sub-folders; expected one sub-folder per person, "
            "e.g. root/Ada_Lovelace/0001.jpg, root/Alan_Turing/0001.png."
        )
    faces, labels, names, bad = [], [], [], []
    for person in people:
        try:
            files = sorted(
                f for f in person.iterdir()
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in _IMAGE_EXTENSIONS
            )
        except OSError as error:  # e.g. PermissionError: skip this person, not the whole folder
            bad.append(f"{person}/ (the folder: {type(error).__name__})")
            continue
        person_faces = []
        for file in files:
            try:
                person_faces.append(_read_face(file, size))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
                bad.append(f"{file} ({type(error).__name__})")
        if person_faces:
            labels.extend([len(names)] * len(person_faces))
            names.append(person.name)
            faces.extend(person_faces)
    if bad:
        warnings.warn(f"Skipped {len(bad)} unreadable image file(s) or folder(s) under {root}, e.g. {bad[0]}; fix "
                      "their permissions (chmod -R u+rX) or remove them to load everything.", stacklevel=2)
    if not faces:
        raise FileNotFoundError(
            f"No readable image ({', '.join(_IMAGE_EXTENSIONS)}) found in the sub-folders of {root}."
        )
    return FaceTensorDataset(to_faces(np.stack(faces), size), torch.tensor(labels), names=names)


def load_lfw_subset(size: int = 32) -> FaceTensorDataset:
    """Load the 100 real LFW faces that scikit-image ships (no download).

    ``skimage.data.lfw_subset()`` holds 100 grey 25x25 face crops (then 100
    non-faces, which are dropped). Their identities are not recorded, so each
    image is its own identity: labels ``0..99``. Good for FID/KID sanity checks
    and for showing real faces offline, not for training a recogniser.

    Args:
        size: output side in pixels (the 25x25 crops are upsampled).

    Returns:
        100 faces, grey replicated to 3 channels, labels ``0..99``.
    """
    from skimage import data

    size = check_size(size)
    faces = np.asarray(data.lfw_subset()[:100])
    if np.issubdtype(faces.dtype, np.integer):
        faces = faces / 255.0
    return FaceTensorDataset(to_faces(faces, size), torch.arange(faces.shape[0]))
