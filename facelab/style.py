"""The course's figure style: readable at the book's page width, set once for every chapter.

The book shows a figure at its natural size (``figure.dpi`` pixels per inch) up to the width of the text
column, and shrinks a wider one, text included. Two rules keep every label at least as large as the body's
small print (about 13 px):

* fonts of at least 10.5 pt, which are 14.6 px at 100 dpi: the defaults are, and a text that a plotting
  function asks to be smaller (``fontsize=8``) is raised to it when the figure is drawn;
* no figure wider than :data:`PAGE_WIDTH_IN` inches (the column at 100 dpi): a figure asked for wider is
  narrowed when pyplot creates it (``figure.hooks``), before anything is drawn, so its text keeps its size
  relative to the page. Panels go at most three side by side (:func:`facelab.plotting.plot_panels`).

:func:`use_book_style` applies it; importing :mod:`facelab.book` or :mod:`facelab.plotting` does.
"""
from __future__ import annotations

import matplotlib
from matplotlib.text import Text

#: The book's text column on a desktop screen, in inches at ``figure.dpi`` (about 8 in x 100 dpi = 800 px).
PAGE_WIDTH_IN = 8.0
#: At most this many panels side by side, so each is wide enough to read.
MAX_PANELS_PER_ROW = 3
#: The smallest font, in points, that the style uses (10.5 pt at 100 dpi = 14.6 px).
MIN_FONT_PT = 10.5

BOOK_RC = {
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 11.5,
    "axes.titlesize": 12,
    "axes.labelsize": 11.5,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "legend.title_fontsize": 11,
    "figure.titlesize": 13,
    "figure.hooks": ["facelab.style:fit_to_page"],
}


def raise_small_text(fig, minimum: float = MIN_FONT_PT) -> int:
    """Set every text of ``fig`` smaller than ``minimum`` points to ``minimum``; returns how many changed."""
    changed = 0
    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < minimum:
            text.set_fontsize(minimum)
            changed += 1
    return changed


def fit_to_page(fig) -> None:
    """Make a new figure readable at the page's width (a ``figure.hooks`` hook: pyplot calls it on every new
    figure, before anything is drawn on it).

    A figure wider than the page is narrowed to it; its height shrinks by the square root of the width's
    factor, so panels keep room for their labels and image grids (fixed aspect) lose only white space, which
    ``bbox_inches="tight"`` trims. Every time the figure is drawn, text smaller than :data:`MIN_FONT_PT` is
    raised to it first.
    """
    width, height = fig.get_size_inches()
    if width > PAGE_WIDTH_IN:
        factor = PAGE_WIDTH_IN / width
        fig.set_size_inches(PAGE_WIDTH_IN, height * factor ** 0.5)
    draw = fig.draw

    def draw_readable(renderer, *args, **kwargs):
        raise_small_text(fig)
        return draw(renderer, *args, **kwargs)

    fig.draw = draw_readable


def use_book_style() -> None:
    """Apply :data:`BOOK_RC` to matplotlib (idempotent)."""
    matplotlib.rcParams.update(BOOK_RC)
