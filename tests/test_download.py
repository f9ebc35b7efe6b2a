"""Downloads are verified before use and archives cannot write outside their folder (no network:
``file://`` URLs and a monkeypatched ``urlopen``; the archives are written by the tests)."""
import hashlib
import io
import os
import stat
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from facelab.data import download
from facelab.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, download_url, extract_archive,
                                   sha256sum)

PAYLOAD = b"faces " * 50_000  # 300 kB: several chunks


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "server" / "faces.bin"
    path.parent.mkdir()
    path.write_bytes(PAYLOAD)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_and_moves_into_place(tmp_path, source):
    target = tmp_path / "cache" / "faces.bin"
    assert download_url(source.as_uri(), target, sha(PAYLOAD), chunk_size=65536) == target
    assert target.read_bytes() == PAYLOAD and sha256sum(target) == sha(PAYLOAD)
    assert sorted(p.name for p in target.parent.iterdir()) == ["faces.bin"]  # no .part left


def test_checksum_mismatch_deletes_the_download(tmp_path, source):
    target = tmp_path / "cache" / "faces.bin"
    with pytest.raises(ChecksumError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}; it was deleted.*Try again"):
        download_url(source.as_uri(), target, "0" * 64)
    assert list(target.parent.iterdir()) == []


def test_an_intact_file_is_not_downloaded_again(tmp_path, monkeypatch):
    target = tmp_path / "faces.bin"
    target.write_bytes(PAYLOAD)
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded again"))
    assert download_url("https://example.invalid/faces.bin", target, sha(PAYLOAD)) == target


def test_a_corrupt_local_copy_is_replaced(tmp_path, source):
    target = tmp_path / "faces.bin"
    target.write_bytes(PAYLOAD[:1000])  # an old, truncated copy
    download_url(source.as_uri(), target, sha(PAYLOAD))
    assert target.read_bytes() == PAYLOAD


def test_interrupted_download_leaves_nothing_behind(tmp_path, monkeypatch):
    class Dropped(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 100_000:
                raise ConnectionResetError("Connection reset by peer")
            return super().read(n)

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Dropped(PAYLOAD))
    target = tmp_path / "faces.bin"
    with pytest.raises(DownloadError, match=r"Could not download .*ConnectionResetError.*partial file was removed"):
        download_url("https://example.invalid/faces.bin", target, sha(PAYLOAD), chunk_size=50_000)
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- archives
def make_zip(path, members):
    """``members``: (name, data) pairs, or (name, target, "symlink")."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data, *kind in members:
            if kind == ["symlink"]:
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, data)
            else:
                archive.writestr(name, data)
    return path


def make_tar(path, members):
    """``members``: (name, data) files or (name, target, tarfile.SYMTYPE/LNKTYPE/CHRTYPE)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, data, *kind in members:
            info = tarfile.TarInfo(name)
            if kind:
                info.type, info.linkname = kind[0], data
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def test_safe_archives_extract(tmp_path):
    good = [("alice/0001.txt", b"a"), ("bob/0001.txt", b"b")]
    make_zip(tmp_path / "faces.zip", good)
    make_tar(tmp_path / "faces.tar.gz", good + [("alice/latest.txt", "0001.txt", tarfile.SYMTYPE)])
    for name in ("faces.zip", "faces.tar.gz"):
        out = extract_archive(tmp_path / name, tmp_path / name.split(".")[1])
        assert (out / "alice" / "0001.txt").read_bytes() == b"a" and (out / "bob" / "0001.txt").read_bytes() == b"b"
    assert (tmp_path / "tar" / "alice" / "latest.txt").read_bytes() == b"a"  # a link inside the folder is fine


