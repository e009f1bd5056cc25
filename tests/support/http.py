"""Clients of a service running as a process: its JSON API, and free ports for it to listen on;
and raw HTTP/1.1 exchanges on one connection, to see the bytes a service answers."""

import asyncio
import itertools
import json
import os
import random
import socket
import urllib.error
import urllib.request


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def exchange(host: str, port: int, raw: bytes, answers: int) -> list[tuple[list[str], bytes]]:
    """Send `raw` on one new connection; read `answers` HTTP answers: (head lines, body) each."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        out = []
        for _ in range(answers):
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1").split("\r\n")[:-2]
            length = next(int(line.split(":", 1)[1]) for line in head if line.lower().startswith("content-length:"))
            out.append((head, await asyncio.wait_for(reader.readexactly(length), 10)))
        return out
    finally:
        writer.close()


def api_call(base_url: str, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    """One JSON API request to a service running as a process: (status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


EMBEDDED_PORTS = (8080, 8025)  # the embedded defaults' HTTP and SMTP: only their own test binds them
_SPARE_PORTS = 12_000  # ports just below the system's ephemeral range, shared out among the workers


def free_port() -> int:
    """A port free now for a process to listen on soon, never one of EMBEDDED_PORTS.

    Taken below the system's ephemeral range (32768-60999 on Linux), from this worker's own
    share of it: a port the system chose (bind to port 0) was free only until the next such
    bind, and a service the tests start takes half a second to listen, so another test's SMTP
    server on port 0 once took the docs' service's HTTP port first. The system never chooses
    these ports for port 0, and no other worker hands out this worker's."""
    share = _worker_share()
    if share is None:  # an ephemeral range with no room below it: the system's choice, as before
        return _system_port()
    for _ in range(len(share)):
        port = share[next(_turn) % len(share)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:  # in use (or closing) now: the next one
                continue
        if port not in EMBEDDED_PORTS:
            return port
    return _system_port()


def _system_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in EMBEDDED_PORTS:
            return port


def _worker_share() -> range | None:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ephemeral:
            low = int(ephemeral.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    start = low - _SPARE_PORTS
    if start < 10_000:
        return None
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = _SPARE_PORTS // max(workers, 1)
    return range(start + worker * size, start + (worker + 1) * size)


# Where this process starts in its share: anywhere, so that a run beside another on the machine
# (or the last one's ports still closing) seldom meets the same ports.
_turn = itertools.count(random.randrange(_SPARE_PORTS))
