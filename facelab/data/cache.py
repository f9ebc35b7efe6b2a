"""The one directory where facelab keeps downloaded data sets.

Every real-data loader in :mod:`facelab.data.real` looks here by default, so a
course machine (or a Colab session with a mounted drive) needs one setting:
``FACELAB_DATA_DIR``. Without it the cache follows the XDG convention used by
torch and pip: ``~/.cache/facelab``.
"""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable that overrides the cache directory.
ENV_VAR = "FACELAB_DATA_DIR"


class DatasetNotFoundError(FileNotFoundError):
    """A real data set is not on disk (and was not, or could not be, downloaded).

    Subclasses :class:`FileNotFoundError`, so ``except OSError`` still catches it.
    """


def data_dir() -> Path:
    """Return the facelab data cache directory, creating it if needed.

    Returns:
        ``$FACELAB_DATA_DIR`` when that variable is set and non-empty, else
        ``~/.cache/facelab``; ``~`` and environment variables in the value are
        expanded.

    Raises:
        NotADirectoryError: the path, or a folder above it, is a file.
        PermissionError: the folder does not exist and cannot be created.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        path = Path(os.path.expandvars(value)).expanduser()
    else:
        path = Path.home() / ".cache" / "facelab"
    return ensure_dir(path, f"The facelab data directory {path}",
                      f"point {ENV_VAR} at a folder you can write to (or unset it to use ~/.cache/facelab)",
                      writable=False)


def ensure_dir(path: os.PathLike | str, what: str, fix: str, *, writable: bool = True) -> Path:
    """Create the folder ``path`` if needed, or raise an error that names the cause and ``fix``.

    Args:
        path: the folder.
        what: how the error names it, e.g. ``"The LFW folder /data/lfw_home"``.
        fix: what the user should do, e.g. ``"set FACELAB_DATA_DIR to a writable folder"``.
        writable: also require that files can be created in it (for downloads).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        NotADirectoryError: ``path``, or a folder above it, is a file.
        PermissionError: it cannot be created, or (``writable``) is read-only.
    """
    path = Path(path)
    existing = next((p for p in (path, *path.parents) if p.exists() or p.is_symlink()), None)
    if existing is not None and not existing.is_dir():
        where = "is a file" if existing == path else f"lies below {existing}, which is a file"
        raise NotADirectoryError(f"{what} {where}, not a folder, so nothing can be stored there. To fix: {fix}.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError as error:
        raise PermissionError(f"{what} cannot be created: {existing} is read-only for this user ({error}). "
                              f"To fix: {fix}.") from error
    if writable and not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{what} is read-only for this user, so nothing can be downloaded or saved there. "
                              f"To fix: {fix} (or make it writable: chmod u+w {path}).")
    return path


def missing_dataset_error(
    dataset: str, directory: os.PathLike | str, cause: BaseException | None = None
) -> DatasetNotFoundError:
    """Build the one error message every loader raises when files are missing.

    Args:
        dataset: human-readable data set name, e.g. ``"LFW (people)"``.
        directory: where the loader looked for the files.
        cause: the underlying error (a missing file, a failed download), quoted
            in the message.

    Returns:
        The error, ready to ``raise ... from cause``.
    """
    detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
    return DatasetNotFoundError(
        f"{dataset} files were not found in {directory}{detail}. "
        "To fix: pass download=True on a machine with internet access (e.g. Colab), "
        f"or set {ENV_VAR} (or pass data_home=/root=) to the directory that already holds the files. "
        "For offline work, facelab.data.real.load_lfw_subset() needs no download."
    )
