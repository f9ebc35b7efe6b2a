"""The bibliography's style: author-year labels, sorted by author, as the chapters cite.

pybtex's default ``alpha`` labels mangle long author lists and corporate authors
(``[BdLGBaltruvsaitis+23]``, ``[CyberspaceAoCaMoIaITaMoPSaNRaTAdministration25]``) while the text cites
"Bae et al. 2023", and its sort key keeps a corporate author's braces, so ``{ISO/IEC ...}`` sorts after Z.
This style labels an entry "Last 2017", "Last and Other 2017" or "Last et al. 2017" (a, b, ... when two
entries would share a label), names a corporate author by its first body, and sorts on plain text.
Registered as the pybtex formatting style ``facelab`` (``bibtex_default_style`` in ``_config.yml``).
"""

from __future__ import annotations

import re
import string
from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle

STYLE_NAME = "facelab"


def plain(latex: str) -> str:
    """BibTeX/LaTeX text as the reader sees it: ``{ISO/IEC}`` -> ``ISO/IEC``, ``Baltru{\\v{s}}aitis`` -> ``Baltrušaitis``."""
    return " ".join(Text.from_latex(latex).render_as("text").split())


def surname(person) -> str:
    """A person's family name; for a corporate author (one braced name) its first body before " and "."""
    name = plain(" ".join(person.prelast_names + person.last_names))
    if not person.first_names and not person.middle_names and " and " in name:
        name = name.split(" and ")[0]
    return name


def authors_label(entry) -> str:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    if not people:
        return plain(entry.fields.get("key", entry.key))
    if len(people) == 1:
        first = surname(people[0])
        corporate_group = " and " in plain(" ".join(people[0].last_names)) and not people[0].first_names
        return f"{first} et al." if corporate_group else first
    if len(people) == 2:
        return f"{surname(people[0])} and {surname(people[1])}"
    return f"{surname(people[0])} et al."


class AuthorYearLabels(BaseLabelStyle):
    """``Goodfellow et al. 2014``; ``Arjovsky et al. 2017a`` / ``2017b`` when two entries collide."""

    def format_labels(self, sorted_entries):
        bases = [f"{authors_label(entry)} {entry.fields.get('year', 'n.d.')}" for entry in sorted_entries]
        counts = Counter(bases)
        seen: Counter = Counter()
        for base in bases:
            if counts[base] == 1:
                yield base
            else:
                yield base + string.ascii_lowercase[seen[base]]
                seen[base] += 1


class AuthorYearTitleSorting(BaseSortingStyle):
    """Sort as the labels read (``Karras et al.`` 2018, 2019, 2020a, 2020b), then on all the authors' names and
    the title; braces, accents and a leading ``{`` of a corporate author do not count."""

    def sorting_key(self, entry):
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = "   ".join(
            "  ".join((plain(" ".join(p.prelast_names + p.last_names)), plain(" ".join(p.first_names + p.middle_names))))
            for p in people)
        return (_fold(authors_label(entry)), entry.fields.get("year", ""), _fold(names),
                _fold(plain(entry.fields.get("title", ""))))


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^\w\s]", "", "".join(c for c in decomposed if not unicodedata.combining(c))).lower()


class Style(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = AuthorYearTitleSorting


def register() -> None:
    """Make ``facelab`` a pybtex formatting style (idempotent: Sphinx may load the extension twice)."""
    register_plugin("pybtex.style.formatting", STYLE_NAME, Style, force=True)
