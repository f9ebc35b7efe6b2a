"""The whole book builds with warnings as errors: no broken reference, citation, image or glue, every chapter
executed. Runs only when asked (``FACELAB_BOOK_BUILD=1``, as ``make test`` does): the build executes every
chapter that is not already in the execution cache, which takes minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.environ.get("FACELAB_BOOK_BUILD") != "1",
                                reason="set FACELAB_BOOK_BUILD=1 (make test does) to build the book here")


def test_the_book_builds_without_warnings():
    jupyter_book = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    shutil.rmtree(os.environ.get("FACELAB_RUNS_DIR") or ROOT / "_build" / "runs", ignore_errors=True)
    result = subprocess.run([jupyter_book, "build", str(ROOT), "--warningiserror", "--keep-going"],
                            capture_output=True, text=True, timeout=3000)
    log = result.stdout + result.stderr
    # Sphinx's "WARNING: ..." / "ERROR: ..." lines (a kernel's own "[IPKernelApp] WARNING | ..." is not the book's)
    warnings = [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR): ", line)]
    assert result.returncode == 0 and not warnings, "the book build warned:\n" + "\n".join(warnings or [log[-3000:]])

    html = ROOT / "_build" / "html"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in pages:
        built = html / (re.sub(r"\.(md|ipynb)$", "", page) + ".html")
        assert built.exists(), f"{page} was not built"
        if page.startswith("chapters/"):
            text = built.read_text()
            assert "cell_output" in text, f"{page}: the built page shows no executed output"
            assert "Traceback" not in text, f"{page}: a cell failed"
    print(f"{len(pages)} pages built; executed or taken from the cache:",
          ", ".join(re.findall(r"(?:Executing notebook|Using cached notebook)[^\n]*", log)) or "none reported")
