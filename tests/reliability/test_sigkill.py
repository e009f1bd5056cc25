"""SIGKILL in the middle of the work: mail intake, one-click POSTs and a bulk import, each under
load. After a restart every acknowledged request is there, and nothing is half-written."""

import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.reliability.helpers import call, deploy, integrity, one_click, smtp_send
from tests.reliability.test_disk_faults import wait_for
from tests.support.cli import _env
from tests.support.paths import ROOT
from tests.support.service import ServiceProcess

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

CLIENTS = 8


class Load:
    """Client threads repeating one request with a fresh value each time, noting what was acknowledged."""

    def __init__(self, attempt: Callable[[str], bool]):
        self.attempt = attempt
        self.acknowledged: list[str] = []
        self.in_flight = 0  # requests sent and not yet answered
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]

    def _client(self, number: int) -> None:
        for sequence in range(10**6):
            if self._stop.is_set():
                return
            value = f"c{number}-{sequence}@example.com"
            with self._lock:
                self.in_flight += 1
            try:
                if self.attempt(value):
                    with self._lock:
                        self.acknowledged.append(value)
            except OSError:
                return  # the service is gone: this request was never acknowledged
            finally:
                with self._lock:
                    self.in_flight -= 1

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def wait_for_acknowledged(self, count: int) -> None:
        assert wait_for(lambda: len(self.acknowledged) >= count, attempts=3000), len(self.acknowledged)

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def kill_under_load(deployment, attempt: Callable[[str], bool], acknowledged: int) -> list[str]:
    """Run the service under `attempt` load, SIGKILL it once `acknowledged` requests have
    succeeded, and return every request that was acknowledged before it died."""
    with ServiceProcess(deployment.config, deployment.http_port, deployment.cwd) as service:
        with Load(attempt) as load:
            load.wait_for_acknowledged(acknowledged)
            service.process.send_signal(signal.SIGKILL)
            service.process.wait(timeout=30)
        return list(load.acknowledged)


def bulk_check(deployment, emails: list[str]) -> list[str]:
    status, body = call(deployment, "POST", "/v1/check", {"emails": emails})
    assert status == 200
    return body["suppressed"]


def test_sigkill_during_smtp_intake_loses_no_acknowledged_message(tmp_path, store):
    deployment = deploy(tmp_path, extra_smtp="sender_messages_per_hour = 100000")
    acknowledged = kill_under_load(
        deployment, lambda sender: smtp_send(deployment.smtp_port, sender, sender.split("@")[0]) == 250, 200
    )
    if store == "sqlite":  # the SQLite file; PostgreSQL keeps its own
        assert integrity(deployment.database) == "ok"
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        # What was stored but not handled before the kill is handled now.
        assert wait_for(lambda: call(deployment, "GET", "/v1/inbox?status=pending")[1]["messages"] == [], 1000)
        status, inbox = call(deployment, "GET", "/v1/inbox?limit=1000")
        stored = {m["sender"]: m["status"] for m in inbox["messages"]}
        assert set(acknowledged) <= set(stored)
        assert {stored[sender] for sender in acknowledged} == {"request"}
        assert bulk_check(deployment, acknowledged) == acknowledged


@contextlib.contextmanager
def writes_blocked(deployment, store: str):
    """Another program holding the store's write lock: SQLite's, or on PostgreSQL the change log's."""
    if store == "sqlite":
        blocker = sqlite3.connect(deployment.database, isolation_level=None, timeout=30)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    import psycopg

    from suppression.config import load_settings

    with psycopg.connect(load_settings(deployment.config).store.url) as blocker:
        blocker.execute("LOCK TABLE changes IN EXCLUSIVE MODE")  # held until the rollback
        try:
            yield
        finally:
            blocker.rollback()


