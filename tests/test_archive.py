"""Issue 16, archives: bombs and archives too big for the disk are refused, nothing is written through a link
already in the target folder, and a damaged or truncated archive leaves nothing behind (all archives are
written by the tests)."""
import io
import os
import shutil
import tarfile
import zipfile
from collections import namedtuple

import pytest

from facelab.data.download import ArchiveError, UnsafeArchiveError, extract_archive

ZEROS = 64 << 20  # 64 MiB of zeros compress to about 64 kB


def leftovers(folder):
    """Everything extraction could have left next to or in the target."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def zip_of(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as handle:
        for name, data in members:
            handle.writestr(name, data)
    return path


def tar_of(path, members):
    with tarfile.open(path, "w:gz") as handle:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            handle.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("make", [zip_of, tar_of], ids=["zip", "tar.gz"])
def test_an_archive_bomb_is_refused_before_anything_is_written(tmp_path, make):
    bomb = make(tmp_path / ("bomb.zip" if make is zip_of else "bomb.tar.gz"), [("zeros.bin", bytes(ZEROS))])
    assert bomb.stat().st_size < ZEROS / 200
    with pytest.raises(UnsafeArchiveError, match=r"would expand to 67,108,864 bytes .*archive bomb.*max_ratio"):
        extract_archive(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == [bomb.name]
    # The caller can raise the limit for an archive it trusts.
    extract_archive(bomb, tmp_path / "out", max_ratio=1e6)
    assert (tmp_path / "out" / "zeros.bin").stat().st_size == ZEROS


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path, monkeypatch):
    small = zip_of(tmp_path / "faces.zip", [("a.txt", b"x" * 1000)])
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10_000, 9_000, 1_000))
    with pytest.raises(ArchiveError, match=r"expands to 1,000 bytes but only 1,000 bytes are free.*Free some space"):
        extract_archive(small, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("make", [zip_of, tar_of], ids=["zip", "tar.gz"])
def test_nothing_is_written_through_a_link_already_in_the_target(tmp_path, make):
    outside, dest = tmp_path / "outside", tmp_path / "dest"
    outside.mkdir()
    dest.mkdir()
    (dest / "photos").symlink_to(outside)  # e.g. left by an earlier archive, or planted
    evil = make(tmp_path / ("evil.zip" if make is zip_of else "evil.tar.gz"),
                [("ok.txt", b"fine"), ("photos/evil.txt", b"owned")])
    with pytest.raises(UnsafeArchiveError, match=r"'photos/evil\.txt' has a path that an existing link"):
        extract_archive(evil, dest)
    assert list(outside.iterdir()) == [] and sorted(p.name for p in dest.iterdir()) == ["photos"]


def test_a_truncated_tar_leaves_nothing_and_says_so(tmp_path):
    whole = tar_of(tmp_path / "whole.tar.gz", [("a/1.bin", os.urandom(100_000)), ("b/2.bin", os.urandom(100_000))])
    cut = tmp_path / "faces.tar.gz"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.7)])  # an interrupted download
    with pytest.raises(ArchiveError, match=r"faces\.tar\.gz is damaged or truncated.*nothing was extracted.*again"):
        extract_archive(cut, tmp_path / "out")
    assert leftovers(tmp_path) == ["faces.tar.gz", "whole.tar.gz"]


def test_a_damaged_zip_leaves_nothing_and_says_so(tmp_path):
    good = zip_of(tmp_path / "good.zip", [("a/1.bin", b"A" * 50_000), ("b/2.bin", b"B" * 50_000)],
                  compression=zipfile.ZIP_STORED)
    data = bytearray(good.read_bytes())
    at = data.index(b"B" * 100)
    data[at : at + 100] = b"C" * 100  # a flipped block inside the second member: its CRC-32 no longer matches
    damaged = tmp_path / "faces.zip"
    damaged.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"faces\.zip is damaged or truncated \(BadZipFile: Bad CRC-32"):
        extract_archive(damaged, tmp_path / "out")
    assert leftovers(tmp_path) == ["faces.zip", "good.zip"]  # not even the intact first member


def test_a_cut_zip_is_called_damaged_not_unknown(tmp_path):
    good = zip_of(tmp_path / "good.zip", [("a.bin", os.urandom(10_000))])
    (tmp_path / "faces.zip").write_bytes(good.read_bytes()[:5_000])
    with pytest.raises(ArchiveError, match=r"its name says it is: it is damaged or truncated.*download it again"):
        extract_archive(tmp_path / "faces.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extraction_merges_into_an_existing_folder_and_leaves_no_scratch(tmp_path):
    dest = tmp_path / "dest"
    (dest / "alice").mkdir(parents=True)
    (dest / "keep.txt").write_text("mine")
    (dest / "alice" / "old.txt").write_text("old")
    extract_archive(zip_of(tmp_path / "faces.zip", [("alice/new.txt", b"new"), ("bob/1.txt", b"b")]), dest)
    assert leftovers(tmp_path) == ["dest", "dest/alice", "dest/alice/new.txt", "dest/alice/old.txt", "dest/bob",
                                   "dest/bob/1.txt", "dest/keep.txt", "faces.zip"]
