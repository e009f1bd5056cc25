"""Slow HTTP clients: N connections each send half a request and wait; a check must still answer.

    python bench/slowhttp.py [CONNECTIONS] [SECONDS]      # default 1000 and 80

Prints the check's answer and time while the connections are held, the service's memory, and
how many of the connections the service had closed after SECONDS.
"""

import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import rss_mb  # noqa: E402
from tests.conftest import ServiceProcess  # noqa: E402
from tests.reliability.helpers import call, deploy  # noqa: E402


def main() -> None:
    connections = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 80
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, connections + 100)), hard))
    folder = Path(tempfile.mkdtemp(prefix="slowhttp-"))
    deployment = deploy(folder)
    with ServiceProcess(deployment.config, deployment.http_port, folder) as service:
        held = []
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", deployment.http_port))
            sock.sendall(b"GET /v1/suppressions/a@example.com HTTP/1.1\r\nHost: x\r\n")  # never finished
            held.append(sock)
        started = time.monotonic()
        status, body = call(deployment, "GET", "/v1/suppressions/a@example.com")
        print(f"a check while {connections} half-requests are held: {status} in {(time.monotonic() - started) * 1000:.1f} ms")
        print(f"service memory: {rss_mb(service.process.pid):.0f} MB")
        time.sleep(seconds)  # the slow clients' whole point is time; nothing is asserted on it
        closed = sum(_closed(sock) for sock in held)
        print(f"closed by the service after {seconds:g} s: {closed} of {connections}")
        for sock in held:
            sock.close()


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


if __name__ == "__main__":
    main()
