"""`[http] workers`: several processes answer on one port; a write through any is seen by the
next check on any; a worker killed is started again while the others answer; SIGTERM stops all."""

import gzip
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.cli import _env, cli
from tests.support.http import api_call, free_port
from tests.support.paths import ROOT
from tests.support.processes import running
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

# Cold (tests/support/launcher.py): a test finds the service's processes by their command lines.
pytestmark = [pytest.mark.both_stores, pytest.mark.cold]


@pytest.fixture
def deployment(tmp_path, store):
    """A config of two workers on free ports, and an admin key made with the CLI."""
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port(), http="workers = 2")
    created = cli("apikey", "create", "ops", "--scope", "admin", config=config)
    assert created.returncode == 0, created.stderr
    return config, port, created.stdout.strip().splitlines()[-1], tmp_path


def worker_pids(output: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker 1 started \(process (\d+)\)", output)]


def taken_by_each(base_url: str) -> dict[str, float]:
    """suppression_worker_requests by worker, from /metrics (urllib: a new connection a request)."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return {worker: float(n) for worker, n in re.findall(r'suppression_worker_requests_total\{worker="(\d+)"\} (\S+)', text)}


def until(condition, seconds: float = 30.0):
    """A bounded wait for what another process does in its own time, not a timing test."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)
    return value


def test_a_write_through_any_process_is_seen_by_the_next_check_on_any(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        # Each request on a new connection: the kernel spreads them over the two processes, so
        # among 40 write-then-check pairs many cross from one to the other, both ways.
        for n in range(40):
            email = f"person{n}@example.com"
            status, body = api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": email})
            assert (status, body["created"]) == (200, True)
            status, body = api_call(service.base_url, "GET", f"/v1/suppressions/{email}", key)
            assert (status, body["suppressed"]) == (200, True), (n, body)
            status, body = api_call(service.base_url, "POST", "/v1/check", key, {"emails": [email, "no@example.com"]})
            assert (status, body) == (200, {"suppressed": [email]})
        # Both took requests (the worker's counts reach the first process within a second).
        taken = until(lambda: (counts := taken_by_each(service.base_url)).get("1", 0) > 0 and counts)
        assert taken["0"] > 0 and taken["1"] > 0, taken
        # What a worker passes on arrives as it was sent: a body, a query, an error with its status.
        status, body = api_call(service.base_url, "GET", "/v1/changes?limit=5", key)
        assert status == 200 and len(body["changes"]) == 5
        for _ in range(10):
            status, body = api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": "not an address"})
            assert status == 400 and "error" in body
            # A hashed check (text in, text out) is answered by the first process, whoever took it.
            digests = [hashlib.sha256(email.encode()).hexdigest() for email in ("person3@example.com", "no@example.com")]
            request = urllib.request.Request(
                service.base_url + "/v1/check?hash=sha256", data="\n".join(digests).encode() + b"\n",
                headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.read() == digests[0].encode() + b"\n"
        code, output = service.stop(signal.SIGTERM)
    assert code == 0 and "workers stopped" in output and "Traceback" not in output, output


def test_a_killed_worker_is_started_again_while_the_first_answers(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        assert api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": "kept@example.com"})[0] == 200
        first = worker_pids(service.output)[-1]
        os.kill(first, signal.SIGKILL)
        # Connections the kernel had queued for the killed worker die with it, as with any process
        # killed; once it is gone (the first process saw it end), its socket is closed and new
        # connections go to the first process until the worker is back.
        service.wait_for_line("worker 1 ended (killed by signal 9)")
        for _ in range(20):
            status, body = api_call(service.base_url, "GET", "/v1/suppressions/kept@example.com", key)
            assert (status, body.get("suppressed")) == (200, True), (status, body)
        until(lambda: len(worker_pids(service.output)) == 2 and service.output.count("worker 1 ready") == 2)
        second = worker_pids(service.output)[-1]
        assert second != first
        before = taken_by_each(service.base_url)["1"]  # the killed worker's checks stay counted
        for _ in range(20):
            status, body = api_call(service.base_url, "GET", "/v1/suppressions/kept@example.com", key)
            assert (status, body.get("suppressed")) == (200, True), (status, body)
        until(lambda: taken_by_each(service.base_url)["1"] > before)  # the new worker answered some
        code, output = service.stop(signal.SIGTERM)
    assert code == 0, output
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # stopped with the first process, and reaped by it


def _descendants(pid: int) -> list[int]:
    found = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = [int(child) for child in listing.read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def processes_of(config) -> set[int]:
    """Every process whose command line names `config`: a service's, and its forked workers'."""
    found = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(config).encode() in cmdline.read_bytes() and running(int(cmdline.parent.name)):
                found.add(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.sqlite_only
def test_workers_end_with_the_first_process_however_it_ends(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        worker = worker_pids(service.output)[-1]
        serving = processes_of(config)
        assert serving == {service.process.pid, worker}
        assert _command_line(worker) == _command_line(service.process.pid)  # forked, not started afresh
        # A second start on the same data_dir fails (its lock), and the worker it forked first goes with it.
        second = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], cwd=cwd, env=_env(),
                                capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and "another instance" in second.stderr + second.stdout
        until(lambda: processes_of(config) == serving)
        # A worker only answers checks: it starts no writer's process. The first process's writer
        # (and the fork server it comes from) end with it, however it ends.
        api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": "written@example.com"})
        assert _descendants(worker) == []
        family = set(_descendants(service.process.pid)) - {worker}
        assert len(family) >= 2, family  # the writer's process and its fork server, at least
        service.stop(signal.SIGKILL)
    until(lambda: not running(worker))
    until(lambda: not any(running(pid) for pid in family))
    # The port is free again for the next start.
    with ServiceProcess(config, port, cwd) as service:
        assert api_call(service.base_url, "GET", "/v1/suppressions/x@example.com", key)[0] == 200


@pytest.mark.sqlite_only
def test_a_first_process_with_a_librarys_thread_starts_its_workers_afresh(deployment):
    # A fork copies one thread, and every lock the others held, held for ever in the child. NumPy's
    # BLAS starts a thread when told to (here: two of them on a machine of two cores or more).
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("with one core BLAS starts no thread of its own: the first process forks as usual")
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd, env={**_env(), "OPENBLAS_NUM_THREADS": "2"}) as service:
        service.wait_for_line("worker 1 ready")
        assert "2 threads in this process before it forks its workers" in service.output, service.output[-3000:]
        worker = worker_pids(service.output)[-1]
        assert b"handlers.worker" in _command_line(worker)  # a fresh interpreter
        status, body = api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": "kept@example.com"})
        assert status == 200, body

        def answered_by_both() -> bool:
            answer = api_call(service.base_url, "GET", "/v1/suppressions/kept@example.com", key)
            assert (answer[0], answer[1].get("suppressed")) == (200, True), answer
            taken = taken_by_each(service.base_url)
            return taken.get("0", 0) > 0 and taken.get("1", 0) > 0

        until(answered_by_both)
        code, output = service.stop(signal.SIGTERM)
    assert code == 0 and "Traceback" not in output, output[-3000:]


def _command_line(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return cmdline.read()


def sign_in_attempts(base_url: str, source: str, count: int, claims: str = "") -> list[int]:
    """Failed desk sign-ins from the loopback address `source`, each on a new connection (so
    either process takes it), saying X-Forwarded-For: `claims` (and a made-up worker token) if given."""
    host, port = base_url.removeprefix("http://").split(":")

    def request(method: str, path: str, body: str = "", cookie: str = "") -> tuple[int, str, str]:
        connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
        headers = {"Cookie": cookie} if cookie else {}
        if claims:
            headers.update({"X-Forwarded-For": claims, "X-Suppression-Worker": "guess"})
        if body:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.getheader("Set-Cookie") or "", answer.read().decode()
        finally:
            connection.close()

    _, set_cookie, page = request("GET", "/admin/")
    cookie = set_cookie.split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return [request("POST", "/admin/signin", f"key=sk_guess{n}&csrf={csrf}", cookie)[0] for n in range(count)]


@pytest.mark.sqlite_only
def test_the_desk_counts_failed_sign_ins_by_the_client_whichever_process_took_them(deployment):
    """Ten failed sign-ins from 127.0.0.2 and the next is refused, wherever each landed (a
    worker passes its client's address on); 127.0.0.3 is another client, not refused; and a
    client's own X-Forwarded-For, with a made-up token, names no one."""
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        assert sign_in_attempts(service.base_url, "127.0.0.2", 11) == [401] * 10 + [429]
        assert sign_in_attempts(service.base_url, "127.0.0.3", 1) == [401]
        claimed = [sign_in_attempts(service.base_url, "127.0.0.4", 1, claims=f"10.0.0.{n}")[0] for n in range(11)]
        assert claimed == [401] * 10 + [429]


@pytest.mark.sqlite_only
def test_a_worker_passes_on_only_paths_and_only_what_the_first_process_can_read(deployment):
    """A request naming another host (absolute form, or "//host/...") is for this service,
    whichever process takes it, and reaches no other; a gzip body arrives readable; no one else's counts reach /metrics."""
    config, port, key, cwd = deployment
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen()
    trap.setblocking(False)
    with trap, ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        elsewhere = f"127.0.0.1:{trap.getsockname()[1]}"
        # The absolute form names this service's /v1/changes; "//host/..." is a path it does not have.
        for target, expected in ((f"http://{elsewhere}/v1/changes", b"200"), (f"//{elsewhere}/v1/changes", b"404")) * 15:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
                client.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                               "Connection: close\r\n\r\n".encode())
                with client.makefile("rb") as reply:
                    status = reply.readline().split()[1]
            assert status == expected, (target, status)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nothing was passed on to it
        for n in range(10):
            request = urllib.request.Request(
                service.base_url + "/v1/suppressions", method="POST",
                data=gzip.compress(json.dumps({"email": f"zipped{n}@example.com"}).encode()),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                         "Content-Encoding": "gzip"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert json.loads(answer.read())["created"] is True
        for forwarded in ({}, {"X-Forwarded-For": "127.0.0.1"}):
            forged = urllib.request.Request(
                service.base_url + "/_workers/counts", method="POST",
                headers={"X-Suppression-Worker": "guess", **forwarded},
                data=json.dumps({"worker": 1, "process": 1, "requests": [["/v1/check", 200, 10**9]],
                                 "checked": {"bulk": 10**9}, "answered_early": {}}).encode())
            for _ in range(5):
                with pytest.raises(urllib.error.HTTPError) as refused:
                    urllib.request.urlopen(forged, timeout=30)
                assert refused.value.code == 404
                refused.value.close()
        assert all(n < 10**9 for n in taken_by_each(service.base_url).values())
