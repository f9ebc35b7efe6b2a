"""Links between the notebooks and the rendered book.

``glue`` hands a value computed in a chapter to the book's prose (myst-nb's
``{glue:text}`` role), so no number in the text is typed by hand. Outside a book
build (on Colab, where myst-nb is not installed) it only converts the value.

It returns nothing on purpose: a cell that ends with ``glue(...)`` must not print the value as a
stray output (nbval runs cells without IPython's output history, so a trailing ``;`` does not hide
it). Use :func:`glued` when a cell needs the converted value itself.

Importing this module (every chapter does) also applies the book's figure style (:mod:`facelab.style`).
"""
from __future__ import annotations

from typing import Any

from facelab.style import use_book_style

use_book_style()


def glued(value: Any) -> Any:
    """``value`` as :func:`glue` stores it: numpy / torch scalars become Python numbers."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # numpy / torch scalars -> Python numbers, which the {glue:text} formats accept
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Register ``value`` under ``name`` for the book (returns nothing, so no stray output).

    Args:
        name: the key used in the prose, e.g. ``d_real_final`` for ``{glue:text}`d_real_final:.2f```.
        value: a number, string or figure.
        display: also show the value in the notebook output.
    """
    value = glued(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, plain Jupyter: nothing to register
        return None
    myst_glue(name, value, display=display)
    return None
