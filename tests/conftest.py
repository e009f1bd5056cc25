"""Fixtures: real settings in a temporary folder, the real app on a real socket, real keys."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from handlers.app import build_app
from handlers.state import SERVICE
from suppression.config import settings_from_mapping
from tests.postgres import available as postgres_available, shared_server

ROOT = Path(__file__).resolve().parent.parent


# The modules whose tests that take `settings` run on both stores: SQLite, and a database of
# a throwaway PostgreSQL server (tests/postgres.py).
_databases: dict[Path, str] = {}
_test_store = ["sqlite"]  # the running test's store: settings made without naming one use it


# Every test's mail comes from 127.0.0.1 and most of it is unproven: the tests of the hourly
# budgets (tests/security/test_forged_from.py) set it as an operator would, the rest lift it.
UNLIMITED_UNPROVEN = {"unproven_requests_per_network_per_hour": 1_000_000, "unproven_requests_per_hour": 1_000_000}


def make_settings(data_dir: Path, store: str | None = None, **tables):
    # SMTP on a port of the system's choosing, so tests never collide on 8025.
    store = store or _test_store[0]
    raw = {"service": {"data_dir": str(data_dir)}, "smtp": {"port": 0, **UNLIMITED_UNPROVEN}}
    if store == "postgresql":
        raw["store"] = {"url": database_of(data_dir)}
    for name, table in tables.items():
        raw.setdefault(name, {}).update(table)
    return settings_from_mapping(raw)


def database_of(data_dir: Path) -> str:
    """The PostgreSQL database of a data folder: made on first use, found again after (a restart)."""
    if data_dir not in _databases:
        _databases[data_dir] = shared_server().create_database()
    return _databases[data_dir]


def pytest_generate_tests(metafunc):
    # A module marks itself `pytestmark = pytest.mark.both_stores` (renaming it keeps its PostgreSQL run).
    if ("store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores") is not None
            and metafunc.definition.get_closest_marker("sqlite_only") is None):
        postgresql = pytest.param("postgresql", marks=pytest.mark.skipif(
            not postgres_available() and os.environ.get("CI") != "true",
            reason="needs Debian's postgresql package (.ci/run installs it)"))
        metafunc.parametrize("store", ["sqlite", postgresql])


@pytest.fixture(autouse=True)
def store():
    """Which store the test's settings name (parametrised over both for modules marked both_stores)."""
    return "sqlite"


@pytest.fixture(autouse=True)
def _settings_on_the_tests_store(store):
    _test_store[0] = store
    yield
    _test_store[0] = "sqlite"


@pytest.fixture
def settings(tmp_path, store):
    return make_settings(tmp_path / "data", store)


@pytest.fixture
async def client(aiohttp_client, settings):
    """A test client of the real app, served over a loopback socket."""
    return await aiohttp_client(build_app(settings))


@pytest.fixture
async def admin_key(client):
    return await client.app[SERVICE].create_api_key("admin-tests", "admin")


@pytest.fixture
async def sync_key(client):
    return await client.app[SERVICE].create_api_key("sync-tests", "sync")


@pytest.fixture
async def check_key(client):
    return await client.app[SERVICE].create_api_key("check-tests", "check")


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(path: Path, data_dir: Path, http_port: int, smtp_port: int, extra: str = "") -> Path:
    if _test_store[0] == "postgresql" and "[store]" not in extra:
        extra += f'\n[store]\nurl = "{database_of(data_dir)}"\n'
    path.write_text(
        f"""
[service]
base_url = "http://127.0.0.1:{http_port}"
data_dir = "{data_dir}"

[http]
port = {http_port}

[smtp]
port = {smtp_port}
unproven_requests_per_network_per_hour = 1000000
unproven_requests_per_hour = 1000000
{extra}
""",
        encoding="utf-8",
    )
    return path


def run_cli(*args: str, config: Path | None = None, stdin: str | None = None, cwd: Path | None = None):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # not on an event loop's thread: blocking here blocks nobody
    else:
        # A server in this loop would stand still meanwhile, holding whatever it was in the
        # middle of (a row lock the CLI then waits for, until the timeout).
        raise AssertionError("run_cli blocks the event loop; call it as `await in_thread(run_cli, ...)`")
    command = [sys.executable, "-m", "suppression"]
    if config is not None:
        command += ["--config", str(config)]
    return subprocess.run(
        command + list(args), capture_output=True, text=True, input=stdin, cwd=cwd or ROOT,
        env=_env(), timeout=120,
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SUPPRESSION_CONFIG", None)
    return env


class ServiceProcess:
    """`python run.py --config ...` in a subprocess, for start-up, signals and restarts; or any
    other `command` that starts the service (then with `env` as given)."""

    def __init__(self, config: Path | None, http_port: int, cwd: Path,
                 command: list[str] | None = None, env: dict[str, str] | None = None):
        self.config, self.http_port, self.cwd = config, http_port, cwd
        self.command = command or [sys.executable, str(ROOT / "run.py")]
        self.env = env if env is not None else _env()
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{http_port}"

    def start(self) -> "ServiceProcess":
        options = ["--config", str(self.config)] if self.config is not None else []
        self.process = subprocess.Popen(
            [*self.command, *options],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        # Read the log as it comes: a full pipe would block the service's logging, and its loop.
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self.wait_ready()
        return self

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, attempts: int = 300) -> None:
        # Polls until the service answers; a bounded wait for readiness, not a timing test.
        for _ in range(attempts):
            if self.process.poll() is not None:
                self._reader.join(timeout=30)
                self.process.stdout.close()
                raise AssertionError(f"service exited early:\n{self.output}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("service did not become ready")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        self._finish()
        return self.process.returncode, self.output

    def _finish(self) -> None:
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        self.process.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.process is not None and not self.process.stdout.closed:
            if self.process.poll() is None:
                self.process.kill()
            self._finish()


def count_from_outside(settings, table: str) -> int:
    """Rows of a table, read on a connection of another program (what a 250 or a 200 promised)."""
    assert table.isidentifier()
    return execute_from_outside(settings, f"SELECT count(*) FROM {table}")[0][0]


def execute_from_outside(settings, statement: str) -> list:
    """One statement of the test's own, on a connection of another program, committed; its rows."""
    if settings.store.url:
        import psycopg

        with psycopg.connect(settings.store.url, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []
    import sqlite3

    db = sqlite3.connect(settings.database_path, isolation_level=None)
    try:
        return db.execute(statement).fetchall()
    finally:
        db.close()
