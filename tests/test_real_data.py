"""Tests of the real-data loaders on small fake trees in each data set's own on-disk format.

Nothing here downloads: an autouse fixture makes every socket connection fail.
"""
from __future__ import annotations

import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facelab.data import real
from facelab.data.cache import DatasetNotFoundError, data_dir


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def _save(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (250, 250)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


# ----------------------------------------------------------------------------- cache
def test_data_dir_env_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path / "cache"))
    assert data_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    monkeypatch.delenv("FACELAB_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".cache" / "facelab"


# ----------------------------------------------------------------------------- LFW (scikit-learn's layout)
PEOPLE = {"Ada_Lovelace": (200, 30, 30), "Alan_Turing": (30, 200, 30), "Grace_Hopper": (30, 30, 200)}
COUNTS = {"Ada_Lovelace": 3, "Alan_Turing": 2, "Grace_Hopper": 1}


def _fake_lfw(home: Path) -> Path:
    """``<home>/lfw_home`` as fetch_lfw_people / fetch_lfw_pairs leave it after a download."""
    lfw_home = home / "lfw_home"
    for name, colour in PEOPLE.items():
        for k in range(1, COUNTS[name] + 1):
            _save(lfw_home / "lfw_funneled" / name / f"{name}_{k:04d}.jpg", colour)
    # pairs.txt: "<folds>\t<pairs per class>", then per fold the same-person lines
    # ("name i j") followed by the different-person lines ("name1 i name2 j").
    lines = ["10\t1"]
    for fold in range(10):
        lines.append(f"Ada_Lovelace\t1\t{2 + fold % 2}")
        lines.append(f"Alan_Turing\t{1 + fold % 2}\tGrace_Hopper\t1")
    (lfw_home / "pairs.txt").write_text("\n".join(lines) + "\n")
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt"):
        (lfw_home / name).write_text("1\n")
    return lfw_home


def test_load_lfw_people_fake_tree(tmp_path: Path) -> None:
    _fake_lfw(tmp_path)
    faces = real.load_lfw_people(size=32, min_faces_per_person=2, data_home=tmp_path)
    assert faces.images.shape == (5, 3, 32, 32) and faces.images.dtype == torch.float32
    assert faces.names == ["Ada Lovelace", "Alan Turing"]
    assert sorted(faces.labels.tolist()) == [0, 0, 0, 1, 1]
    for label, name in enumerate(PEOPLE):
        if label < 2:  # each person's solid colour survives JPEG, crop and resize, in RGB order
            expected = torch.tensor(PEOPLE[name]) / 255 * 2 - 1
            mean = faces.images[faces.labels == label].mean(dim=(0, 2, 3))
            np.testing.assert_allclose(mean.numpy(), expected.numpy(), atol=0.05)
    assert real.load_lfw_people(size=64, min_faces_per_person=1, data_home=tmp_path).images.shape == (6, 3, 64, 64)


def test_load_lfw_people_too_restrictive(tmp_path: Path) -> None:
    _fake_lfw(tmp_path)
    with pytest.raises(ValueError, match="min_faces_per_person=20"):
        real.load_lfw_people(data_home=tmp_path)


def test_load_lfw_pairs_fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_lfw(tmp_path)
    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path))  # the default data_home
    pairs = real.load_lfw_pairs(size=32)
    assert len(pairs) == 20 and pairs.images_a.shape == (20, 3, 32, 32) == pairs.images_b.shape
    assert pairs.same.tolist() == [True, False] * 10
    assert pairs.folds.tolist() == [k // 2 for k in range(20)]
    red, green = torch.tensor([200, 30, 30]) / 255 * 2 - 1, torch.tensor([30, 200, 30]) / 255 * 2 - 1
    np.testing.assert_allclose(pairs.images_b[0].mean(dim=(1, 2)).numpy(), red.numpy(), atol=0.05)
    np.testing.assert_allclose(pairs.images_a[1].mean(dim=(1, 2)).numpy(), green.numpy(), atol=0.05)


def test_lfw_missing_files_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path))
    for load in (real.load_lfw_people, real.load_lfw_pairs):
        with pytest.raises(DatasetNotFoundError) as info:
            load()
        message = str(info.value)
        assert "LFW" in message and str(tmp_path / "lfw_home") in message
        assert "download=True" in message and "FACELAB_DATA_DIR" in message


