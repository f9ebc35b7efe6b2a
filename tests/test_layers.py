"""The dependency rule of the package, checked on its source (no import is executed).

Layers, bottom to top (CONTRIBUTING.md explains what goes where):

0. ``utils``, ``profile``, ``runtime``, ``book``, ``style``: helpers every layer may use;
1. ``data``, ``models``, ``losses``, ``metrics``, ``plotting``, ``theory``: the building blocks;
2. ``train`` and the inference helpers (``recognition``, ``latent``, ``attacks``, ``threshold_explorer``,
   ``widgets``) and the topic figures (``figures``);
3. ``runs`` (the run cache);
4. ``baselines``: the chapters' standard runs that several experiments reuse, and ``bench`` (with
   ``bench_measure``, ``bench_ensemble``), which times them;
5. ``experiments``: one module per chapter topic;
6. the entry points: ``cli`` and the package's ``__init__``.

The rules: a module imports only modules of its own layer or below; nothing outside ``experiments``
imports an experiment (the CLI included); an experiment never imports another experiment; and there are
no import cycles. Imports under ``if TYPE_CHECKING:`` are for annotations only and are not counted.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAYERS = (
    ("utils", "profile", "runtime", "book", "style"),
    ("data", "models", "losses", "metrics", "plotting", "theory"),
    ("train", "recognition", "latent", "attacks", "threshold_explorer", "widgets", "figures"),
    ("runs",),
    ("baselines", "bench", "bench_measure", "bench_ensemble"),
    ("experiments",),
    ("cli", "__init__", "__main__"),
)
PACKAGE = Path(__file__).resolve().parents[1] / "facelab"


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST):
    """Every node, skipping the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def import_graph(root: Path) -> dict[str, set[str]]:
    """``{module: modules of the same package it imports}``, module-level and inside functions alike."""
    pkg = root.name
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                found = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in files]
                targets.update(found or [source])  # `from pkg import module` imports that module
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[module] = {t for t in targets if (t == pkg or t.startswith(pkg + ".")) and t != module}
    return graph


def _layer(module: str, layers=LAYERS) -> tuple[int, str]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for rank, names in enumerate(layers):
        if top in names:
            return rank, top
    raise AssertionError(f"{module} is in no layer: add {top!r} to LAYERS in tests/test_layers.py "
                         "(and to the list in CONTRIBUTING.md).")


def violations(root: Path, layers=LAYERS) -> list[str]:
    """Every breach of the dependency rule in the package at ``root``, one sentence each."""
    graph = import_graph(root)
    found = []
    for module, targets in sorted(graph.items()):
        rank, top = _layer(module, layers)
        for target in sorted(targets):
            target_rank, target_top = _layer(target, layers)
            if target_top == "experiments" and top != "experiments" and target.count(".") >= 1:
                found.append(f"{module} imports {target}: nothing outside experiments may import an experiment")
            elif top == "experiments" and target_top == "experiments" and target.count(".") >= 2 \
                    and module.count(".") >= 2:
                found.append(f"{module} imports {target}: experiments never import each other; move what both "
                             "need to a lower layer (data, models, metrics, train, baselines, figures)")
            elif target_rank > rank:
                found.append(f"{module} (layer {rank}) imports {target} (layer {target_rank}): imports go downwards")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph)]
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, result, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_the_package_follows_the_dependency_rule():
    problems = violations(PACKAGE)
    assert not problems, "The layer contract is broken:\n  " + "\n  ".join(problems)


# ----------------------------------------------------------------------------- the test can fail
def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


BASE = {"__init__.py": "", "utils.py": "", "data/__init__.py": "", "data/faces.py": "from ..utils import x\n",
        "train/__init__.py": "", "train/loop.py": "from pkg.data.faces import load\n",
        "experiments/__init__.py": "", "experiments/a.py": "from pkg.train.loop import run\n",
        "experiments/b.py": "import pkg.data.faces\n", "cli.py": "from pkg.train import loop\n"}


def test_a_clean_package_passes():
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        assert violations(_package(Path(folder), BASE)) == []


@pytest.mark.parametrize("changes, expected", [
    ({"experiments/a.py": "from pkg.experiments.b import thing\n"},
     "pkg.experiments.a imports pkg.experiments.b: experiments never import each other"),
    ({"experiments/a.py": "def f():\n    from . import b\n"},  # hidden in a function, relative
     "pkg.experiments.a imports pkg.experiments.b: experiments never import each other"),
    ({"cli.py": "from pkg.experiments.a import main\n"},
     "pkg.cli imports pkg.experiments.a: nothing outside experiments may import an experiment"),
    ({"data/faces.py": "from pkg.train.loop import run\n"},
     "pkg.data.faces (layer 1) imports pkg.train.loop (layer 2): imports go downwards"),
    ({"data/__init__.py": "from . import faces\n", "data/faces.py": "from pkg.data import x\n",
      "data/real.py": "from .faces import y\n"}, None),
    ({"train/loop.py": "from . import other\n", "train/other.py": "from .loop import run\n"},
     "import cycle: pkg.train.loop -> pkg.train.other -> pkg.train.loop"),
])
def test_each_breach_is_reported(tmp_path, changes, expected):
    problems = violations(_package(tmp_path, {**BASE, **changes}))
    if expected is None:  # a package importing its own submodules is fine
        assert [p for p in problems if "cycle" not in p] == []
    else:
        assert any(expected in problem for problem in problems), problems


def test_type_only_imports_are_not_dependencies(tmp_path):
    figure = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.experiments.a import Result\n"
    assert violations(_package(tmp_path, {**BASE, "data/plots.py": figure})) == []
