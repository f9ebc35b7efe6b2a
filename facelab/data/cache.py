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
        NotADirectoryError: the path exists but is a file.
    """
    value = os.environ.get(ENV_VAR, "").strip()
    if value:
        path = Path(os.path.expandvars(value)).expanduser()
    else:
        path = Path.home() / ".cache" / "facelab"
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(
            f"The facelab data directory {path} is a file, not a directory; "
            f"point {ENV_VAR} at a directory (or unset it to use ~/.cache/facelab)."
        )
    path.mkdir(parents=True, exist_ok=True)
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
