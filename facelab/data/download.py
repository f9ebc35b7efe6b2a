"""Downloads that are checked before use, and archives that cannot write outside their folder.

Two rules keep a download from hurting the reader:

* **Verify before use.** :func:`download_url` streams the file to ``<name>.part``, hashing
  it on the way, and moves it into place (atomically, with ``os.replace``) only when its
  SHA-256 equals the one the caller pinned. An interrupted download or a file that does
  not match is deleted, so a later run never mistakes it for the real thing.
* **Extract safely.** An archive member named ``../../.bashrc`` or ``/etc/passwd``, or a
  link pointing out of the target folder, would let an archive overwrite any file the
  user can write ("zip slip"). :func:`extract_archive` checks every member of a zip or tar
  file *before* extracting anything and refuses such archives (and device files) with
  :class:`UnsafeArchiveError`; for tar files it also applies Python's ``"data"``
  extraction filter (PEP 706) as a second line of defence.

The real data sets of the course come through libraries that keep their own checks:
scikit-learn's LFW fetchers pin SHA-256 sums of the archives they download, torchvision's
CelebA checks MD5 sums of its files, and torchvision's pretrained weights are checked
against the hash prefix in their file names. These helpers are for everything else
facelab or a reader fetches.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

__all__ = ["DownloadError", "ChecksumError", "UnsafeArchiveError", "sha256sum", "download_url", "extract_archive"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(OSError):
    """A download failed (network, HTTP error, interrupted); nothing was left behind."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 differs from the expected one; the file was deleted."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder (or is a device file)."""


def sha256sum(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of a file as 64 lower-case hex digits, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def download_url(url: str, path: str | os.PathLike, sha256: str, *, timeout: float = 60.0,
                 chunk_size: int = 1 << 20) -> Path:
    """Download ``url`` to ``path``, verifying its SHA-256 before it is used.

    The file is streamed to ``path`` + ``".part"`` and moved into place only when its
    checksum matches. If ``path`` already exists with the right checksum, nothing is
    downloaded; if it exists with another, it is replaced.

    Args:
        url: where to fetch from (``https://``, or ``file://`` for a local copy).
        path: where the file goes (parent folders are created).
        sha256: the expected SHA-256, 64 hex digits (publish it next to the URL).
        timeout: seconds to wait for the server before giving up.
        chunk_size: bytes read at a time.

    Returns:
        ``path``.

    Raises:
        ValueError: ``sha256`` is not 64 hex digits.
        ChecksumError: the download does not match ``sha256`` (the file is deleted).
        DownloadError: the download failed (the partial file is deleted).
    """
    expected = str(sha256).strip().lower()
    if not _SHA256.match(expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}; compute it with "
                         "facelab.data.download.sha256sum(path) on a copy you trust (or `sha256sum FILE`).")
    path = Path(path)
    if path.is_file() and sha256sum(path, chunk_size) == expected:
        return path  # already here and intact
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            for block in iter(lambda: response.read(chunk_size), b""):
                digest.update(block)
                out.write(block)
    except BaseException as error:  # network errors, HTTP errors, Ctrl-C: never leave a partial file
        part.unlink(missing_ok=True)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        raise DownloadError(
            f"Could not download {url} to {path}: {type(error).__name__}: {error}. The partial file was removed. "
            "Check the URL and your internet connection and try again, or fetch the file by hand and put it at "
            f"{path}."
        ) from error
    actual = digest.hexdigest()
    if actual != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"The file downloaded from {url} has SHA-256 {actual}, expected {expected}; it was deleted. The "
            "download was corrupted or the file on the server changed (or was tampered with). Try again; if it "
            "keeps failing, check the source before updating the expected checksum."
        )
    os.replace(part, path)
    return path


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name may not be extracted, or ``None`` if it is fine."""
    if not name:
        return "an empty name"
    if "\x00" in name:
        return "a NUL byte in its name"
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith(("/", "\\")):
        return "an absolute path"
    if ".." in posix.parts or ".." in windows.parts:
        return "a '..' component"
    return None


def _inside(target: Path, root: Path) -> bool:
    """Whether ``target`` (resolved) lies in ``root`` (resolved)."""
    return target == root or root in target.parents


def _check_link(member: str, link: str, base: Path, root: Path) -> str | None:
    """Why a link ``member -> link`` (resolved from ``base``) is unsafe, or ``None``."""
    if PurePosixPath(link).is_absolute() or PureWindowsPath(link).drive:
        return f"a link to the absolute path {link!r}"
    if not _inside(Path(os.path.normpath(base / link)), root):
        return f"a link to {link!r}, outside the target folder"
    return None


def _refuse(archive: Path, member: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Refusing to extract {archive}: member {member!r} has {reason}, so it could write outside the target "
        "folder. Expected relative paths, no '..', no links out of the folder and no device files. Do not "
        "use this archive; download it again from a source you trust."
    )


def _check_zip(archive: Path, handle: zipfile.ZipFile, root: Path) -> None:
    for info in handle.infolist():
        reason = _unsafe_name(info.filename)
        mode = info.external_attr >> 16
        if reason is None and stat.S_ISLNK(mode):  # a symlink stored by Info-ZIP: its target is the data
            reason = _check_link(info.filename, handle.read(info).decode("utf-8", "replace"),
                                 Path(os.path.normpath(root / info.filename)).parent, root)
        if reason is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            reason = "a device or FIFO type"
        if reason:
            raise _refuse(archive, info.filename, reason)


def _check_tar(archive: Path, handle: tarfile.TarFile, root: Path) -> None:
    for member in handle.getmembers():
        reason = _unsafe_name(member.name)
        if reason is None and member.issym():
            reason = _check_link(member.name, member.linkname,
                                 Path(os.path.normpath(root / member.name)).parent, root)
        elif reason is None and member.islnk():  # hard links are resolved from the archive root
            if _unsafe_name(member.linkname):
                reason = f"a hard link to {member.linkname!r}, outside the target folder"
            else:
                reason = _check_link(member.name, member.linkname, root, root)
        if reason is None and member.isdev():  # character/block devices and FIFOs
            reason = "a device or FIFO type"
        if reason:
            raise _refuse(archive, member.name, reason)


def extract_archive(path: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a zip or tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) archive safely.

    Every member is checked before anything is written: absolute paths, ``..``
    components, symbolic or hard links that point outside ``dest`` and device files
    make the whole archive refused.

    Args:
        path: the archive.
        dest: the folder to extract into (created if needed).

    Returns:
        ``dest``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeArchiveError: a member could escape ``dest``; nothing was extracted.
        ValueError: ``path`` is neither a zip nor a tar archive.
    """
    archive = Path(path)
    if not archive.is_file():
        raise FileNotFoundError(f"No archive at {archive}; download it first or pass the right path.")
    dest = Path(dest)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as handle:
            _check_zip(archive, handle, root)
            dest.mkdir(parents=True, exist_ok=True)
            handle.extractall(dest)
        return dest
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as handle:
            _check_tar(archive, handle, root)
            dest.mkdir(parents=True, exist_ok=True)
            if hasattr(tarfile, "data_filter"):  # PEP 706 (Python 3.12, backported to 3.8.17+)
                handle.extractall(dest, filter="data")
            else:  # pragma: no cover - old Pythons: the checks above are the guard
                handle.extractall(dest)
        return dest
    raise ValueError(f"{archive} is neither a zip nor a tar archive; expected .zip, .tar, .tar.gz, .tgz, "
                     ".tar.bz2 or .tar.xz. Check that the download completed (compare its SHA-256).")
