"""Clients of a service running as a process: its JSON API, and free ports for it to listen on."""

import json
import socket
import urllib.error
import urllib.request


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


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


def free_port() -> int:
    """A port of the system's choosing (its ephemeral range, 32768-60999 on Linux), never one of
    EMBEDDED_PORTS: the test of the embedded defaults then runs beside any other."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in EMBEDDED_PORTS:
            return port
