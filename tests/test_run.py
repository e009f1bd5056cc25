"""The service as a process: start-up, clean stop on SIGTERM, restart and SIGKILL with data kept."""

import json
import signal
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import ServiceProcess, free_port, run_cli, write_config


def call(base_url: str, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def deployment(tmp_path):
    """A config on free ports, and an admin key made with the CLI as an operator would."""
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    created = run_cli("apikey", "create", "ops", "--scope", "admin", config=config)
    assert created.returncode == 0, created.stderr
    return config, port, created.stdout.strip().splitlines()[-1], tmp_path


def test_sigterm_stops_cleanly_and_restart_keeps_the_data(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        status, body = call(service.base_url, "POST", "/v1/suppressions", key, {"email": "jane@example.com"})
        assert (status, body["created"]) == (200, True)
        code, output = service.stop(signal.SIGTERM)
    assert code == 0, output
    assert "database closed" in output
    assert "Traceback" not in output
    with ServiceProcess(config, port, cwd) as service:
        status, body = call(service.base_url, "GET", "/v1/suppressions/jane@example.com", key)
        assert (status, body["suppressed"], body["source"]) == (200, True, "api")
        code, _ = service.stop(signal.SIGINT)
    assert code == 0


def test_acknowledged_suppressions_survive_sigkill(deployment):
    config, port, key, cwd = deployment
    emails = [f"user{n}@example.com" for n in range(50)]
    with ServiceProcess(config, port, cwd) as service:
        for email in emails:
            status, _ = call(service.base_url, "POST", "/v1/suppressions", key, {"email": email})
            assert status == 200
        service.stop(signal.SIGKILL)
    with ServiceProcess(config, port, cwd) as service:
        status, body = call(service.base_url, "GET", "/v1/changes?limit=1000", key)
        assert [c["email"] for c in body["changes"]] == emails


def test_cli_changes_reach_the_running_server(deployment):
    config, port, key, cwd = deployment
    with ServiceProcess(config, port, cwd) as service:
        assert run_cli("add", "cli@example.com", config=config).returncode == 0
        # The server follows the change log; wait (bounded) until it has caught up.
        for _ in range(200):
            status, body = call(service.base_url, "POST", "/v1/check", key, {"emails": ["cli@example.com"]})
            if body["suppressed"]:
                break
            time.sleep(0.05)
        assert body["suppressed"] == ["cli@example.com"]
        assert run_cli("remove", "cli@example.com", config=config).returncode == 0
        for _ in range(200):
            status, body = call(service.base_url, "POST", "/v1/check", key, {"emails": ["cli@example.com"]})
            if not body["suppressed"]:
                break
            time.sleep(0.05)
        assert body["suppressed"] == []


def test_starts_on_embedded_defaults_in_an_empty_folder(tmp_path):
    # The README's first command: no config at all, data under ./data, ports 8080 and 8025.
    service = ServiceProcess(None, 8080, tmp_path)
    with service:
        with urllib.request.urlopen(service.base_url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
        code, _ = service.stop()
    assert code == 0
    assert (tmp_path / "data" / "suppression.sqlite3").exists()
    assert (tmp_path / "data" / "signing.key").stat().st_mode & 0o777 == 0o600
