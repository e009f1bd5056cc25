"""The service as a process: start-up, clean stop on SIGTERM, restart and SIGKILL with data kept."""

import gc
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.support.cli import _env, cli, run_cli
from tests.support.http import api_call, free_port
from tests.support.paths import ROOT
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

# About start-up: every program here starts from a cold interpreter (tests/support/launcher.py).
pytestmark = pytest.mark.cold

call = api_call  # (base_url, method, path, key, body=None) -> (status, body)


@pytest.fixture
def deployment(tmp_path):
    """A config on free ports, and an admin key made with the CLI as an operator would."""
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    created = cli("apikey", "create", "ops", "--scope", "admin", config=config)
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
        assert (status, body["suppressed"]) == (200, True)
        # Its details too; a check waits 50 ms for them, which a just-started service on a loaded
        # machine may miss (then `details_unavailable`): asked again, briefly.
        for _ in range(50):
            if "source" in body:
                break
            status, body = call(service.base_url, "GET", "/v1/suppressions/jane@example.com", key)
        assert body["source"] == "api", body
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
    # On the fixed ports 8080 and 8025, which no other test binds (tests/support/http.py's
    # free_port never gives them): it runs beside the others.
    # The README's first command: no config at all, data under ./data, ports 8080 and 8025.
    service = ServiceProcess(None, 8080, tmp_path)
    with service:
        # Its own line: another program on 8080 would answer /healthz while this one failed to bind.
        service.wait_for_line("serving HTTP on http://127.0.0.1:8080")
        with urllib.request.urlopen(service.base_url + "/healthz", timeout=5) as answer:
            assert answer.status == 200
        code, _ = service.stop()
    assert code == 0
    assert (tmp_path / "data" / "suppression.sqlite3").exists()
    assert (tmp_path / "data" / "signing.key").stat().st_mode & 0o777 == 0o600


def _smtp_send(port: int, sender: str) -> int:
    import smtplib

    raw = (f"From: <{sender}>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n").encode()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as session:
        session.ehlo("client.example")
        session.mail(sender)
        session.rcpt("PLUSinfo@plusnxt.com")
        return session.data(raw)[0]


@pytest.fixture
def smtp_deployment(tmp_path):
    http, smtp = free_port(), free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", http, smtp)
    created = cli("apikey", "create", "ops", "--scope", "admin", config=config)
    return config, http, smtp, created.stdout.strip().splitlines()[-1], tmp_path


def test_mail_acknowledged_before_sigkill_is_all_honoured_after_restart(smtp_deployment):
    config, http, smtp, key, cwd = smtp_deployment
    senders = [f"person{n}@example.com" for n in range(30)]
    with ServiceProcess(config, http, cwd) as service:
        assert all(_smtp_send(smtp, sender) == 250 for sender in senders)
        service.stop(signal.SIGKILL)  # right after the last 250, handled or not
    with ServiceProcess(config, http, cwd) as service:
        for _ in range(250):  # bounded wait for the intake task to finish what was stored
            _, inbox = call(service.base_url, "GET", "/v1/inbox?status=pending", key)
            if not inbox["messages"]:
                break
            time.sleep(0.02)
        _, inbox = call(service.base_url, "GET", "/v1/inbox?limit=100", key)
        assert [m["status"] for m in inbox["messages"]] == ["request"] * 30
        _, checked = call(service.base_url, "POST", "/v1/check", key, {"emails": senders})
        assert checked["suppressed"] == senders


def test_sigterm_answers_open_smtp_sessions_with_421(smtp_deployment):
    config, http, smtp, key, cwd = smtp_deployment
    with ServiceProcess(config, http, cwd) as service:
        with socket.create_connection(("127.0.0.1", smtp), timeout=30) as sock:
            reader = sock.makefile("rb")
            assert reader.readline().startswith(b"220")
            sock.sendall(b"EHLO client.example\r\n")
            while not reader.readline().startswith(b"250 "):
                pass
            code, output = service.stop(signal.SIGTERM)
            assert reader.readline().startswith(b"421 4.3.2")
    assert code == 0, output
    assert "SMTP stopped" in output and "database closed" in output


@pytest.mark.parametrize("taken", ["http", "smtp"])
def test_a_port_in_use_stops_start_up_cleanly_with_one_line(tmp_path, taken):
    http, smtp = free_port(), free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", http, smtp)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", http if taken == "http" else smtp))
        holder.listen()
        # A failed start-up must unwind what did start: with the database left open, its
        # threads kept the process alive (this run would time out).
        run = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)],
                             capture_output=True, text=True, env=_env(), timeout=60, cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert "cannot start:" in run.stderr and "address already in use" in run.stderr
    assert "database closed" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_second_instance_on_the_same_sqlite_data_dir_is_refused(deployment):
    config, port, _, cwd = deployment
    with ServiceProcess(config, port, cwd) as first:
        second_port = free_port()
        second = write_config(cwd / "second.toml", cwd / "data", second_port, free_port())
        started = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(second)], capture_output=True,
                                 text=True, env=_env(), timeout=60)
        assert started.returncode == 2
        assert "another instance" in started.stderr + started.stdout and "Traceback" not in started.stderr
        assert str(first.process.pid) in started.stderr + started.stdout
        assert run_cli("check", "jane@example.com", config=config).returncode == 0  # the CLI works beside it
    with ServiceProcess(second, second_port, cwd) as again:  # once the first has stopped, it may
        assert again.process.poll() is None


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_holds_the_collector_then_gives_it_back_as_it_was(enabled):
    # The CLI and the service load their modules with it held (handlers/serve.py); the CLI runs
    # in this process too (tests/support/cli.py), where a test may have held it itself.
    from handlers.serve import _collector_held

    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with _collector_held():
            assert not gc.isenabled()
        assert gc.isenabled() == enabled
        with pytest.raises(ValueError), _collector_held():
            raise ValueError("a module that fails to load")
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


SEEN = """
import gc, sys
import aiohttp.web
aiohttp.web.run_app = lambda *args, **kwargs: print("serving with the collector", gc.isenabled())
import suppression.cli
command = suppression.cli.main
def seen(argv, serve):
    print("the command with the collector", gc.isenabled())
    return command(argv, serve)
suppression.cli.main = seen
from handlers.serve import console
sys.exit(console(sys.argv[1:]))
"""


def test_a_command_and_the_service_run_with_the_collector_on(tmp_path):
    # In a process of its own: loading held it, and it must be on again for what runs after.
    run = subprocess.run([sys.executable, "-c", SEEN, "serve"], cwd=tmp_path, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == ["the command with the collector True", "serving with the collector True"]