def test_lfw_failed_download_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facelab.data import download

    def offline(*args, **kwargs):  # what urlopen raises without a network
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)
    with pytest.raises(DatasetNotFoundError, match="URLError"):
        real.load_lfw_people(data_home=tmp_path, download=True)
    assert sorted(p.name for p in (tmp_path / "lfw_home").iterdir()) == []  # no partial download left


# ----------------------------------------------------------------------------- CelebA (torchvision's layout)
CELEBA_IDS = [10, 20, 10, 30, 20, 10]
CELEBA_SPLIT = [0, 0, 0, 0, 1, 2]


def _fake_celeba(root: Path) -> None:
    folder = root / "celeba"
    names = [f"{k + 1:06d}.jpg" for k in range(len(CELEBA_IDS))]
    for k, name in enumerate(names):
        _save(folder / "img_align_celeba" / name, (40 * k, 100, 200 - 30 * k), size=(178, 218))

    def table(filename: str, header: str | None, rows: list[str]) -> None:
        head = [str(len(rows)), header] if header is not None else []
        (folder / filename).write_text("\n".join(head + rows) + "\n")

    table("list_eval_partition.txt", None, [f"{n} {s}" for n, s in zip(names, CELEBA_SPLIT)])
    table("identity_CelebA.txt", None, [f"{n} {i}" for n, i in zip(names, CELEBA_IDS)])
    table("list_attr_celeba.txt", "Male Young", [f"{n}  {1 if k % 2 else -1} 1" for k, n in enumerate(names)])
    table("list_bbox_celeba.txt", "image_id x_1 y_1 width height", [f"{n} 1 2 3 4" for n in names])
    landmarks = " ".join(f"{part}_{axis}" for part in ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
                         for axis in "xy")
    table("list_landmarks_align_celeba.txt", landmarks, [f"{n} " + " ".join(["5"] * 10) for n in names])


