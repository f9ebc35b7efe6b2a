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


def test_every_torch_load_in_facelab_is_weights_only():
    calls = []
    for file in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch":
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                calls.append((f"{file.relative_to(PACKAGE.parent)}:{node.lineno}", safe))
    assert calls, "expected at least the torch.load of facelab/train/checkpoint.py"
    assert [where for where, safe in calls if not safe] == []


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
