"""Shared test set-up: tests run on CPU, offline, with a non-interactive matplotlib."""
import os
import socket

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("FACELAB_PROFILE", "quick")
# The book build reuses runs across chapters through FACELAB_RUNS_DIR (see facelab/runs.py); unit tests
# must neither read those runs nor add to them, so they start without it (a test sets its own tmp_path).
os.environ.pop("FACELAB_RUNS_DIR", None)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that tries to open a network connection (loopback stays allowed)."""
    real_connect = socket.socket.connect

    def guarded_connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")) \
                or self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise RuntimeError(f"Tests must not use the network (tried to connect to {address!r}).")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


# The unit tests use tiny models, for which a second thread costs more in synchronisation than it saves
# (and CI machines are often shared). Chapters run in their own kernels and keep the default.
import torch  # noqa: E402

torch.set_num_threads(1)
