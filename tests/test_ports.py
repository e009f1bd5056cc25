"""free_port(): ports no bind to port 0 can take before the service that asked listens."""

import itertools
import socket

from tests.support import http
from tests.support.http import EMBEDDED_PORTS, free_port


def _ephemeral_low() -> int:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ephemeral:
        return int(ephemeral.read().split()[0])


def test_a_free_port_is_below_the_systems_choices_and_free_to_listen_on():
    # Before: a port the system chose for port 0, which the next bind to port 0 (another test's
    # SMTP server) could be given before the service asking for it listened: 19 docs tests failed.
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50 and not set(ports) & set(EMBEDDED_PORTS)
    assert all(port < _ephemeral_low() for port in ports)


def test_a_port_in_use_is_passed_over(monkeypatch):
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free to listen on
        sock.listen()
        monkeypatch.setattr(http, "_turn", itertools.count(http._worker_share().index(port)))
        assert free_port() != port  # the next one of the share


def test_each_worker_hands_out_its_own_share(monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "3")
    shares = []
    for worker in ("gw0", "gw1", "gw2"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        shares.append(set(http._worker_share()))
    assert all(len(share) == 4000 for share in shares)
    assert not (shares[0] & shares[1] or shares[1] & shares[2] or shares[0] & shares[2])
    assert max(max(share) for share in shares) == _ephemeral_low() - 1
