"""Unsafe files are refused and tests cannot reach the network.

* A checkpoint that would run code when unpickled is refused by ``load_checkpoint``, and the
  code does not run; every ``torch.load`` in facelab uses ``weights_only=True``.
* The network guard of ``tests/conftest.py`` fails a test that connects beyond loopback.
"""
import ast
import os
import pickle
import socket
import urllib.request
from pathlib import Path

import pytest
import torch

from facelab.train.checkpoint import load_checkpoint

pytest_plugins = ["pytester"]

PACKAGE = Path(__file__).resolve().parents[1] / "facelab"
CONFTEST = Path(__file__).resolve().parent / "conftest.py"


class WritesAMarker:
    """Pickles to "run a shell command when loaded": what a malicious checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("fmt", ["torch.save", "raw pickle"])
def test_checkpoint_that_would_run_code_is_refused_and_nothing_runs(tmp_path, fmt):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    state = {"step": 3, "weights": torch.zeros(2), "payload": WritesAMarker(marker)}
    if fmt == "torch.save":
        torch.save(state, path)
    else:  # the pre-zip format: a bare pickle stream
        path.write_bytes(pickle.dumps(state, protocol=2))
    with pytest.raises(RuntimeError) as err:
        load_checkpoint(path)
    assert "could run code (refused for safety, nothing was executed)" in str(err.value)
    assert "weights_only=False" in str(err.value) and "delete it" in str(err.value)
    assert not marker.exists()


def test_the_crafted_checkpoint_really_carries_code(tmp_path):
    """The control: loaded the unsafe way, the same file runs its command (so the test above can fail)."""
    marker = tmp_path / "pwned"
    torch.save({"payload": WritesAMarker(marker)}, tmp_path / "evil.pt")
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def _name(node) -> str:
    """``torch.hub.load`` for an attribute chain, ``load`` for a bare name, ``""`` otherwise."""
    if isinstance(node, ast.Attribute):
        base = _name(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_constant(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


_UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "shelve"}
_HUB_LOADERS = {"load_state_dict_from_url", "load_url", "get_state_dict"}  # torch.hub / model_zoo / WeightsEnum
_SKLEARN_CACHED = {"fetch_lfw_people", "fetch_lfw_pairs", "Memory"}  # joblib.Memory caches unpickle


def unsafe_loads(source: str, where: str, builders: set[str]) -> list[str]:
    """Every place in ``source`` that could load weights or data by unpickling (or run loaded code)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in _SKLEARN_CACHED - {"Memory"}:
            found.append(f"{where}:{node.lineno} names {node.value} (its joblib cache unpickles)")
        if not isinstance(node, ast.Call):
            continue
        name, keywords = _name(node.func), {k.arg: k.value for k in node.keywords}
        head, _, last = name.rpartition(".")
        line = f"{where}:{node.lineno} {name}(...)"
        if name == "torch.load" and not _is_constant(keywords.get("weights_only"), True):
            found.append(f"{line} without weights_only=True")
        elif name in ("torch.hub.load", "hub.load", "torch.jit.load", "jit.load", "torch.package.PackageImporter"):
            found.append(f"{line} runs code from the loaded file")
        elif last in _HUB_LOADERS:
            found.append(f"{line} unpickles a cached download with weights_only=False")
        elif head.split(".")[-1] in _UNPICKLERS and last in ("load", "loads", "Unpickler", "open"):
            found.append(f"{line} unpickles")
        elif last in ("Unpickler", "read_pickle"):
            found.append(f"{line} unpickles")
        elif name in ("np.load", "numpy.load") and not _is_constant(keywords.get("allow_pickle", ast.Constant(False)),
                                                                      False):
            found.append(f"{line} with allow_pickle not False")
        elif last in _SKLEARN_CACHED:
            found.append(f"{line} goes through a joblib cache that unpickles")
        elif last in builders and "weights" in keywords and not _is_constant(keywords["weights"], None):
            found.append(f"{line} with weights= (torchvision loads those through load_state_dict_from_url)")
    return found


def _torchvision_builders() -> set[str]:
    from torchvision import models

    return set(models.list_models()) | {"get_model"}


