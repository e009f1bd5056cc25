"""Several instances on one PostgreSQL database (CONTRACT §8), each `run.py` a process of its own
on its own ports, against a real server the tests start (tests/postgres.py)."""

import asyncio
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.reliability.helpers import SIGNING_KEY, smtp_send
from tests.support.cli import _env, cli, run_cli
from tests.support.http import api_call, free_port
from tests.support.order import WAITING_ON_SERVERS
from tests.support.paths import ROOT
from tests.support.postgres import PostgresServer, available, shared_server
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

pytestmark = [pytest.mark.skipif(not available() and os.environ.get("CI") != "true",
                                reason="needs Debian's postgresql package (.ci/run installs it)"),
              WAITING_ON_SERVERS]


class Instance:
    def __init__(self, tmp_path: Path, name: str, url: str, configured_key: bool = True):
        self.http, self.smtp = free_port(), free_port()
        folder = tmp_path / name
        folder.mkdir()
        signing = f'\n[signing]\nsecret_keys = ["{SIGNING_KEY}"]\n' if configured_key else ""
        self.config = write_config(
            folder / "config.toml", folder / "data", self.http, self.smtp,
            extra=f'\n[store]\nurl = "{url}"\n{signing}',
        )
        self.config.chmod(0o600)
        self.process = ServiceProcess(self.config, self.http, folder)
        self.base_url = f"http://127.0.0.1:{self.http}"


def _instances(tmp_path: Path, url: str, count: int = 2, configured_key: bool = True) -> tuple[list[Instance], str]:
    instances = [Instance(tmp_path, f"instance{n}", url, configured_key) for n in range(count)]
    created = cli("apikey", "create", "ops", "--scope", "admin", config=instances[0].config)
    assert created.returncode == 0, created.stderr
    return instances, created.stdout.strip().splitlines()[-1]


def suppressed(instance: Instance, key: str, email: str) -> bool:
    status, body = api_call(instance.base_url, "GET", f"/v1/suppressions/{email}", key)
    assert status == 200, body
    return body["suppressed"]


def within(seconds: float, condition) -> bool:
    """Whether `condition()` holds before `seconds` pass (asked again 10 ms after it answers: asked
    at once, the waits for a takeover spun a core, and a new connection to the database a time)."""
    deadline = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


@pytest.fixture
def database():
    return shared_server().create_database()


def test_a_change_through_one_instance_is_answered_by_the_other_within_a_second(tmp_path, database, run_alone):
    (a, b), key = _instances(tmp_path, database)
    # Within a second: no other test runs meanwhile (tests/support/alone.py); they start beside others.
    with a.process, b.process, run_alone():
        assert not suppressed(b, key, "jane@example.com")
        status, _ = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "jane@example.com"})
        assert status in (200, 201)
        assert within(1.0, lambda: suppressed(b, key, "jane@example.com"))
        status, _ = api_call(b.base_url, "DELETE", "/v1/suppressions/jane@example.com", key)
        assert status == 200
        assert within(1.0, lambda: not suppressed(a, key, "jane@example.com"))
        # The audit trail is one: both changes, in order, whichever instance is asked.
        _, feed = api_call(a.base_url, "GET", "/v1/changes?after=0", key)
        assert [(c["action"], c["email"]) for c in feed["changes"]] == [
            ("suppress", "jane@example.com"), ("unsuppress", "jane@example.com")]


def test_a_cli_import_is_answered_by_every_instance_as_soon_as_the_cli_returns(tmp_path, database):
    (a, b), key = _instances(tmp_path, database)
    rows = tmp_path / "import.csv"
    rows.write_text("email\n" + "".join(f"imported{n}@example.com\n" for n in range(2000)))
    with a.process, b.process:
        imported = run_cli("import", str(rows), config=a.config)
        assert imported.returncode == 0, imported.stderr
        # No wait: the CLI returned once both had followed its change (a check after it sees it).
        assert suppressed(a, key, "imported1999@example.com") and suppressed(b, key, "imported0@example.com")
        added = run_cli("add", "one-more@example.com", config=b.config)
        assert added.returncode == 0, added.stderr
        assert suppressed(a, key, "one-more@example.com") and suppressed(b, key, "one-more@example.com")
        status, body = api_call(b.base_url, "POST", "/v1/check", key,
                                {"emails": ["imported7@example.com", "nobody@example.com"]})
        assert (status, body["suppressed"]) == (200, ["imported7@example.com"])


