"""Loaders for real face data sets, all returning :class:`FaceTensorDataset`.

* LFW, Labeled Faces in the Wild (Huang et al. 2007, "Labeled Faces in the
  Wild: A Database for Studying Face Recognition in Unconstrained
  Environments"), through scikit-learn's ``fetch_lfw_people`` and
  ``fetch_lfw_pairs``, which already download, parse and cache it.
* CelebA (Liu et al. 2015, "Deep Learning Face Attributes in the Wild"),
  through ``torchvision.datasets.CelebA``.
* Any folder of face images with one sub-folder per person.
* The 100 LFW faces that scikit-image ships (``skimage.data.lfw_subset``): the
  only real faces available offline with no download at all.

facelab downloads none of these files itself: scikit-learn's fetchers verify the
SHA-256 checksums of the LFW files they download, and torchvision's CelebA verifies
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from facelab.data.base import FaceTensorDataset
from facelab.data.cache import data_dir, missing_dataset_error

__all__ = [
    "LfwPairs",
    "load_lfw_people",
    "load_lfw_pairs",
    "load_celeba",
    "load_image_folder",
    "load_lfw_subset",
]

# LFW images are 250x250 with the face roughly centred. scikit-learn's default
# slice (rows 70:195, cols 78:172) is a 125x94 face box; we widen it to the
# 125x125 square around the same centre so faces can be resized without warping.
_LFW_SLICE = (slice(70, 195), slice(63, 188))
_LFW_CROP = 125
_LFW_FILES = ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt")

# Aligned CelebA images are 178x218 (w x h); the central 140x140 square holds the
# face from chin to forehead, the usual crop for 64x64 face GANs.
_CELEBA_CROP = 140
_CELEBA_SPLITS = ("train", "valid", "test", "all")

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass
class LfwPairs:
    """The LFW verification pairs with their official 10-fold split.

    Attributes:
        images_a: ``(P, 3, H, W)`` float tensor in ``[-1, 1]``, first face of each pair.
        images_b: ``(P, 3, H, W)`` float tensor in ``[-1, 1]``, second face.
        same: ``(P,)`` bool tensor, ``True`` for genuine (same person) pairs.
        folds: ``(P,)`` long tensor of official fold indices ``0..9``; pass it as
            ``folds=`` to :func:`facelab.metrics.kfold_verification`.
    """

    images_a: torch.Tensor
    images_b: torch.Tensor
    same: torch.Tensor
    folds: torch.Tensor

    def __post_init__(self) -> None:
        n = self.images_a.shape[0]
        shapes = {
            "images_b": (self.images_b.shape[0],),
            "same": tuple(self.same.shape),
            "folds": tuple(self.folds.shape),
        }
        bad = {k: v for k, v in shapes.items() if v[:1] != (n,)}
        if self.images_a.shape != self.images_b.shape or bad:
            raise ValueError(
                f"LfwPairs fields must all have {n} rows (one per pair) and images_a/images_b "
                f"the same shape; got images_a {tuple(self.images_a.shape)}, "
                f"images_b {tuple(self.images_b.shape)}, same {tuple(self.same.shape)}, "
                f"folds {tuple(self.folds.shape)}."
            )
        self.same = self.same.bool()
        self.folds = self.folds.long()

    def __len__(self) -> int:
        return self.images_a.shape[0]


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(
            f"size must be an integer of at least 8 pixels (64 or 32 in the course), got {size!r}."
        )
    return int(size)


def _to_faces(images: np.ndarray, size: int) -> torch.Tensor:
    """``(N, H, W[, 3])`` floats in ``[0, 1]`` -> ``(N, 3, size, size)`` in ``[-1, 1]``."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    x = x.unsqueeze(1).repeat(1, 3, 1, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()
    if x.shape[-2:] != (size, size) and x.shape[0] > 0:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (x.clamp(0.0, 1.0) * 2.0 - 1.0).contiguous()


def _lfw_present(lfw_home: Path) -> bool:
    """Whether scikit-learn would find LFW (funneled) without downloading."""
    has_images = (lfw_home / "lfw_funneled").is_dir() or (lfw_home / "lfw-funneled.tgz").is_file()
    return has_images and all((lfw_home / name).is_file() for name in _LFW_FILES)


def _fetch_lfw(fetcher_name: str, data_home: os.PathLike | str | None, download: bool, size: int, **kwargs):
    """Call a scikit-learn LFW fetcher, turning missing files into one clear error."""
    from sklearn import datasets

    home = Path(data_home).expanduser() if data_home is not None else data_dir()
    lfw_home = home / "lfw_home"
    label = f"LFW (sklearn.datasets.{fetcher_name})"
    present = _lfw_present(lfw_home)
    if not present and not download:
        raise missing_dataset_error(label, lfw_home)
    try:
        return getattr(datasets, fetcher_name)(
            data_home=str(home),
            funneled=True,
            color=True,
            slice_=_LFW_SLICE,
            # int(resize * 125) must equal `size`; the +0.5 guards against float round-down.
            resize=(size + 0.5) / _LFW_CROP,
            download_if_missing=download,
            **kwargs,
        )
    except OSError as error:  # failed download (URLError is an OSError), or a file vanished
        if present:
            raise
        raise missing_dataset_error(label, lfw_home, error) from error