@pytest.fixture
def celeba_without_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make torchvision's CelebA accept our fake annotation files.

    ``CelebA._check_integrity`` compares the md5 of each annotation file with the
    md5 of the real 202,599-line file, which a small fake tree cannot match. The
    test replaces it with a presence-only check (same files, same image folder);
    the loader itself runs torchvision's code unchanged.
    """
    from torchvision.datasets import CelebA

    def present(self) -> bool:
        folder = Path(self.root) / self.base_folder
        files = [f for _, _, f in self.file_list if not f.endswith(".zip")]
        return all((folder / f).is_file() for f in files) and (folder / "img_align_celeba").is_dir()

    monkeypatch.setattr(CelebA, "_check_integrity", present)


@pytest.mark.usefixtures("celeba_without_md5")
def test_load_celeba_fake_tree(tmp_path: Path) -> None:
    _fake_celeba(tmp_path)
    train = real.load_celeba(size=32, root=tmp_path, attributes=("Male",))
    assert train.images.shape == (4, 3, 32, 32)
    assert train.images.min() >= -1 and train.images.max() <= 1
    assert train.labels.tolist() == [0, 1, 0, 2] and train.names == ["10", "20", "30"]
    assert train.groups["Male"].tolist() == [0, 1, 0, 1]
    expected = torch.tensor([40.0, 100, 170]) / 255 * 2 - 1  # the colour of image 000002.jpg
    np.testing.assert_allclose(train.images[1].mean(dim=(1, 2)).numpy(), expected.numpy(), atol=0.05)
    every = real.load_celeba(size=32, split="all", root=tmp_path, max_images=5)
    assert len(every) == 5 and every.num_identities == 3
    with pytest.raises(ValueError, match="Unknown CelebA attribute"):
        real.load_celeba(root=tmp_path, attributes=("Smiling",))
    with pytest.raises(ValueError, match="split"):
        real.load_celeba(root=tmp_path, split="validation")


def test_celeba_missing_files_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as info:
        real.load_celeba(root=tmp_path)
    message = str(info.value)
    assert "CelebA" in message and str(tmp_path / "celeba") in message and "download=True" in message
    # With download=True and no way to download (no gdown / no network): the same clear error.
    with pytest.raises(DatasetNotFoundError, match="CelebA"):
        real.load_celeba(root=tmp_path, download=True)


# ----------------------------------------------------------------------------- image folder
def test_load_image_folder(tmp_path: Path) -> None:
    root = tmp_path / "faces"
    _save(root / "Alice" / "0.png", (255, 0, 0), size=(40, 30))
    _save(root / "Alice" / "1.png", (250, 5, 5), size=(30, 30))
    _save(root / "Bob" / "0.png", (0, 0, 255), size=(30, 30))
    (root / "Bob" / "broken.png").write_bytes(b"not a png")
    (root / "Bob" / ".hidden.png").write_bytes(b"ignored")
    (root / "Carol").mkdir()
    (root / "Carol" / "notes.txt").write_text("no images here")
    with pytest.warns(UserWarning, match="Skipped 1 unreadable"):
        faces = real.load_image_folder(root, size=16)
    assert faces.images.shape == (3, 3, 16, 16)
    assert faces.labels.tolist() == [0, 0, 1] and faces.names == ["Alice", "Bob"]
    assert faces.images[2, 2].mean() > 0.9 and faces.images[2, 0].mean() < -0.9


def test_load_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        real.load_image_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="one sub-folder per person"):
        real.load_image_folder(tmp_path / "empty")
    (tmp_path / "empty" / "Dan").mkdir()
    with pytest.raises(FileNotFoundError, match="No readable image"):
        real.load_image_folder(tmp_path / "empty")


# ----------------------------------------------------------------------------- lfw_subset (shipped offline)
def test_load_lfw_subset() -> None:
    faces = real.load_lfw_subset()
    assert faces.images.shape == (100, 3, 32, 32)
    assert faces.labels.tolist() == list(range(100))
    assert -1.0 <= faces.images.min() < faces.images.max() <= 1.0
    assert torch.equal(faces.images[:, 0], faces.images[:, 2])  # grey -> 3 equal channels
    assert real.load_lfw_subset(size=64).images.shape == (100, 3, 64, 64)
    with pytest.raises(ValueError, match="size"):
        real.load_lfw_subset(size=0)
    assert np.isfinite(faces.images.numpy()).all()


# ----------------------------------------------------------------------------- issue 16, item 12: clear errors
def test_data_dir_below_a_file_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "notes.txt").write_text("a file")
    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path / "notes.txt" / "data"))
    with pytest.raises(NotADirectoryError, match=r"lies below .*notes\.txt, which is a file.*To fix: point "
                                                  r"FACELAB_DATA_DIR at a folder"):
        data_dir()
    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path / "notes.txt"))
    with pytest.raises(NotADirectoryError, match=r"notes\.txt is a file, not a folder"):
        data_dir()


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make ``folder`` and everything below it look read-only (the tests run as root, which chmod cannot stop)."""
    import os

    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).startswith(str(folder)) and mode & os.W_OK
                        else access(p, mode))


def test_lfw_download_into_a_read_only_folder_says_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _read_only(monkeypatch, tmp_path / "shared")
    (tmp_path / "shared").mkdir()
    with pytest.raises(PermissionError, match=r"lfw_home is read-only for this user.*To fix: set FACELAB_DATA_DIR"):
        real.load_lfw_people(data_home=tmp_path / "shared", download=True)


def test_celeba_download_into_a_read_only_folder_says_read_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _read_only(monkeypatch, tmp_path)
    with pytest.raises(PermissionError, match=r"celeba is read-only for this user.*pass root="):
        real.load_celeba(root=tmp_path, download=True)


def test_data_dir_that_cannot_be_created_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setenv("FACELAB_DATA_DIR", str(tmp_path / "new" / "data"))
    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(PermissionError, match=r"data cannot be created: .* is read-only .*To fix: point FACELAB_DATA_DIR"):
        data_dir()


def test_lfw_loads_from_a_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from facelab.data import lfw

    _fake_lfw(tmp_path)
    _read_only(monkeypatch, tmp_path)
    monkeypatch.setattr(lfw, "save_tensors", lambda *a: False)  # what a read-only folder makes of the cache
    assert len(real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)) == 6