def test_smtp_to_both_with_one_killed_midway_loses_nothing_and_handles_each_once(tmp_path, database):
    (a, b), key = _instances(tmp_path, database)
    acknowledged: list[str] = []
    refused: list[int] = []
    checks: list[int] = []
    stop_checking = threading.Event()

    def keep_checking():
        # The survivor answers checks throughout: one every 10 ms, where one after another took a
        # core of this process and of the survivor for the whole test.
        while not stop_checking.wait(0.01):
            status, _ = api_call(b.base_url, "GET", "/v1/suppressions/someone@example.com", key)
            checks.append(status)

    def send(instance: Instance, senders: list[str]):
        for sender in senders:
            try:
                code = smtp_send(instance.smtp, sender, sender.partition("@")[0])
            except (OSError, smtplib.SMTPException):
                code = 0  # the instance was killed mid-session: not acknowledged

            if code == 250:
                acknowledged.append(sender)
            else:
                refused.append(code)

    with a.process, b.process:
        checker = threading.Thread(target=keep_checking)
        checker.start()
        to_a = [f"a{n}@example.com" for n in range(150)]
        to_b = [f"b{n}@example.com" for n in range(150)]
        senders = [threading.Thread(target=send, args=(a, to_a)), threading.Thread(target=send, args=(b, to_b))]
        for thread in senders:
            thread.start()
        assert within(60, lambda: sum(s.startswith("a") for s in acknowledged) >= 50)
        a.process.process.send_signal(signal.SIGKILL)  # mid-way: some of its mail stored, not all handled
        a.process.process.wait(timeout=30)
        for thread in senders:
            thread.join(timeout=300)
        from_a = [s for s in acknowledged if s.startswith("a")]
        assert 50 <= len(from_a) < 150 and len([s for s in acknowledged if s.startswith("b")]) == 150

        def all_handled():
            with psycopg.connect(database) as conn:
                return conn.execute("SELECT count(*) FROM inbox WHERE status = 'pending'").fetchone()[0] == 0

        # The survivor takes over the dead instance's claims once its heartbeat has stopped.
        assert within(60, all_handled)
        stop_checking.set()
        checker.join(timeout=30)
        status, body = api_call(b.base_url, "POST", "/v1/check", key, {"emails": acknowledged})
        assert status == 200 and sorted(body["suppressed"]) == sorted(acknowledged)  # nothing acknowledged lost
        with psycopg.connect(database) as conn:
            stored = conn.execute("SELECT count(*), count(DISTINCT mail_from) FROM inbox").fetchone()
            per_address = conn.execute(
                "SELECT email, count(*) FROM changes GROUP BY email HAVING count(*) > 1").fetchall()
            senders = dict(conn.execute("SELECT id::text, mail_from FROM inbox").fetchall())
        assert stored[0] >= len(acknowledged) and per_address == []
        # B's log once it has stopped: it logs each message after its batch commits, so the log of
        # a live B can lag the database's "nothing pending" by a batch.
        code, b_log = b.process.stop(signal.SIGTERM)
        assert code == 0
        a_log = "".join(a.process.lines)
    assert checks and set(checks) == {200}
    # Each message handled once: no message number is logged as handled by both instances.
    handled_a = set(_handled(a_log))
    handled_b = set(_handled(b_log))
    assert not handled_a & handled_b
    # Every message is logged once settled, but A settles a batch (50) in one transaction and
    # logs after it commits: those of the group it died committing are settled and unlogged.
    # B stopped in good order: it logged all it settled, and it settled all it stored.
    unlogged = {number for number, sender in senders.items() if sender in acknowledged} - handled_a - handled_b
    assert all(senders[number].startswith("a") for number in unlogged) and len(unlogged) <= 50, unlogged


def _handled(log: str) -> list[str]:
    return [line.split("message ", 1)[1].split(":", 1)[0] for line in log.splitlines()
            if "suppression.intake" in line and " message " in line and ": request " in line]


