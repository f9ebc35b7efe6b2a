"""Extract zip and tar archives so that a hostile or damaged archive cannot hurt the reader.

* **No member escapes the folder** ("zip slip"): a member named ``../../.bashrc`` or
  ``/etc/passwd``, a link pointing out of the target folder, a device file, or a member
  that would be written *through a symbolic link already in the target folder* makes the
  whole archive refused with :class:`UnsafeArchiveError` before anything is written. Tar
  files also go through Python's ``"data"`` extraction filter (PEP 706) as a second guard.
* **No archive bomb**: the sizes the archive declares are added up first; more than the
  free disk space, or more than ``max_ratio`` times the archive's own size (a 1 MB zip
  that expands to 1 GiB), is refused.
* **All or nothing**: members are extracted into a temporary sibling folder and moved into
  place only when every one was read intact, so a truncated tar or a damaged zip leaves
  nothing behind and raises :class:`ArchiveError` saying so.
"""
from __future__ import annotations

import lzma
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from facelab.data.cache import ensure_dir

__all__ = ["ArchiveError", "UnsafeArchiveError", "extract_archive"]

#: Archives expanding to less than this are never refused for their compression ratio.
_RATIO_FLOOR = 16 << 20
#: Room left on the disk after extracting.
_SPARE_BYTES = 64 << 20
# What damaged or truncated compressed data raises, by format.
_DAMAGED = (EOFError, zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError)
_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class ArchiveError(ValueError):
    """An archive is damaged, truncated or too big for the disk; nothing was extracted."""


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the target folder, is a device file, or the archive is a bomb."""


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


def _check_link(link: str, base: Path, root: Path) -> str | None:
    """Why a link to ``link`` (resolved from ``base``) is unsafe, or ``None``."""
    if PurePosixPath(link).is_absolute() or PureWindowsPath(link).drive:
        return f"a link to the absolute path {link!r}"
    if not _inside(Path(os.path.normpath(base / link)), root):
        return f"a link to {link!r}, outside the target folder"
    return None


def _through_existing_link(name: str, root: Path) -> str | None:
    """Why ``root/name`` would be written through a symbolic link already in ``root``, or ``None``."""
    parent = (root / name).parent.resolve()  # follows links that exist in the target folder now
    if not _inside(parent, root):
        return f"a path that an existing link in the target folder sends to {parent}"
    return None


def _refuse(archive: Path, member: str, reason: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Refusing to extract {archive}: member {member!r} has {reason}, so it could write outside the target "
        "folder. Expected relative paths, no '..', no links out of the folder and no device files. Do not "
        "use this archive; download it again from a source you trust."
    )


def _check_zip(archive: Path, handle: zipfile.ZipFile, root: Path) -> int:
    """Check every member; return the total number of bytes they expand to."""
    total = 0
    for info in handle.infolist():
        reason = _unsafe_name(info.filename)
        mode = info.external_attr >> 16
        if reason is None and stat.S_ISLNK(mode):  # a symlink stored by Info-ZIP: its target is the data
            reason = _check_link(handle.read(info).decode("utf-8", "replace"),
                                 Path(os.path.normpath(root / info.filename)).parent, root)
        if reason is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            reason = "a device or FIFO type"
        reason = reason or _through_existing_link(info.filename, root)
        if reason:
            raise _refuse(archive, info.filename, reason)
        total += info.file_size
    return total


def _check_tar(archive: Path, handle: tarfile.TarFile, root: Path) -> int:
    """Check every member; return the total number of bytes they expand to."""
    total = 0
    for member in handle.getmembers():  # reads the whole archive: a truncated one fails here
        reason = _unsafe_name(member.name)
        if reason is None and member.issym():
            reason = _check_link(member.linkname, Path(os.path.normpath(root / member.name)).parent, root)
        elif reason is None and member.islnk():  # hard links are resolved from the archive root
            if _unsafe_name(member.linkname):
                reason = f"a hard link to {member.linkname!r}, outside the target folder"
            else:
                reason = _check_link(member.linkname, root, root)
        if reason is None and member.isdev():  # character/block devices and FIFOs
            reason = "a device or FIFO type"
        reason = reason or _through_existing_link(member.name, root)
        if reason:
            raise _refuse(archive, member.name, reason)
        total += member.size if member.isreg() else 0
    return total


def _check_size(archive: Path, total: int, root: Path, max_ratio: float) -> None:
    """Refuse an archive bomb, or an archive that does not fit on the disk."""
    packed = max(archive.stat().st_size, 1)
    if total > _RATIO_FLOOR and total > max_ratio * packed:
        raise UnsafeArchiveError(
            f"Refusing to extract {archive}: its {packed:,} bytes would expand to {total:,} bytes "
            f"({total / packed:,.0f} times its size; at most max_ratio={max_ratio:g} is allowed), which is how an "
            "archive bomb fills a disk. Do not use this archive; if you trust it, pass a larger max_ratio."
        )
    free = shutil.disk_usage(root.parent).free
    if total + _SPARE_BYTES > free:
        raise ArchiveError(
            f"Not extracting {archive}: it expands to {total:,} bytes but only {free:,} bytes are free on the disk "
            f"of {root.parent}. Free some space, or extract it to a folder on a larger disk."
        )


def _move_into(source: Path, dest: Path) -> None:
    """Move the extracted tree ``source`` to ``dest``, merging with folders already there."""
    if not dest.exists() and not dest.is_symlink():
        os.replace(source, dest)
        return
    for entry in sorted(source.iterdir()):
        target = dest / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() and not target.is_symlink():
            _move_into(entry, target)
        else:  # replaces a file or a link itself: never writes through a link
            os.replace(entry, target)


def extract_archive(path: str | os.PathLike, dest: str | os.PathLike, *, max_ratio: float = 100.0) -> Path:
    """Extract a zip or tar (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) archive safely.

    Every member is checked before anything is written (names, links, device files, links
    already in ``dest``, total size); then the archive is extracted into a temporary folder
    next to ``dest`` and moved into ``dest`` (merged with what is already there) only if
    every member was read intact.

    Args:
        path: the archive.
        dest: the folder to extract into (created if needed).
        max_ratio: refuse archives expanding to more than this many times their size
            (archives expanding to under 16 MiB are never refused for their ratio).

    Returns:
        ``dest``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeArchiveError: a member could escape ``dest``, or the archive is a bomb; nothing was extracted.
        ArchiveError: the archive is damaged or truncated, or does not fit on the disk; nothing was extracted.
        ValueError: ``path`` is neither a zip nor a tar archive.
    """
    archive = Path(path)
    if not archive.is_file():
        raise FileNotFoundError(f"No archive at {archive}; download it first or pass the right path.")
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"Cannot extract {archive} into {dest}: it is a file, expected a folder. "
                                 "Pass a folder path, or move the file away.")
    root = dest.resolve()
    is_zip = zipfile.is_zipfile(archive)
    if not (is_zip or tarfile.is_tarfile(archive)):
        damaged = archive.name.lower().endswith(_SUFFIXES)  # named like an archive, yet unreadable as one
        why = " (its name says it is: it is damaged or truncated)" if damaged else ""
        raise (ArchiveError if damaged else ValueError)(
            f"{archive} is neither a zip nor a tar archive{why}; expected .zip, .tar, .tar.gz, .tgz, .tar.bz2 or "
            ".tar.xz. Check that the download completed (compare its SHA-256), or delete it and download it again.")
    ensure_dir(root.parent, f"The folder {root.parent}", "extract to a folder you can write to")
    scratch = None
    try:
        with (zipfile.ZipFile(archive) if is_zip else tarfile.open(archive)) as handle:
            total = _check_zip(archive, handle, root) if is_zip else _check_tar(archive, handle, root)
            _check_size(archive, total, root, max_ratio)
            scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".extracting"))
            if is_zip:
                handle.extractall(scratch)  # checks each member's CRC-32: damage raises BadZipFile
            else:
                if hasattr(tarfile, "data_filter"):  # PEP 706 (3.12, 3.11.4, 3.10.12, 3.9.17): a second guard
                    handle.extractall(scratch, filter="data")
                else:  # pragma: no cover - older Pythons: the checks above are the guard
                    handle.extractall(scratch)
        _move_into(scratch, dest)
    except getattr(tarfile, "FilterError", ()) as error:  # what the checks above missed, the data filter caught
        raise _refuse(archive, getattr(error, "tarinfo", None) and error.tarinfo.name or "?", str(error)) from error
    except _DAMAGED as error:
        raise ArchiveError(
            f"{archive} is damaged or truncated ({type(error).__name__}: {error}); nothing was extracted into "
            f"{dest}. Delete it and download it again (and compare its SHA-256 with the published one)."
        ) from error
    except OSError as error:  # includes gzip/bz2 stream errors and a full disk
        raise ArchiveError(
            f"Could not extract {archive} into {dest} ({type(error).__name__}: {error}); the temporary folder "
            "was removed. If the archive is damaged, delete it and download it again; otherwise check free space "
            "and permissions."
        ) from error
    finally:
        if scratch is not None and scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return dest