def test_unreadable_person_folder_is_skipped_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "faces"
    _save(root / "Alice" / "0.png", (255, 0, 0), size=(30, 30))
    _save(root / "Bob" / "0.png", (0, 0, 255), size=(30, 30))
    lfw_home = _fake_lfw(tmp_path)
    iterdir = Path.iterdir

    def locked(self):
        if self.name in ("Bob", "Grace_Hopper"):
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", locked)
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable .*Bob/ \(the folder: PermissionError\).*chmod"):
        faces = real.load_image_folder(root, size=16)
    assert faces.names == ["Alice"] and len(faces) == 1
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable LFW person folder.*Grace_Hopper.*chmod"):
        people = real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)
    assert people.names == ["Ada Lovelace", "Alan Turing"] and (lfw_home / "lfw_funneled").is_dir()


def test_empty_lfw_folder_is_called_incomplete_not_too_restrictive(tmp_path: Path) -> None:
    lfw_home = _fake_lfw(tmp_path)
    import shutil

    shutil.rmtree(lfw_home / "lfw_funneled")
    (lfw_home / "lfw_funneled").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"lfw_funneled holds no person folders.*download=True") as err:
        real.load_lfw_people(data_home=tmp_path)
    assert "min_faces_per_person" not in str(err.value)


@pytest.mark.parametrize("cut, error", [
    ("Alan_Turing\t1\tGrace_Hop", r"line 21: 'Alan_Turing\\t1\\tGrace_Hop' is not a pair .*cut short"),
    ("Alan_Turing\t1", r"line 21: 'Alan_Turing\\t1' is not a pair"),
    ("Ada_Lovelace\t1\t9", r"line 21 names image 9 of Ada_Lovelace, but .*Ada_Lovelace holds 3 image"),
    (None, r"announces 10 folds of 2x1 pairs but lists 19: the file is damaged or was cut short"),
], ids=["mid-name", "mid-line", "missing-image", "whole-line"])
def test_damaged_pairs_txt_names_the_line_and_the_fix(tmp_path: Path, cut, error) -> None:
    lfw_home = _fake_lfw(tmp_path)
    lines = (lfw_home / "pairs.txt").read_text().splitlines()
    (lfw_home / "pairs.txt").write_text("\n".join(lines[:-1] + ([cut] if cut else [])))  # as an interrupted copy
    with pytest.raises(ValueError, match=error) as err:
        real.load_lfw_pairs(size=32, data_home=tmp_path)
    assert "download=True" in str(err.value)


def test_damaged_lfw_image(tmp_path: Path) -> None:
    lfw_home = _fake_lfw(tmp_path)
    (lfw_home / "lfw_funneled" / "Ada_Lovelace" / "Ada_Lovelace_0002.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match=r"Skipped 1 unreadable LFW image.*Ada_Lovelace_0002\.jpg"):
        assert len(real.load_lfw_people(size=32, min_faces_per_person=1, data_home=tmp_path)) == 5
    with pytest.raises(ValueError, match=r"LFW image .*Ada_Lovelace_0002\.jpg cannot be read.*download=True"):
        real.load_lfw_pairs(size=32, data_home=tmp_path)


def test_lfw_download_is_verified_and_extracted_safely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """download=True on file:// copies of the two files: SHA-256 checked, archive extracted, then removed."""
    import hashlib
    import tarfile

    from facelab.data import lfw

    source = _fake_lfw(tmp_path / "server")
    archive = tmp_path / "server" / "lfw-funneled.tgz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(source / "lfw_funneled", arcname="lfw_funneled")
    for name, path in (("_FUNNELED", archive), ("_PAIRS", source / "pairs.txt")):
        monkeypatch.setattr(lfw, name, (path.name, path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()))
    pairs = real.load_lfw_pairs(size=32, data_home=tmp_path / "home", download=True)
    assert len(pairs) == 20 and pairs.same.tolist() == [True, False] * 10
    home = tmp_path / "home" / "lfw_home"
    assert sorted(p.name for p in home.iterdir()) == ["facelab_cache", "lfw_funneled", "pairs.txt"]
    monkeypatch.setattr(lfw, "_PAIRS", ("pairs.txt", (source / "pairs.txt").as_uri(), "0" * 64))
    (home / "pairs.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"ChecksumError"):
        real.load_lfw_pairs(size=32, data_home=tmp_path / "home", download=True)
