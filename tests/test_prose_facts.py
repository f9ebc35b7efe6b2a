"""Facts the chapters state in prose, checked against the bibliography, the glue and the code.

The book build catches a missing citation too, but only after executing every chapter; these checks
read the notebooks as text and run in a second.
"""
import inspect
import math
import re
from pathlib import Path

import nbformat
import pytest
import torch

from facelab.data.toy import GaussianMixture, modes_covered

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _cells(path, kind):
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


def _bib_keys():
    return set(re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M))


def test_every_cited_key_is_in_the_bibliography():
    pages = [(p.name, "\n".join(_cells(p, "markdown"))) for p in CHAPTERS]
    pages += [(p.name, p.read_text()) for p in (ROOT / "book").glob("*.md")]
    keys = _bib_keys()
    missing = {(name, key.strip()) for name, text in pages
               for group in re.findall(r"\{cite:[a-z]+\}`([^`]+)`", text)
               for key in group.split(",") if key.strip() not in keys}
    assert not missing, f"cited but not in book/references.bib (add the entry or fix the key): {sorted(missing)}"


def test_lfw_download_is_233_mb_in_every_chapter():
    sizes = {(p.name, m) for p in CHAPTERS for text in _cells(p, "markdown")
             for m in re.findall(r"(\d+)\s*MB", text)}
    wrong = sorted(s for s in sizes if s[1] != "233")
    assert not wrong, f"LFW (lfw-funneled through scikit-learn) is about 233 MB; these chapters say otherwise: {wrong}"


@pytest.mark.parametrize("name", ["01_gan_theory.ipynb", "02_losses.ipynb"])
def test_colab_box_of_a_toy_chapter_does_not_promise_faces(name):
    boxes = [s for s in _cells(ROOT / "chapters" / name, "markdown") for s in re.findall(
        r"```\{admonition\} Running it yourself.*?```", s, re.S)]
    assert boxes, f"{name}: no 'Running it yourself' box found"
    assert not any("face" in b.lower() for b in boxes), f"{name}: its toy GANs use no faces on any profile"


def test_mode_count_is_a_fifth_of_the_fair_share_as_the_chapters_say():
    assert inspect.signature(modes_covered).parameters["min_fraction"].default == 0.2
    ring = GaussianMixture(torch.tensor([[0.0, 0.0], [10.0, 0.0]]), torch.tensor([0.1, 0.1]), torch.tensor([0.5, 0.5]))
    fair = 100  # of 200 samples, an even spread gives each of the 2 modes 100
    for on_second, expected in [(fair // 5, 2), (fair // 5 - 1, 1)]:
        samples = torch.cat([torch.zeros(200 - on_second, 2), torch.tensor([[10.0, 0.0]]).repeat(on_second, 1)])
        assert modes_covered(samples, ring) == expected, (on_second, expected)
    for name in ("02_losses.ipynb", "03_training.ipynb"):
        text = " ".join(" ".join(_cells(ROOT / "chapters" / name, "markdown")).split())
        assert "a fifth of" in text and "fair share" in text or "a fifth of the share" in text, name


def test_adacos_scales_quoted_in_chapter_4():
    from facelab.experiments.recognition import TRAIN_FRACTION
    from facelab.profile import get_profile

    classes = round(get_profile("quick").num_identities * TRAIN_FRACTION)
    text = " ".join(" ".join(_cells(ROOT / "chapters" / "04_recognition.ipynb", "markdown")).split())
    adacos = lambda c: math.sqrt(2) * math.log(c - 1)  # noqa: E731  (Zhang et al. 2019, fixed AdaCos)
    assert f"about {round(adacos(classes))} for the quick profile's {classes} training identities" in text
    assert f"about {round(adacos(85_742))} for ArcFace's 85,000 identities" in text  # MS1MV2 has 85,742