def test_the_weight_loading_check_catches_every_unsafe_path():
    """The check itself can fail: each of these lines is one way facelab could run a planted file."""
    bad = [
        "torch.load(path)", "torch.load(path, weights_only=False)", "torch.hub.load('a/b', 'm')",
        "torch.hub.load_state_dict_from_url(url)", "load_state_dict_from_url(url)", "model_zoo.load_url(url)",
        "models.Inception_V3_Weights.DEFAULT.get_state_dict()", "models.inception_v3(weights='DEFAULT')",
        "inception_v3(weights=models.Inception_V3_Weights.DEFAULT)", "resnet18(weights=w)", "pickle.load(f)",
        "pickle.loads(b)", "pickle.Unpickler(f).load()", "joblib.load(p)", "np.load(p, allow_pickle=True)",
        "numpy.load(p, allow_pickle=flag)", "pd.read_pickle(p)", "torch.jit.load(p)", "fetch_lfw_people(data_home=h)",
        "getattr(datasets, 'fetch_lfw_pairs')(h)", "joblib.Memory(location=h)", "dill.load(f)",
    ]
    builders = _torchvision_builders()
    for line in bad:
        assert unsafe_loads(line, "example", builders), f"not caught: {line}"
    good = ["torch.load(p, weights_only=True)", "np.load(p)", "np.load(p, allow_pickle=False)",
            "models.inception_v3(weights=None, aux_logits=True)", "json.load(f)", "sampler(weights=w)"]
    assert [line for line in good if unsafe_loads(line, "example", builders)] == []


def test_nothing_in_facelab_loads_weights_or_data_by_unpickling():
    builders, found, torch_loads = _torchvision_builders(), [], 0
    for file in sorted(PACKAGE.rglob("*.py")):
        source = file.read_text()
        torch_loads += source.count("torch.load(")
        found += unsafe_loads(source, str(file.relative_to(PACKAGE.parent)), builders)
    assert torch_loads >= 2, "expected the torch.load calls of train/checkpoint.py and metrics/gan.py"
    assert found == []


def test_no_chapter_loads_weights_or_data_by_unpickling():
    import json

    builders, found = _torchvision_builders(), []
    chapters = sorted((PACKAGE.parent / "chapters").glob("*.ipynb"))
    assert chapters
    for notebook in chapters:
        for number, cell in enumerate(json.loads(notebook.read_text())["cells"]):
            if cell["cell_type"] == "code":
                code = "".join(cell["source"])
                code = "\n".join(line[: len(line) - len(line.lstrip())] + "pass"  # IPython magics and shell lines
                                 if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())
                found += unsafe_loads(code, f"{notebook.name} cell {number}", builders)
    assert found == []


# ----------------------------------------------------------------------------- the network guard
@pytest.mark.parametrize("reach_out", [
    lambda: socket.create_connection(("203.0.113.7", 80), timeout=0.5),  # TEST-NET-3: never routable
    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect_ex(("203.0.113.7", 443)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("203.0.113.7", 53)),
    lambda: socket.getaddrinfo("pypi.org", 443),  # a DNS query is network traffic too
    lambda: urllib.request.urlopen("http://example.com/", timeout=0.5),
], ids=["connect", "connect_ex", "sendto", "getaddrinfo", "urlopen"])
def test_guard_blocks_connections_beyond_this_machine(reach_out):
    with pytest.raises(Exception, match="Tests must not use the network") as err:
        reach_out()
    assert type(err.value).__name__ in ("NetworkBlocked", "URLError")


def test_guard_lets_loopback_through():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("localhost", port), timeout=2) as client:
            connection, _ = server.accept()
            client.sendall(b"ping")
            assert connection.recv(4) == b"ping"
            connection.close()


def test_guard_fails_a_test_that_connects_out(pytester):
    """Run a small suite under our conftest: the test that reaches out fails, the loopback one passes."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_reach="""
        import socket

        def test_connects_out():
            socket.create_connection(("203.0.113.7", 80), timeout=0.5)

        def test_stays_local():
            with socket.create_server(("127.0.0.1", 0)) as server:
                socket.create_connection(server.getsockname(), timeout=2).close()
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:nbval", "-p", "no:hypothesispytest")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*NetworkBlocked: Tests must not use the network*203.0.113.7*"])
