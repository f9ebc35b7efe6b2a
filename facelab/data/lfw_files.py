"""Reading LFW's own files: the ``lfw_funneled/<Person>/`` folders, ``pairs.txt`` and the JPEG crops.

The crop and resize are those of scikit-learn's LFW fetchers (``sklearn/datasets/_lfw.py``,
``_load_imgs``) with the square slice facelab uses, so the pixels match what the fetchers returned.
Damaged files get errors that name the file, the line and the fix.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

__all__ = ["list_people", "read_pairs", "decode_faces"]

# LFW images are 250x250 with the face roughly centred. scikit-learn's default
# slice (rows 70:195, cols 78:172) is a 125x94 face box; we widen it to the
# 125x125 square around the same centre so faces can be resized without warping.
_ROWS, _COLS = slice(70, 195), slice(63, 188)
_DAMAGED_IMAGE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
_REDOWNLOAD = "delete lfw_home/lfw_funneled and pairs.txt and load again with download=True"


def _person_files(person: Path) -> list[Path]:
    return sorted(f for f in person.iterdir() if not f.name.startswith(".") and f.is_file())


def list_people(folder: Path) -> dict[str, list[Path]]:
    """``{person folder name: sorted image files}``, people sorted by name; unreadable folders skipped with a warning."""
    people, unreadable = {}, []
    for person in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            people[person.name] = _person_files(person)
        except OSError as error:  # e.g. PermissionError: skip this person, not the whole data set
            unreadable.append(f"{person} ({type(error).__name__})")
    if unreadable:
        warnings.warn(f"Skipped {len(unreadable)} unreadable LFW person folder(s), e.g. {unreadable[0]}; fix their "
                      "permissions (chmod -R u+rX) to include them.", stacklevel=3)
    return people


def _pair_line(fields: list[str]) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """``((name, index), (name, index))`` of one pairs.txt line (0-based indices), or ``None`` if malformed."""
    try:
        if len(fields) == 3:
            return (fields[0], int(fields[1]) - 1), (fields[0], int(fields[2]) - 1)
        if len(fields) == 4:
            return (fields[0], int(fields[1]) - 1), (fields[2], int(fields[3]) - 1)
    except ValueError:
        return None
    return None


def read_pairs(pairs_file: Path, folder: Path) -> tuple[list[Path], list[Path], list[bool], int]:
    """Parse ``pairs.txt``: the two image files of each pair, whether it is genuine, and pairs per fold.

    The file is ``"<folds>\\t<pairs per class>"`` and then, fold after fold, the genuine pairs
    (``name i j``) and the impostor pairs (``name1 i name2 j``).
    """
    try:
        lines = pairs_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(f"{pairs_file} is not a text file ({error}): it is damaged; {_REDOWNLOAD}.") from error
    try:
        num_folds, per_class = (int(v) for v in lines[0].split())
    except (IndexError, ValueError):
        num_folds, per_class = None, None
    firsts, seconds, same, listed = [], [], [], {}
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        pair = _pair_line(fields)
        if pair is None or min(pair[0][1], pair[1][1]) < 0:
            raise ValueError(
                f"{pairs_file}, line {number}: {line!r} is not a pair (expected 'name<TAB>i<TAB>j' or "
                f"'name1<TAB>i<TAB>name2<TAB>j' with image numbers from 1): the file is damaged or was cut short. "
                f"To fix: {_REDOWNLOAD}, or copy a complete pairs.txt there."
            )
        for (name, index), out in zip(pair, (firsts, seconds)):
            if name not in listed:
                listed[name] = _person_files(folder / name) if (folder / name).is_dir() else []
            if index >= len(listed[name]):
                raise ValueError(
                    f"{pairs_file}, line {number} names image {index + 1} of {name}, but {folder / name} holds "
                    f"{len(listed[name])} image(s): lfw_funneled/ is incomplete or does not match pairs.txt. "
                    f"To fix: {_REDOWNLOAD}."
                )
            out.append(listed[name][index])
        same.append(len(fields) == 3)
    if num_folds is None:
        num_folds, per_class = 10, len(same) // 20
    if num_folds * 2 * per_class != len(same) or not same:
        raise ValueError(
            f"{pairs_file} announces {num_folds} folds of 2x{per_class} pairs but lists {len(same)}: the file is "
            f"damaged or was cut short. To fix: {_REDOWNLOAD}."
        )
    return firsts, seconds, same, 2 * per_class


def _decode(path: Path, size: int) -> np.ndarray:
    with Image.open(path) as image:
        image = image.crop((_COLS.start, _ROWS.start, _COLS.stop, _ROWS.stop))
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image.resize((size, size)), dtype=np.uint8)  # PIL's default filter, as scikit-learn


def decode_faces(files: list[Path], size: int, *, skip_unreadable: bool = False) -> tuple[torch.Tensor, np.ndarray]:
    """Decode LFW images into ``(N, size, size, 3)`` uint8 crops; also return which files were decoded.

    Args:
        files: the JPEG files.
        size: output side.
        skip_unreadable: skip damaged or unreadable files with one warning, instead of raising.
    """
    faces = np.zeros((len(files), size, size, 3), dtype=np.uint8)
    ok = np.ones(len(files), dtype=bool)
    bad = []
    for i, file in enumerate(files):
        try:
            faces[i] = _decode(file, size)
        except _DAMAGED_IMAGE as error:
            if not skip_unreadable:
                raise ValueError(f"The LFW image {file} cannot be read ({type(error).__name__}: {error}). "
                                 f"To fix: {_REDOWNLOAD}.") from error
            ok[i] = False
            bad.append(f"{file} ({type(error).__name__})")
    if bad:
        warnings.warn(f"Skipped {len(bad)} unreadable LFW image(s), e.g. {bad[0]}; {_REDOWNLOAD} to restore "
                      "them.", stacklevel=3)
    return torch.from_numpy(faces[ok]), ok