@pytest.mark.parametrize("fmt, members, reason", [
    ("zip", [("ok.txt", b"x"), ("../escaped.txt", b"x")], "a '..' component"),
    ("zip", [("ok.txt", b"x"), ("/tmp/escaped.txt", b"x")], "an absolute path"),
    ("zip", [("a/../../escaped.txt", b"x")], "a '..' component"),
    ("zip", [("link", "../../etc/passwd", "symlink")], "a link to '../../etc/passwd', outside"),
    ("tar", [("ok.txt", b"x"), ("../escaped.txt", b"x")], "a '..' component"),
    ("tar", [("/etc/escaped.txt", b"x")], "an absolute path"),
    ("tar", [("link", "/etc/passwd", tarfile.SYMTYPE)], "a link to the absolute path '/etc/passwd'"),
    ("tar", [("a/link", "../../outside", tarfile.SYMTYPE)], "a link to '../../outside', outside"),
    ("tar", [("hard", "../outside", tarfile.LNKTYPE)], "a hard link to '../outside', outside"),
    ("tar", [("tty", "", tarfile.CHRTYPE)], "a device or FIFO type"),
], ids=["zip-dotdot", "zip-absolute", "zip-nested-dotdot", "zip-symlink-out", "tar-dotdot", "tar-absolute",
        "tar-symlink-absolute", "tar-symlink-out", "tar-hardlink-out", "tar-device"])
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path, fmt, members, reason):
    archive = (make_zip if fmt == "zip" else make_tar)(tmp_path / f"evil.{fmt}", members)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError) as err:
        extract_archive(archive, dest)
    message = str(err.value)
    assert reason in message and "could write outside the target folder" in message
    assert "Do not use this archive" in message
    assert not dest.exists()  # checked first: nothing extracted, not even the harmless members
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_missing_archive(tmp_path):
    with pytest.raises(FileNotFoundError, match="No archive at .*download it first"):
        extract_archive(tmp_path / "nothing.zip", tmp_path / "out")


# ----------------------------------------------------------------------------- issue 16: concurrency, bad targets
def test_two_concurrent_downloads_of_one_file_each_get_an_intact_file(tmp_path, monkeypatch):
    """Call A streams two chunks, then call B starts (the old shared ``.part`` was truncated here), then A
    finishes and returns while B is still writing: A's file must be whole, and so must the file B leaves."""
    chunk = 50_000
    a_midway, b_started, a_done = threading.Event(), threading.Event(), threading.Event()
    calls = []

    class Response(io.BytesIO):
        def __init__(self, first):
            super().__init__(PAYLOAD)
            self.first, self.reads = first, 0

        def read(self, n=-1):
            self.reads += 1
            if self.first and self.reads == 3:  # two chunks written: let B begin
                a_midway.set()
                assert b_started.wait(10)
            if not self.first and self.reads == 2:  # B has opened its file and written a chunk
                b_started.set()
                assert a_done.wait(10)
            return super().read(n)

    def urlopen(url, timeout):
        calls.append(url)
        return Response(first=len(calls) == 1)

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)
    target = tmp_path / "faces.bin"
    results, errors, seen_by_a = [], [], []

    def call(first):
        try:
            results.append(download_url("https://example.invalid/faces.bin", target, sha(PAYLOAD), chunk_size=chunk))
            if first:
                seen_by_a.append(target.read_bytes())
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            if first:
                a_done.set()

    a = threading.Thread(target=call, args=(True,))
    a.start()
    assert a_midway.wait(10)
    b = threading.Thread(target=call, args=(False,))
    b.start()
    a.join(20)
    b.join(20)
    assert errors == [] and results == [target, target]
    assert seen_by_a[0] == PAYLOAD  # what A returned as verified really is the file
    assert target.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces.bin"]  # no temporary file left


def test_download_to_a_folder_is_refused_and_leaves_nothing(tmp_path, source):
    (tmp_path / "cache" / "faces.bin").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=r"faces\.bin: that path is a folder, expected a file path"):
        download_url(source.as_uri(), tmp_path / "cache" / "faces.bin", sha(PAYLOAD))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["faces.bin"]  # no .part left behind


def test_download_below_a_file_names_the_file(tmp_path, source):
    (tmp_path / "cache").write_text("I am a file")
    with pytest.raises(NotADirectoryError, match=r"lies below .*cache, which is a file, not a folder.*To fix"):
        download_url(source.as_uri(), tmp_path / "cache" / "lfw" / "faces.bin", sha(PAYLOAD))


def test_download_into_a_read_only_folder_says_so(tmp_path, source, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    with pytest.raises(PermissionError, match=r"ro is read-only for this user.*To fix: download to a folder"):
        download_url(source.as_uri(), folder / "faces.bin", sha(PAYLOAD))
    assert list(folder.iterdir()) == []
