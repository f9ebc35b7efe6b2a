"""Shared test set-up: tests run on CPU, offline, with a non-interactive matplotlib."""
import ipaddress
import os
import socket

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("FACELAB_PROFILE", "quick")
# The book build reuses runs across chapters through FACELAB_RUNS_DIR (see facelab/runs.py); unit tests
# must neither read those runs nor add to them, so they start without it (a test sets its own tmp_path).
os.environ.pop("FACELAB_RUNS_DIR", None)


class NetworkBlocked(RuntimeError):
    """Raised by the network guard when a test reaches beyond this machine."""


def _is_local(host) -> bool:
    """Loopback names and addresses (and AF_UNIX paths) stay allowed: local servers are not the network."""
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host is None or host in ("", "localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host) -> bool:
    try:
        ipaddress.ip_address(str(host).split("%")[0])
        return True
    except ValueError:
        return False


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_network: let this test open network connections "
                                       "(never in the default suite)")


@pytest.fixture(autouse=True)
def no_network(request, monkeypatch):
    """Fail any test that connects beyond loopback or resolves a remote name.

    Loopback (127.0.0.0/8, ::1, localhost) and AF_UNIX sockets stay allowed, so tests may serve pages on
    localhost. ``connect``, ``connect_ex`` and ``sendto`` (UDP, e.g. DNS by hand) are guarded, and so is
    ``getaddrinfo`` for remote names, which would send a DNS query. A test marked ``allow_network`` opts out.
    """
    if request.node.get_closest_marker("allow_network"):
        yield
        return

    def refuse(what, address):
        raise NetworkBlocked(f"Tests must not use the network (tried to {what} {address!r}); use loopback, "
                             "a local file:// URL or a monkeypatched urlopen instead.")

    def allowed(sock, address) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return sock.family == getattr(socket, "AF_UNIX", None) or _is_local(host)

    real_connect, real_connect_ex, real_sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self, address):
        return real_connect(self, address) if allowed(self, address) else refuse("connect to", address)

    def guarded_connect_ex(self, address):
        return real_connect_ex(self, address) if allowed(self, address) else refuse("connect to", address)

    def guarded_sendto(self, *args):
        return real_sendto(self, *args) if allowed(self, args[-1]) else refuse("send to", args[-1])

    def guarded_getaddrinfo(host, *args, **kwargs):
        if _is_local(host) or _is_ip_literal(host) or host in ("0.0.0.0", "::"):
            return real_getaddrinfo(host, *args, **kwargs)
        return refuse("resolve", host)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", guarded_sendto)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield


# The unit tests use tiny models, for which a second thread costs more in synchronisation than it saves
# (and CI machines are often shared). Chapters run in their own kernels and keep the default.
import torch  # noqa: E402

torch.set_num_threads(1)