def test_the_database_restarted_under_load_gives_503_and_451_then_recovers_by_itself(tmp_path):
    server = PostgresServer(durable=False).init()
    try:
        url = server.create_database()
        (a,), key = _instances(tmp_path, url, count=1)
        with a.process:
            status, _ = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "before@example.com"})
            assert status in (200, 201)
            server.stop()
            # Checks are answered from memory, a suppressed address's without its details (issue
            # 25: it was a 503); what needs the database (writes) is refused with the reason.
            status, body = api_call(a.base_url, "POST", "/v1/check", key,
                                    {"emails": ["before@example.com", "other@example.com"]})
            assert (status, body["suppressed"]) == (200, ["before@example.com"])
            status, body = api_call(a.base_url, "GET", "/v1/suppressions/before@example.com", key)
            assert (status, body["suppressed"], body.get("details_unavailable")) == (200, True, True), body
            assert "reason" not in body
            status, body = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "during@example.com"})
            assert status == 503 and "PostgreSQL" in body["error"]
            assert smtp_send(a.smtp, "during@example.com", "during") == 451
            health = urllib.request.Request(a.base_url + "/healthz")
            with pytest.raises(urllib.error.HTTPError) as down:
                urllib.request.urlopen(health, timeout=30)
            assert down.value.code == 503
            down.value.close()
            server.start()
            # The pool reconnects by itself (no restart of the service), and the first write after
            # the server is back is taken: before, the pool was sleeping in a back-off that had
            # grown with the outage (1, 2, 4, 8 s...), and that write got a 503 after 3 s.
            status, body = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "after@example.com"})
            assert status in (200, 201), body
            assert smtp_send(a.smtp, "after-mail@example.com", "after") == 250
            assert within(10, lambda: suppressed(a, key, "after-mail@example.com"))
            assert suppressed(a, key, "after@example.com") and not suppressed(a, key, "during@example.com")
            returncode, output = a.process.stop()
        assert returncode == 0
        assert "Traceback" not in output and "postgresql://" not in output
    finally:
        server.remove()


def test_sigkill_of_the_cli_mid_import_leaves_nothing_and_checks_never_fail(tmp_path, database):
    (a,), key = _instances(tmp_path, database, count=1)
    rows = 300_000
    csv = tmp_path / "bounces.csv"
    csv.write_text("email,reason\n" + "".join(f"bulk{n}@example.com,bounce\n" for n in range(rows)))
    command = [sys.executable, "-m", "suppression", "--config", str(a.config), "import", str(csv)]
    with a.process:
        api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "before@example.com"})
        importer = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        checks = 0
        try:
            with psycopg.connect(database, autocommit=True) as watcher:
                # Killed while its COPY streams rows into the server, inside its one transaction.
                while not watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY import_rows%%'"
                                          " AND pid <> pg_backend_pid()").fetchone()[0]:
                    assert importer.poll() is None, "the import finished before it could be interrupted"
                    status, body = api_call(a.base_url, "POST", "/v1/check", key,
                                            {"emails": ["before@example.com", "bulk1@example.com"]})
                    assert (status, body["suppressed"]) == (200, ["before@example.com"])
                    checks += 1
            importer.send_signal(signal.SIGKILL)
            importer.wait(timeout=30)
        finally:
            if importer.poll() is None:
                importer.kill()
        assert checks > 0
        assert not suppressed(a, key, "bulk1@example.com")
        status, _ = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "after@example.com"})
        assert status in (200, 201)  # the killed transaction's lock went with its connection
        # A later import runs and lands whole; a short one (the whole file again took 10 s, and
        # would have hidden rows the killed one left behind among its own).
        csv.write_text(f"email,reason\nbulk0@example.com,bounce\nbulk{rows - 1}@example.com,bounce\n")
        again = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        status, body = api_call(a.base_url, "POST", "/v1/check", key,
                                {"emails": ["bulk0@example.com", "bulk1@example.com", f"bulk{rows - 1}@example.com"]})
        assert body["suppressed"] == ["bulk0@example.com", f"bulk{rows - 1}@example.com"]
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 4  # nothing of the killed import


