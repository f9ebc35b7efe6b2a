"""Chapters under nbval: execute once, test and build from the same run.

`pytest --nbval-lax chapters` runs every chapter in its own kernel and fails on any error or failed
`assert`. When ``$FACELAB_NB_CACHE`` names a jupyter-cache folder (the Makefile points it at the book's
``_build/.jupyter_cache``), this plugin stores each notebook that passed, with the outputs nbval
collected, in that cache. The book build (``execute_notebooks: cache``) then finds every chapter
already executed and renders those outputs instead of running the chapter a second time: what the book
shows is exactly what the tests checked, and ``make test`` pays for each chapter once.

A notebook with a failed, skipped or missing cell is not cached, so the build executes it itself.

nbval keeps the first ``display_data`` of a live display and drops its ``update_display_data`` messages, so a
live plot (``facelab.plotting.LiveGANPlot``) would be stored, and shown in the book, as its first frame. This
plugin applies each update to the output it updates (as Jupyter and nbclient do): the book shows the last frame.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

CACHE_ENV = "FACELAB_NB_CACHE"


@dataclass
class _Execution:
    outputs: dict[int, list] = field(default_factory=dict)  # code-cell number -> nbval's outputs
    ok: bool = True
    seconds: float = 0.0


_executions: dict[Path, _Execution] = {}
_running: list = [None]  # the nbval cell being executed


class DisplayUpdates:
    """Applies ``update_display_data`` messages to the stored outputs that nbval collected for a cell.

    ``observe(message, outputs)`` sees every iopub message of the running cell and that cell's output list
    (nbval appends the output of a ``display_data`` message right after reading it).
    """

    def __init__(self):
        self.outputs: dict[str, dict] = {}  # display_id -> the stored output it names
        self._pending: tuple | None = None  # (display_id, outputs, index) of a display not yet appended

    def _resolve(self) -> None:
        if self._pending is not None:
            display_id, outputs, index = self._pending
            if len(outputs) > index:
                self.outputs[display_id] = outputs[index]
            self._pending = None

    def observe(self, message: dict, outputs: list | None) -> None:
        self._resolve()
        kind = message.get("msg_type") or message.get("header", {}).get("msg_type")
        content = message.get("content", {})
        display_id = (content.get("transient") or {}).get("display_id")
        if not display_id:
            return
        if kind == "display_data" and outputs is not None:
            self._pending = (display_id, outputs, len(outputs))
        elif kind == "update_display_data" and display_id in self.outputs:
            stored = self.outputs[display_id]
            stored["data"] = nbformat.from_dict(dict(content.get("data", {})))
            stored["metadata"] = nbformat.from_dict(dict(content.get("metadata", {})))


def _apply_display_updates_in_nbval() -> None:
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # pragma: no cover - nbval not installed: nothing to patch
        return
    if getattr(IPyNbFile.get_kernel_message, "facelab_display_updates", False):
        return
    original = IPyNbFile.get_kernel_message

    def get_kernel_message(self, *args, **kwargs):
        message = original(self, *args, **kwargs)
        item = _running[0]
        updates = self.__dict__.setdefault("_facelab_display_updates", DisplayUpdates())
        updates.observe(message, getattr(item, "test_outputs", None) if item is not None else None)
        return message

    get_kernel_message.facelab_display_updates = True
    IPyNbFile.get_kernel_message = get_kernel_message


_apply_display_updates_in_nbval()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Time each notebook cell (the notebook's execution time is the sum over its cells)."""
    tic = time.perf_counter()
    _running[0] = item if hasattr(item, "cell_num") else None
    yield
    _running[0] = None
    if hasattr(item, "cell_num"):
        _executions.setdefault(Path(str(item.fspath)), _Execution()).seconds += time.perf_counter() - tic


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep the outputs of every nbval cell, and whether its notebook is still passing."""
    outcome = yield
    report = outcome.get_result()
    if not hasattr(item, "cell_num"):
        return
    execution = _executions.setdefault(Path(str(item.fspath)), _Execution())
    if report.failed or report.skipped:
        execution.ok = False
    elif report.when == "call":
        execution.outputs[item.cell_num] = item.test_outputs or []


def executed_notebook(path: Path, outputs: dict[int, list]) -> nbformat.NotebookNode | None:
    """The notebook at ``path`` with the outputs of each code cell filled in (None if any is missing)."""
    nb = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if set(outputs) != set(range(len(code_cells))):
        return None
    for number, cell in enumerate(code_cells):
        cell.execution_count = number + 1
        cell.outputs = [nbformat.from_dict(dict(out)) for out in outputs[number]]
        for out in cell.outputs:
            if out.output_type == "execute_result":
                out.execution_count = number + 1
    return nb


def pytest_sessionfinish(session):
    """Store every notebook that passed in the book's execution cache."""
    cache_path = os.environ.get(CACHE_ENV, "").strip()
    if not cache_path or not _executions:
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(cache_path)
    stored = []
    for path, execution in sorted(_executions.items()):
        nb = executed_notebook(path, execution.outputs) if execution.ok else None
        if nb is None:
            continue
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(path), data={"execution_seconds": execution.seconds}),
                                    check_validity=False, overwrite=True)
        stored.append(f"{path.name} ({execution.seconds:.0f} s)")
    if stored:
        print(f"\nnbval: stored {len(stored)} executed chapter(s) in {cache_path}: {', '.join(stored)}")