def load_lfw_people(
    size: int = 64,
    min_faces_per_person: int = 20,
    data_home: os.PathLike | str | None = None,
    download: bool = False,
) -> FaceTensorDataset:
    """Load LFW identities with at least ``min_faces_per_person`` images.

    Uses ``sklearn.datasets.fetch_lfw_people`` (funneled, colour), which caches the
    decoded arrays under ``<data_home>/lfw_home``.

    Args:
        size: output side in pixels (64 or 32 in the course).
        min_faces_per_person: keep only people with at least this many images
            (20 gives 62 people and about 3,000 images).
        data_home: directory that holds (or will hold) ``lfw_home/``; defaults to
            :func:`facelab.data.cache.data_dir`.
        download: fetch the ~230 MB archive if it is missing (needs internet).

    Returns:
        The faces, labels ``0..K-1`` (people sorted by name) and the names.

    Raises:
        DatasetNotFoundError: the files are missing and ``download`` is False, or
            the download failed.
        ValueError: no person has ``min_faces_per_person`` images.
    """
    size = _check_size(size)
    if min_faces_per_person < 0:
        raise ValueError(f"min_faces_per_person must be >= 0, got {min_faces_per_person}.")
    try:
        bunch = _fetch_lfw(
            "fetch_lfw_people", data_home, download, size, min_faces_per_person=min_faces_per_person
        )
    except ValueError as error:
        if "too restrictive" not in str(error):
            raise
        raise ValueError(
            f"No LFW person has at least min_faces_per_person={min_faces_per_person} images; "
            "lower it (LFW has 62 people with >= 20 images, 158 with >= 10)."
        ) from error
    images = _to_faces(bunch.images, size)
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    return FaceTensorDataset(images, labels, names=[str(n) for n in bunch.target_names])


def _pairs_per_fold(pairs_file: Path, num_pairs: int) -> int:
    """Pairs per fold, from the ``"<folds>\\t<pairs per class>"`` header of pairs.txt."""
    try:
        with open(pairs_file, encoding="utf-8") as handle:
            num_folds, per_class = (int(v) for v in handle.readline().split())
    except (OSError, ValueError):
        num_folds, per_class = 10, num_pairs // 20
    if num_folds * 2 * per_class != num_pairs:
        raise ValueError(
            f"{pairs_file} announces {num_folds} folds of 2x{per_class} pairs but lists {num_pairs}; "
            "the file is damaged: delete it (and the lfw_home/joblib cache) and download again."
        )
    return 2 * per_class


def load_lfw_pairs(
    size: int = 64,
    data_home: os.PathLike | str | None = None,
    download: bool = False,
) -> LfwPairs:
    """Load the 6,000 official LFW verification pairs ("View 2", 10 folds).

    Uses ``sklearn.datasets.fetch_lfw_pairs(subset="10_folds")``, which keeps the
    order of ``pairs.txt``: fold after fold, each with its genuine pairs first.

    Args:
        size: output side in pixels.
        data_home: directory that holds ``lfw_home/``; defaults to
            :func:`facelab.data.cache.data_dir`.
        download: fetch the files if they are missing (needs internet).

    Returns:
        The pairs, their same/different labels and official fold indices.

    Raises:
        DatasetNotFoundError: the files are missing and ``download`` is False, or
            the download failed.
    """
    size = _check_size(size)
    bunch = _fetch_lfw("fetch_lfw_pairs", data_home, download, size, subset="10_folds")
    pairs = np.asarray(bunch.pairs)  # (P, 2, h, w, 3)
    num_pairs = pairs.shape[0]
    home = Path(data_home).expanduser() if data_home is not None else data_dir()
    per_fold = _pairs_per_fold(home / "lfw_home" / "pairs.txt", num_pairs)
    return LfwPairs(
        images_a=_to_faces(pairs[:, 0], size),
        images_b=_to_faces(pairs[:, 1], size),
        same=torch.as_tensor(bunch.target == 1),
        folds=torch.arange(num_pairs) // per_fold,
    )


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
        ValueError: unknown ``split`` or attribute, or bad ``max_images``.
    """
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    size = _check_size(size)
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
    size = _check_size(size)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"Image folder {root} does not exist (or is not a directory); "
            "pass the folder that holds one sub-folder of images per person."
        )
    people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not people:
        raise FileNotFoundError(
            f"{root} has no sub-folders; expected one sub-folder per person, "
            "e.g. root/Ada_Lovelace/0001.jpg, root/Alan_Turing/0001.png."
        )
    faces, labels, names, bad = [], [], [], []
    for person in people:
        files = sorted(
            f for f in person.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in _IMAGE_EXTENSIONS
        )
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
        warnings.warn(f"Skipped {len(bad)} unreadable image file(s) under {root}, e.g. {bad[0]}.", stacklevel=2)
    if not faces:
        raise FileNotFoundError(
            f"No readable image ({', '.join(_IMAGE_EXTENSIONS)}) found in the sub-folders of {root}."
        )
    return FaceTensorDataset(_to_faces(np.stack(faces), size), torch.tensor(labels), names=names)


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

    size = _check_size(size)
    faces = np.asarray(data.lfw_subset()[:100])
    if np.issubdtype(faces.dtype, np.integer):
        faces = faces / 255.0
    return FaceTensorDataset(_to_faces(faces, size), torch.arange(faces.shape[0]))
