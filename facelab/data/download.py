"""Downloads that are checked before use, and archives that cannot write outside their folder.

Two rules keep a download from hurting the reader:

* **Verify before use.** :func:`download_url` streams the file to a temporary file of its
  own (unique per call: two concurrent downloads of one file never share it), and moves it
  into place (atomically, with ``os.replace``) only when the file about to be renamed has
  the SHA-256 the caller pinned. An interrupted download or a file that does not match is
  deleted, so a later run never mistakes it for the real thing.
* **Extract safely.** :func:`extract_archive` (from :mod:`facelab.data.archive`, re-exported
  here) refuses members that would escape the target folder, archive bombs and archives
  that do not fit on the disk, and extracts all or nothing.

LFW (:mod:`facelab.data.lfw`) is fetched with these helpers and the SHA-256 sums scikit-learn
publishes; torchvision's CelebA checks MD5 sums of its files; the Inception weights for FID are
checked against the hash prefix in their file name, also when cached
(:func:`facelab.metrics.gan.inception_feature_extractor`).
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath

from facelab.data.archive import ArchiveError, UnsafeArchiveError, extract_archive
from facelab.data.cache import ENV_VAR, ensure_dir

__all__ = ["DownloadError", "ChecksumError", "ArchiveError", "UnsafeArchiveError", "sha256sum", "download_url",
           "extract_archive"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(OSError):
    """A download failed (network, HTTP error, interrupted); nothing was left behind."""


class ChecksumError(DownloadError):
    """A downloaded file's SHA-256 differs from the expected one; the file was deleted."""


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

    The file is streamed to a temporary file of its own next to ``path`` (unique per
    call, so two processes or threads downloading the same file never write into one
    file) and moved into place only when the file that is about to be renamed has the
    expected checksum. If ``path`` already exists with the right checksum, nothing is
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
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError, PermissionError: the folder of ``path`` cannot hold the file.
        ChecksumError: the download does not match ``sha256`` (the file is deleted).
        DownloadError: the download failed (the partial file is deleted).
    """
    expected = str(sha256).strip().lower()
    if not _SHA256.match(expected):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}; compute it with "
                         "facelab.data.download.sha256sum(path) on a copy you trust (or `sha256sum FILE`).")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"Cannot download {url} to {path}: that path is a folder, expected a file path. "
                                f"Pass the file's own path (e.g. {path / PurePosixPath(url).name}) or remove the "
                                "folder.")
    if path.is_file() and sha256sum(path, chunk_size) == expected:
        return path  # already here and intact
    ensure_dir(path.parent, f"The download folder {path.parent}",
               f"download to a folder you can write to (or set {ENV_VAR})")
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    part = Path(name)  # this call's own file: a concurrent download of the same path has another
    try:
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for block in iter(lambda: response.read(chunk_size), b""):
                    out.write(block)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # network errors, HTTP errors, a full disk: never leave a partial file
            raise DownloadError(
                f"Could not download {url} to {path}: {type(error).__name__}: {error}. The partial file was removed. "
                "Check the URL and your internet connection and try again, or fetch the file by hand and put it "
                f"at {path}."
            ) from error
        actual = sha256sum(part, chunk_size)  # what will be renamed, read back from the disk
        if actual != expected:
            raise ChecksumError(
                f"The file downloaded from {url} has SHA-256 {actual}, expected {expected}; it was deleted. The "
                "download was corrupted or the file on the server changed (or was tampered with). Try again; if it "
                "keeps failing, check the source before updating the expected checksum."
            )
        os.chmod(part, 0o644)  # mkstemp makes it private to its owner; a data file is not secret
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return path
