"""Notebook hygiene: chapters are committed clean and follow the course's conventions."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path, kind: str) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def _repository_url() -> str:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def test_there_are_chapters():
    assert len(CHAPTERS) >= 3


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, (f"{path.name}: cells {dirty} carry outputs; run "
                       "`jupyter nbconvert --clear-output --inplace chapters/*.ipynb` before committing.")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_first_cells_set_up_colab_and_print_banner(path):
    code = _cells(path, "code")
    first, second = code[0], code[1]
    assert 'if "google.colab" in sys.modules:' in first
    assert f"facelab @ git+{_repository_url()}" in first, "the Colab cell must install from the repository in _config.yml"
    assert not re.search(r"\b(torch|torchvision|numpy)\s*[=<>]=", first), "never re-pin what Colab already has"
    assert "facelab.banner(" in second and "get_profile()" in second


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_structure(path):
    markdown = "\n".join(_cells(path, "markdown"))
    code = "\n".join(_cells(path, "code"))
    assert re.search(r"^#\s+\S", markdown, re.M), "a chapter opens with a title"
    numbered = re.findall(r"(?m)^#+\s+\d+(?:\.\d+)*\.?\s", markdown)
    assert not numbered, (f"hand-numbered headings {numbered}: Jupyter Book numbers chapters and sections "
                          "(`numbered: true` in _toc.yml), so figures number per chapter; drop the numbers")
    assert "What you will learn" in markdown and "What you need" in markdown
    opening = _cells(path, "markdown")[0]
    assert "{doc}`../book/colab`" in opening, "the opening tells the reader how to run the chapter on a Colab GPU"
    assert "## Exercises" in markdown and ":class: dropdown" in markdown, "exercises with folded solutions"
    assert "## Summary" in markdown
    assert "assert " in code, "each chapter checks its own claims"


def test_toc_lists_every_chapter_and_nothing_missing():
    toc = (ROOT / "_toc.yml").read_text()
    listed = re.findall(r"file:\s*(\S+)", toc)
    for name in listed:
        assert any((ROOT / f"{name}{ext}").exists() for ext in ("", ".md", ".ipynb")), f"{name} in _toc.yml is missing"
    for path in CHAPTERS:
        assert f"chapters/{path.stem}" in listed, f"{path.name} is not in _toc.yml"
    parts = yaml.safe_load(toc)["parts"]
    for part in parts:
        if any(chapter["file"].startswith("chapters/") for chapter in part["chapters"]):
            assert part.get("numbered") is True, f"part {part['caption']!r}: set `numbered: true` (chapter numbers)"


def test_requirements_do_not_pin_colab_packages():
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if re.match(r"^(torch|torchvision|numpy)\b", line):
            assert "==" not in line, f"exact pin {line!r} would break Colab"
    assert "jupyter-book>=1,<2" in (ROOT / "requirements.txt").read_text()
