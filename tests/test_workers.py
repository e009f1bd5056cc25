"""`[http] workers`: several processes answer on one port; a write through any is seen by the
next check on any; a worker killed is started again while the others answer; SIGTERM stops all."""

import json
import os
import re
import signal
import time
import urllib.error
import urllib.request

import pytest

from tests.support.cli import cli
from tests.support.http import api_call, free_port
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

pytestmark = pytest.mark.both_stores


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
            assert (status, body["suppressed"]) == (200, True)
        until(lambda: len(worker_pids(service.output)) == 2 and service.output.count("worker 1 ready") == 2)
        second = worker_pids(service.output)[-1]
        assert second != first
        until(lambda: taken_by_each(service.base_url).get("1", 0) > 0)
        for _ in range(20):
            status, body = api_call(service.base_url, "GET", "/v1/suppressions/kept@example.com", key)
            assert (status, body["suppressed"]) == (200, True)
        code, output = service.stop(signal.SIGTERM)
    assert code == 0, output
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # stopped with the first process, and reaped by it


@pytest.mark.sqlite_only
def test_workers_end_with_the_first_process_however_it_ends(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        worker = worker_pids(service.output)[-1]
        service.stop(signal.SIGKILL)
    until(lambda: not os.path.exists(f"/proc/{worker}") or _zombie(worker))
    # The port is free again for the next start.
    with ServiceProcess(config, port, cwd) as service:
        assert api_call(service.base_url, "GET", "/v1/suppressions/x@example.com", key)[0] == 200


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.sqlite_only
def test_only_our_workers_name_a_client_or_send_counts(deployment):
    """A client that says X-Forwarded-For (or a worker's header without its token) is still
    itself: ten failed desk sign-ins, each claiming another address, and the next is refused;
    and no one else's counts reach /metrics."""
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        service.wait_for_line("worker 1 ready")
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with opener.open(service.base_url + "/admin/", timeout=30) as page:
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode()).group(1)
        statuses = []
        for n in range(11):
            request = urllib.request.Request(
                service.base_url + "/admin/signin", data=f"key=sk_guess{n}&csrf={csrf}".encode(),
                headers={"X-Forwarded-For": f"10.0.0.{n}", "X-Suppression-Worker": "guess"})
            try:
                with opener.open(request, timeout=30) as answer:
                    statuses.append(answer.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        assert statuses == [401] * 10 + [429]
        forged = urllib.request.Request(
            service.base_url + "/_workers/counts", method="POST", headers={"X-Suppression-Worker": "guess"},
            data=json.dumps({"worker": 1, "requests": [["/v1/check", 200, 10**9]], "checked": {"bulk": 10**9},
                             "answered_early": {}, "received": 10**9}).encode())
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged, timeout=30)
        assert refused.value.code == 404
        assert all(n < 10**9 for n in taken_by_each(service.base_url).values())