def test_sigkill_during_one_click_posts_loses_no_acknowledged_unsubscribe(tmp_path, store):
    deployment = deploy(tmp_path)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        with Load(lambda email: one_click(deployment.link(email, "newsletters")) == 200) as load:
            load.wait_for_acknowledged(200)
            # Another process takes the write lock, so no write can commit now. A service that
            # answered 200 before its commit would go on answering here, and the kill would lose
            # those; one that commits first answers nothing until the lock is free.
            with writes_blocked(deployment, store):
                before = len(load.acknowledged)
                assert wait_for(lambda: load.in_flight >= CLIENTS or len(load.acknowledged) >= before + 50)
                service.process.send_signal(signal.SIGKILL)
                service.process.wait(timeout=30)
        acknowledged = list(load.acknowledged)
    assert len(acknowledged) >= 200
    if store == "sqlite":  # the SQLite file; PostgreSQL keeps its own
        assert integrity(deployment.database) == "ok"
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        status, body = call(deployment, "POST", "/v1/check", {"emails": acknowledged, "topic": "newsletters"})
        assert body["suppressed"] == acknowledged
        status, changes = call(deployment, "GET", "/v1/changes?limit=10000")
        recorded = [c["email"] for c in changes["changes"]]
        assert len(recorded) == len(set(recorded))  # each once: no half-written or doubled rows
        assert set(acknowledged) <= set(recorded)
        assert {c["topic"] for c in changes["changes"]} == {"newsletters"}


@pytest.mark.sqlite_only  # watches the SQLite journal grow; tests/test_instances.py has PostgreSQL's
def test_sigkill_during_a_bulk_import_leaves_all_or_nothing_and_checks_never_fail(tmp_path):
    deployment = deploy(tmp_path)
    # The import writes its one transaction into the WAL as it commits (its cache holds the
    # rows until then): 120,000 rows make about 50 MB of it, a third of a second to write. This
    # thread watches the WAL every millisecond and kills the import once it passes 4 MB, mid-write;
    # another checks meanwhile, so a slow check never makes it miss that moment.
    rows = 120_000
    csv = tmp_path / "bounces.csv"
    csv.write_text("email,reason\n" + "".join(f"bulk{n}@example.com,bounce\n" for n in range(rows)))
    wal = deployment.database.with_name(deployment.database.name + "-wal")
    import_command = [sys.executable, "-m", "suppression", "--config", str(deployment.config), "import", str(csv)]
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        assert call(deployment, "POST", "/v1/suppressions", {"email": "before@example.com"})[0] == 200
        answers: list = []
        killed = threading.Event()

        def keep_checking():
            # Checks while the import holds the write lock, until it has been killed: one every
            # 10 ms (one after another took a core from the import it waits for).
            while not answers or not killed.wait(0.01):
                try:
                    answers.append(bulk_check(deployment, ["before@example.com", "bulk1@example.com"]))
                except Exception as exc:  # a check that failed fails the test below
                    answers.append(repr(exc))

        importer = subprocess.Popen(import_command, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        checker = threading.Thread(target=keep_checking)
        checker.start()
        try:
            while not (wal.exists() and wal.stat().st_size > 4 * 1024 * 1024):
                assert importer.poll() is None, "the import finished before it could be interrupted"
                time.sleep(0.001)
            importer.send_signal(signal.SIGKILL)
            assert importer.wait(timeout=30) == -signal.SIGKILL, "the import finished before it was killed"
        finally:
            killed.set()
            if importer.poll() is None:
                importer.kill()
            checker.join(timeout=60)
        assert answers and all(answer == ["before@example.com"] for answer in answers), answers[:5]
        assert integrity(deployment.database) == "ok"
        # Nothing of the interrupted import, and the service writes again at once.
        assert call(deployment, "GET", "/v1/suppressions/bulk1@example.com")[1]["suppressed"] is False
        assert call(deployment, "POST", "/v1/suppressions", {"email": "after@example.com"})[0] == 200
        assert call(deployment, "GET", "/v1/changes?limit=10")[1]["changes"][-1]["email"] == "after@example.com"
        # Run again, the import completes whole.
        again = subprocess.run(import_command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert wait_for(lambda: bulk_check(deployment, ["bulk0@example.com", f"bulk{rows - 1}@example.com"])
                        == ["bulk0@example.com", f"bulk{rows - 1}@example.com"])
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        with urllib.request.urlopen(service.base_url + "/metrics", timeout=30) as answer:
            assert f"suppression_list_size {rows + 2}.0" in answer.read().decode()