def test_instances_with_their_own_data_dirs_share_the_erasure_and_signing_keys(tmp_path, database, run_alone):
    # Before: each instance made its own erasure.key in its own data_dir; after an erasure
    # through one, the other answered `suppressed: false` for the erased address.
    (a, b), key = _instances(tmp_path, database, configured_key=False)
    # Within two seconds: no other test runs meanwhile (tests/support/alone.py); they start beside others.
    with a.process, b.process, run_alone():
        status, _ = api_call(a.base_url, "POST", "/v1/suppressions", key, {"email": "erase.me@example.com"})
        assert status in (200, 201)
        status, _ = api_call(a.base_url, "POST", "/v1/subjects/erase.me@example.com/erase", key)
        assert status == 200
        assert within(2.0, lambda: suppressed(b, key, "erase.me@example.com"))

        def bulk(instance: Instance) -> bytes:
            request = urllib.request.Request(instance.base_url + "/v1/check", data=b"ERASE.ME@example.com\nx@example.com\n",
                                             headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.read()

        assert bulk(b) == bulk(a) == b"ERASE.ME@example.com\n"
        # A link minted through one verifies on the other: one generated signing key for all.
        status, link = api_call(a.base_url, "POST", "/v1/links", key, {"email": "jane@example.com"})
        assert status == 200
        request = urllib.request.Request(link["url"].replace(a.base_url, b.base_url), data=b"List-Unsubscribe=One-Click",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        # Another instance's write: the next check here waits briefly for the change it heard of
        # (CONTRACT §8), at most OTHER_WRITES_SECONDS (issue 25: checks never wait on the store).
        assert suppressed(a, key, "jane@example.com")
    # Neither data_dir holds a key of its own: the database does.
    assert not list(tmp_path.glob("instance*/data/erasure.key"))
    with psycopg.connect(database) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM shared_secrets ORDER BY name")]
    assert names == ["erasure_key", "signing_key"]


def test_an_erasure_key_already_in_a_data_dir_is_the_one_shared(tmp_path, database):
    # An instance that erased before this version keyed its records with its file: the first to
    # start offers it to the database, so those records keep matching.
    from suppression.erasure import ErasureKeys
    from suppression.config import settings_from_mapping

    data = tmp_path / "old" / "data"
    data.mkdir(parents=True)
    (data / "erasure.key").write_text("k" * 64 + "\n", encoding="ascii")
    (data / "erasure.key").chmod(0o600)
    settings = settings_from_mapping({"service": {"data_dir": str(data)}, "store": {"url": database}})
    other = settings_from_mapping({"service": {"data_dir": str(tmp_path / "new")}, "store": {"url": database}})
    first, second = ErasureKeys.of_settings(settings), ErasureKeys.of_settings(other)
    assert first.record("jane@example.com") == second.record("jane@example.com") \
        == ErasureKeys("k" * 64).record("jane@example.com")


@pytest.mark.parametrize("configured_key, code", [(False, 2), (True, 1)])
def test_an_unreachable_database_stops_start_up_with_one_line_naming_the_cause(tmp_path, configured_key, code):
    # Before: a traceback ending in "pool initialization incomplete after 6.0 sec".
    port = free_port()
    signing = f'\n[signing]\nsecret_keys = ["{SIGNING_KEY}"]\n' if configured_key else ""
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port(),
                          extra=f'\n[store]\nurl = "postgresql://nobody@127.0.0.1:{free_port()}/none"\n{signing}')
    config.chmod(0o600)
    started = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], capture_output=True,
                             text=True, env=_env(), timeout=60)
    assert started.returncode == code
    lines = (started.stdout + started.stderr).strip().splitlines()
    assert len(lines) == 1 and "PostgreSQL" in lines[0] and "refused" in lines[0], lines


async def test_checks_do_not_wait_to_read_a_key_again_while_the_database_is_down(aiohttp_client, tmp_path, monkeypatch,
                                                                                 run_alone):
    # Before: every 30 s each key was read again before the answer; with PostgreSQL restarting,
    # checks of addresses never on the list waited for the reconnect (or got a 503).
    import time as clock

    import suppression.keyring
    from handlers.app import build_app
    from handlers.state import SERVICE
    from tests.support.http import bearer

    monkeypatch.setattr(suppression.keyring, "_KEY_CACHE_SECONDS", 0.0)  # every use is a stale one
    server = PostgresServer(durable=False).init()
    try:
        from suppression.config import settings_from_mapping

        settings = settings_from_mapping({"service": {"data_dir": str(tmp_path / "data")}, "smtp": {"port": 0},
                                          "store": {"url": server.create_database()}})
        client = await aiohttp_client(build_app(settings))
        key = await client.app[SERVICE].api_keys.create_api_key("mailer", "check")
        assert (await client.get("/v1/suppressions/a@example.com", headers=bearer(key))).status == 200
        await asyncio.to_thread(server.stop)
        worst = 0.0
        # It measures latencies of 100 ms: no other test runs meanwhile (tests/support/alone.py);
        # the server starts beside other tests. (Waiting for the others holds this loop: the
        # app in it has nothing to do meanwhile.)
        with run_alone():
            for n in range(20):
                started = clock.perf_counter()
                answer = await client.get(f"/v1/suppressions/never{n}@example.com", headers=bearer(key))
                worst = max(worst, clock.perf_counter() - started)
                assert answer.status == 200 and (await answer.json())["suppressed"] is False
        assert worst < 0.1
        await asyncio.to_thread(server.start)
    finally:
        await asyncio.to_thread(server.remove)
