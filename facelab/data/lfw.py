"""LFW, Labeled Faces in the Wild (Huang et al. 2007, "Labeled Faces in the Wild: A Database for
Studying Face Recognition in Unconstrained Environments"): identities and the official pairs.

The files are the ones scikit-learn's ``fetch_lfw_people`` / ``fetch_lfw_pairs`` use, in the same
on-disk layout (``<data_home>/lfw_home/lfw_funneled/<Person>/<Person>_0001.jpg`` and ``pairs.txt``),
and the faces come out as those fetchers decode them (same crop, resize and order). facelab decodes
them itself instead of calling the fetchers, because the fetchers cache their results with
``joblib.Memory``, which unpickles ``lfw_home/joblib/**/output.pkl``: a planted file there runs code,
and data folders get copied and shared. Here nothing is unpickled:

* downloads go through :func:`facelab.data.download.download_url` with the SHA-256 sums scikit-learn
  publishes, the archive through :func:`facelab.data.download.extract_archive`;
* decoded faces are cached per process (chapters load LFW repeatedly) and on disk as plain tensors
  (:mod:`facelab.data.decoded_cache`: ``.npz`` read with ``allow_pickle=False``), keyed by the settings and the source files, and verified.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facelab.data.base import FaceTensorDataset
from facelab.data.cache import DatasetNotFoundError, data_dir, ensure_dir, missing_dataset_error
from facelab.data.decoded_cache import load_tensors, save_tensors
from facelab.data.download import DownloadError, download_url, extract_archive
from facelab.data.lfw_files import decode_faces, list_people, read_pairs
from facelab.data.transforms import check_size, to_faces

__all__ = ["LfwPairs", "load_lfw_people", "load_lfw_pairs", "clear_lfw_memory"]

# The files scikit-learn's LFW fetchers download (sklearn/datasets/_lfw.py): name, URL, SHA-256.
_FUNNELED = ("lfw-funneled.tgz", "https://ndownloader.figshare.com/files/5976015",
             "b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a")
_PAIRS = ("pairs.txt", "https://ndownloader.figshare.com/files/5976006",
          "ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592")
_LABEL = "LFW (lfw_funneled/ and pairs.txt)"
_CACHE_VERSION = 1
_MEMORY: dict[str, tuple[dict[str, torch.Tensor], dict]] = {}  # key -> decoded uint8 faces: one decode per process


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
        shapes = {"images_b": (self.images_b.shape[0],), "same": tuple(self.same.shape),
                  "folds": tuple(self.folds.shape)}
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


def clear_lfw_memory() -> None:
    """Forget the faces decoded in this process (the disk cache stays)."""
    _MEMORY.clear()


def _lfw_home(data_home: os.PathLike | str | None) -> Path:
    return (Path(data_home).expanduser() if data_home is not None else data_dir()) / "lfw_home"


def _fetch(lfw_home: Path, file: tuple[str, str, str]) -> None:
    ensure_dir(lfw_home, f"The LFW folder {lfw_home}",
               "set FACELAB_DATA_DIR (or pass data_home=) to a folder you can write to, or copy LFW there "
               "and load it with download=False")
    try:
        download_url(file[1], lfw_home / file[0], file[2])
    except DownloadError as error:
        raise missing_dataset_error(_LABEL, lfw_home, error) from error


def _ensure_files(lfw_home: Path, download: bool, pairs: bool) -> Path:
    """The image folder (downloading/extracting it if needed and allowed); raise if it cannot be had."""
    folder = lfw_home / "lfw_funneled"
    archive = lfw_home / _FUNNELED[0]
    wanted = [lfw_home / _PAIRS[0]] if pairs else []
    missing = [p for p in wanted if not p.is_file()] + ([] if folder.is_dir() or archive.is_file() else [folder])
    if missing and not download:
        raise missing_dataset_error(_LABEL, lfw_home)
    if download and pairs and not (lfw_home / _PAIRS[0]).is_file():
        _fetch(lfw_home, _PAIRS)
    if not folder.is_dir():
        if not archive.is_file():
            _fetch(lfw_home, _FUNNELED)
        extract_archive(archive, lfw_home)  # checked, capped, all or nothing
        archive.unlink(missing_ok=True)  # a concurrent load may have removed it already
    return folder


def _fingerprint(files: list[Path], root: Path) -> str:
    """Names, sizes and modification times of the source files: the cache is stale when any changes."""
    digest = hashlib.sha256()
    for file in files:
        info = file.stat()
        digest.update(f"{file.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _memory_key(lfw_home: Path, kind: str, settings: dict) -> str:
    """Cheap to compute (no listing of 13,000 files, slow on a mounted Drive): the folder, the settings, and
    the modification times of ``lfw_funneled/`` and ``pairs.txt``. After changing images inside person
    folders in a running process, call :func:`clear_lfw_memory`."""
    stamps = [(p.name, p.stat().st_mtime_ns) for p in (lfw_home / "lfw_funneled", lfw_home / _PAIRS[0]) if p.exists()]
    return json.dumps([str(lfw_home.resolve()), kind, settings, stamps], sort_keys=True)


def _cached(lfw_home: Path, kind: str, settings: dict, files: list[Path], decode) -> tuple[dict, dict]:
    """The decoded faces for ``settings``: from the disk cache if it is current and intact, or decoded now."""
    key = hashlib.sha256(json.dumps({"version": _CACHE_VERSION, "kind": kind, **settings,
                                     "files": _fingerprint(files, lfw_home)}, sort_keys=True).encode()).hexdigest()
    path = lfw_home / "facelab_cache" / f"{kind}-{settings['size']}-{key[:16]}.npz"
    entry = load_tensors(path, key)
    if entry is None:
        entry = decode()
        save_tensors(path, key, *entry)  # a read-only folder is fine: it is decoded again next time
    _MEMORY[_memory_key(lfw_home, kind, settings)] = entry
    return entry


def load_lfw_people(
    size: int = 64,
    min_faces_per_person: int = 20,
    data_home: os.PathLike | str | None = None,
    download: bool = False,
) -> FaceTensorDataset:
    """Load LFW identities with at least ``min_faces_per_person`` images.

    The faces are those ``sklearn.datasets.fetch_lfw_people(funneled=True, color=True)`` returns
    for the square crop, in the same order, but decoded without its pickled cache (see the module).

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
        DatasetNotFoundError: the files are missing (or ``lfw_funneled/`` is empty) and
            ``download`` is False, or the download failed.
        PermissionError: ``download`` is True but the data folder is read-only.
        ValueError: no person has ``min_faces_per_person`` images, or an image is damaged.
    """
    size = check_size(size)
    if min_faces_per_person < 0:
        raise ValueError(f"min_faces_per_person must be >= 0, got {min_faces_per_person}.")
    lfw_home = _lfw_home(data_home)
    folder = _ensure_files(lfw_home, download, pairs=False)
    settings = {"size": size, "min_faces": min_faces_per_person}
    entry = _MEMORY.get(_memory_key(lfw_home, "people", settings))
    if entry is not None:  # decoded earlier in this process
        return _people(entry, size)
    people = list_people(folder)
    if not people:
        raise DatasetNotFoundError(
            f"{folder} holds no person folders, so LFW is not (fully) there: the archive was not extracted "
            "completely or the folder was copied empty. Delete it and load again with download=True, or copy "
            "the complete lfw_funneled/ folder (5,749 person folders) there."
        )
    kept = {name: files for name, files in people.items() if len(files) >= min_faces_per_person}
    if not kept:
        most = max(len(files) for files in people.values())
        raise ValueError(
            f"No LFW person has at least min_faces_per_person={min_faces_per_person} images (the most any of the "
            f"{len(people)} people in {folder} has is {most}); lower it (LFW has 62 people with >= 20 images, "
            "158 with >= 10)."
        )
    names = [name.replace("_", " ") for name, files in kept.items() for _ in files]
    files = [file for person in kept.values() for file in person]

    def decode():
        faces, ok = decode_faces(files, size, skip_unreadable=True)
        target_names, target = np.unique(np.asarray(names)[ok], return_inverse=True)
        order = np.arange(len(target))
        np.random.RandomState(42).shuffle(order)  # scikit-learn's order, so results match its fetcher's
        return ({"faces": faces[torch.from_numpy(order)], "labels": torch.from_numpy(target[order]).long()},
                {"names": [str(n) for n in target_names]})

    return _people(_cached(lfw_home, "people", settings, files, decode), size)


def _people(entry: tuple[dict, dict], size: int) -> FaceTensorDataset:
    tensors, extra = entry  # a fresh float copy each time: callers may change theirs
    return FaceTensorDataset(to_faces(tensors["faces"], size), tensors["labels"].clone(), names=list(extra["names"]))


def load_lfw_pairs(
    size: int = 64,
    data_home: os.PathLike | str | None = None,
    download: bool = False,
) -> LfwPairs:
    """Load the 6,000 official LFW verification pairs ("View 2", 10 folds).

    The pairs are those ``sklearn.datasets.fetch_lfw_pairs(subset="10_folds")`` returns, in the
    order of ``pairs.txt``: fold after fold, each with its genuine pairs first.

    Args:
        size: output side in pixels.
        data_home: directory that holds ``lfw_home/``; defaults to
            :func:`facelab.data.cache.data_dir`.
        download: fetch the files if they are missing (needs internet).

    Returns:
        The pairs, their same/different labels and official fold indices.

    Raises:
        DatasetNotFoundError: the files are missing and ``download`` is False, or the download failed.
        PermissionError: ``download`` is True but the data folder is read-only.
        ValueError: ``pairs.txt`` is damaged or cut short, or names a missing image.
    """
    size = check_size(size)
    lfw_home = _lfw_home(data_home)
    folder = _ensure_files(lfw_home, download, pairs=True)
    pairs_file = lfw_home / _PAIRS[0]
    entry = _MEMORY.get(_memory_key(lfw_home, "pairs", {"size": size}))
    if entry is not None:  # decoded earlier in this process
        return _pairs(entry, size)
    firsts, seconds, same, per_fold = read_pairs(pairs_file, folder)

    def decode():
        faces, _ = decode_faces(firsts + seconds, size)
        return {"faces": faces, "same": torch.tensor(same)}, {"per_fold": per_fold}

    return _pairs(_cached(lfw_home, "pairs", {"size": size}, [pairs_file] + firsts + seconds, decode), size)


def _pairs(entry: tuple[dict, dict], size: int) -> LfwPairs:
    tensors, extra = entry
    n = tensors["same"].shape[0]
    return LfwPairs(images_a=to_faces(tensors["faces"][:n], size), images_b=to_faces(tensors["faces"][n:], size),
                    same=tensors["same"].clone(), folds=torch.arange(n) // int(extra["per_fold"]))
