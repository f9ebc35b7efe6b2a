"""Links between the notebooks and the rendered book.

``glue`` hands a value computed in a chapter to the book's prose (myst-nb's
``{glue:text}`` role), so no number in the text is typed by hand. Outside a book
build (on Colab, where myst-nb is not installed) it simply returns the value.
"""
from __future__ import annotations

from typing import Any


def glue(name: str, value: Any, display: bool = False) -> Any:
    """Register ``value`` under ``name`` for the book and return it.

    Args:
        name: the key used in the prose, e.g. ``d_real_final`` for ``{glue:text}`d_real_final:.2f```.
        value: a number, string or figure.
        display: also show the value in the notebook output.
    """
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()  # numpy / torch scalars -> Python numbers, which the {glue:text} formats accept
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab, plain Jupyter: nothing to register
        return value
    myst_glue(name, value, display=display)
    return value
