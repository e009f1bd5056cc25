"""Either store (marked both_stores): durability, group commits, imports, the index's keys; and
the SQLite file's own (migrations, its lock, the append-only log's triggers; PostgreSQL's are in
test_pg_store.py)."""

import asyncio
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest

from suppression.addresses import key_of_canonical
from suppression.apikeys import ApiKey
from suppression.errors import BadImport, Conflict, StoreUnavailable
from suppression.model import ALL_EMAILS, ImportRow, Outcome, Scope, signed64
from suppression.schema import MIGRATIONS
from suppression.store import SuppressionStore, sqlite_child
from suppression.store.postgresql import PostgresStore
from tests.support.outside import execute_from_outside
from tests.support.paths import ROOT
from tests.support.processes import running
from tests.support.writes import execute, execute_then_refuse

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


@pytest.fixture
async def db(settings):
    """The test's store (conftest's `store` names which), opened on a new database."""
    if settings.store.url:
        opened = PostgresStore(settings.store.url)
    else:
        opened = SuppressionStore(settings.database_path)
    await opened.open()
    yield opened
    await opened.close()


def key(email: str) -> int:
    return key_of_canonical(email)


def statements_of(store) -> dict[str, str]:
    """Every named statement the store runs: those written once in sql.py, and its dialect's own."""
    return {name: text for name, text in vars(store.q).items() if name.isupper()}


async def test_every_statement_written_once_is_one_this_database_prepares(db):
    # A statement kept once for both dialects must mean something to each: each is compiled
    # (SQLite: EXPLAIN; PostgreSQL: PREPARE) against the migrated schema, not run.
    refused = {}
    for name, text in statements_of(db).items():
        if text.split()[0] not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            continue  # PostgreSQL's SET TRANSACTION: not a statement PREPARE takes
        try:
            if isinstance(db, SuppressionStore):
                numbered = [int(n) for n in re.findall(r"\?(\d+)", text)]
                params = ([None] * max(numbered) if numbered else
                          [[None] if piece.endswith(("= ANY(", "<> ALL(")) else None for piece in text.split("?")[:-1]])
                await db._read("EXPLAIN " + text, params)
            else:
                numbered, count = text, 0
                while "%s" in numbered:
                    count += 1
                    numbered = numbered.replace("%s", f"${count}", 1)
                for named in dict.fromkeys(re.findall(r"%\((\w+)\)s", numbered)):
                    count += 1
                    numbered = numbered.replace(f"%({named})s", f"${count}")
                async with db._conn() as conn:
                    await conn.execute(f"PREPARE checked AS {numbered}")
                    await conn.execute("DEALLOCATE checked")
        except StoreUnavailable as exc:
            refused[name] = str(exc)
    assert len(statements_of(db)) > 80 and refused == {}


async def test_a_statement_refused_inside_a_write_is_that_writes_domain_error_and_the_store_goes_on(db):
    # The driver's refusal (a unique key) is thrown into the write where its statement was
    # yielded (store/steps.py), which answers Conflict; the next writes are not held by it.
    await db.add_api_key(ApiKey("k1", "mailer", "check", "hash1"))
    writes = [db.add_api_key(ApiKey("k2", "mailer", "admin", "hash2")),
              db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "test")]
    refused, (_, change_id) = await asyncio.gather(*writes, return_exceptions=True)
    assert isinstance(refused, Conflict) and "exists already" in str(refused)
    assert change_id is not None and await db.find_api_key("k2") is None
    assert [name for name, *_ in await db.list_api_keys()] == ["mailer"]
    assert await db.revoke_api_key("mailer") and await db.find_api_key("k1") is None


@pytest.mark.sqlite_only
async def test_pending_mail_leaves_out_what_is_being_read_elsewhere(db):
    # The slow lane's messages (suppression/slow_mail.py) are not fetched again with their text.
    ids = [await db.add_message(f"Subject: {n}\r\n\r\nx".encode(), "a@example.com", ["r@example.com"])
           for n in range(4)]
    assert [m[0] for m in await db.pending_messages(10)] == ids
    assert [m[0] for m in await db.pending_messages(10, skip=[ids[0], ids[2]])] == [ids[1], ids[3]]
    assert [m[0] for m in await db.pending_messages(1, skip=ids[:1])] == [ids[1]]
    assert await db.pending_messages(10, skip=ids) == []


async def test_pending_mail_named_first_comes_first_in_that_order_then_the_oldest(db):
    # suppression/turns.py: the oldest unread of each network first, then the oldest of all.
    ids = [await db.add_message(f"Subject: {n}\r\n\r\nx".encode(), "a@example.com", ["r@example.com"])
           for n in range(6)]
    taken = await db.pending_messages(4, skip=[ids[0]], first=[ids[5], ids[3], ids[0], ids[5]])
    assert [m[0] for m in taken] == [ids[5], ids[3], ids[1], ids[2]]  # neither skipped nor twice
    assert taken[0][1:] == (b"Subject: 5\r\n\r\nx", "a@example.com")
    assert [m[0] for m in await db.pending_messages(2, first=[ids[4], ids[3], ids[2]])] == [ids[4], ids[3]]
    outcome = Outcome("review", ["read"], [], ALL_EMAILS, None, None, None, None, [], None)
    await db.settle_message(ids[4], outcome, [], None, "email", "email:1")
    assert [m[0] for m in await db.pending_messages(3, first=[ids[4], ids[2]])] == [ids[2], ids[0], ids[1]]


async def test_migrates_an_empty_database_to_the_latest_schema(tmp_path):
    path = tmp_path / "fresh.sqlite3"
    store = SuppressionStore(path)
    await store.open()
    await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"suppressions", "changes", "api_keys"} <= tables


@pytest.mark.sqlite_only
async def test_reopening_applies_no_migration_twice_and_keeps_data(tmp_path, caplog):
    path = tmp_path / "db.sqlite3"
    first = SuppressionStore(path)
    with caplog.at_level(logging.INFO, logger="suppression.store"):
        await first.open()
    await first.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "test")
    await first.close()
    # A service started from another folder (a relative data_dir) says it starts an empty list.
    assert f"no database was at {path}: a new, empty one is made" in caplog.messages
    caplog.clear()
    second = SuppressionStore(path)
    with caplog.at_level(logging.INFO, logger="suppression.store"):
        await second.open()
    try:
        assert not [message for message in caplog.messages if "migration" in message or "new, empty" in message]
        assert [s.email for s in await second.suppressions_of("a@example.com")] == ["a@example.com"]
    finally:
        await second.close()


@pytest.mark.sqlite_only
async def test_database_from_a_newer_program_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreUnavailable, match="newer than this program"):
        await SuppressionStore(path).open()


async def test_an_acknowledged_write_is_visible_to_another_connection(db, settings):
    await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "test")
    assert execute_from_outside(settings, "SELECT email FROM suppressions") == [("a@example.com",)]
    assert execute_from_outside(settings, "SELECT action, email FROM changes") == [("suppress", "a@example.com")]


async def test_concurrent_writes_share_commits_and_all_land(db):
    emails = [f"user{n}@example.com" for n in range(300)]
    results = await asyncio.gather(
        *(db.suppress(e, key(e), ALL_EMAILS, "manual", "api", "test") for e in emails)
    )
    assert all(change_id is not None for _, change_id in results)
    assert await db.count() == 300
    ids = [c.id for c in await db.changes_after(0, 1000)]
    assert ids == sorted(ids) and len(ids) == 300


@pytest.mark.sqlite_only
async def test_one_failing_write_in_a_group_does_not_undo_the_others(db):
    broken = partial(execute, "INSERT INTO no_such_table VALUES (1)", ())
    good = [db.suppress(f"u{n}@example.com", key(f"u{n}@example.com"), ALL_EMAILS, "manual", "api", "t") for n in range(5)]
    outcome = await asyncio.gather(db._write(broken), *good, return_exceptions=True)
    assert isinstance(outcome[0], StoreUnavailable)
    assert await db.count() == 5


@pytest.mark.sqlite_only
async def test_a_write_that_fails_after_changing_something_leaves_nothing_and_the_others_are_kept(db):
    """A group runs first with no savepoint a write, then again a savepoint each once one fails:
    nothing of the failed write, nor of the first run, is left (the change ids follow on)."""
    refused = partial(execute_then_refuse, "INSERT INTO campaigns (id, sent, created_at, updated_at) VALUES (?, 1, ?, ?)",
                      ("refused", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"))
    good = [db.suppress(f"u{n}@example.com", key(f"u{n}@example.com"), ALL_EMAILS, "manual", "api", "t") for n in range(4)]
    outcome = await asyncio.gather(good[0], good[1], db._write(refused), good[2], good[3], return_exceptions=True)
    assert isinstance(outcome[2], Conflict)
    assert [change_id for _, change_id in outcome[:2] + outcome[3:]] == [1, 2, 3, 4]
    assert [c.id for c in await db.changes_after(0, 10)] == [1, 2, 3, 4]
    assert await db.count() == 4
    with sqlite3.connect(db.path) as other:
        assert other.execute("SELECT count(*) FROM campaigns").fetchone() == (0,)


@pytest.mark.sqlite_only
def test_a_group_runs_again_only_for_the_writes_it_ran_with_no_savepoint(tmp_path, monkeypatch):
    """The writer's process runs a group with no savepoint a write for TOGETHER_SECONDS, and
    again a savepoint each if one of those writes fails; past that time each write takes its
    savepoint at once, so that a long group is not run twice (the writer's deadline counts both
    runs; a reviewing helper's). In this process, on a real file."""
    db = sqlite3.connect(tmp_path / "group.sqlite3", isolation_level=None)
    db.execute("CREATE TABLE t (n INTEGER)")
    runs: list[int] = []

    def insert(n: int, sqlite: sqlite3.Connection) -> int:
        runs.append(n)
        sqlite.execute("INSERT INTO t VALUES (?)", (n,))
        if n == 2:
            raise Conflict("the third write fails after its insert")
        return n

    works = [partial(insert, n) for n in range(4)]
    outcomes, failure = sqlite_child.commit_group(db, works)
    assert failure is None and [result for result, _, _ in outcomes] == [0, 1, None, 3]
    assert isinstance(outcomes[2][1], Conflict) and runs == [0, 1, 2, 0, 1, 2, 3]  # run again, a savepoint each
    assert [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")] == [0, 1, 3]
    monkeypatch.setattr(sqlite_child, "TOGETHER_SECONDS", 0.0)  # the time passed before the first write
    runs.clear()
    outcomes, failure = sqlite_child.commit_group(db, [partial(insert, n) for n in range(4)])
    assert failure is None and runs == [0, 1, 2, 3] and isinstance(outcomes[2][1], Conflict)
    assert [n for (n,) in db.execute("SELECT n FROM t ORDER BY n")] == [0, 0, 1, 1, 3, 3]


@pytest.mark.sqlite_only
async def test_audit_trail_is_append_only(db):
    await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "test")
    other = sqlite3.connect(db.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        other.execute("DELETE FROM changes")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        other.execute("UPDATE changes SET actor = 'someone else'")


def _rows(*emails, fail_at=None):
    for line, email in enumerate(emails, start=2):
        if line == fail_at:
            raise BadImport("broken", line=line)
        yield ImportRow(email, ALL_EMAILS, "import", signed64(key(email)), line)


async def test_import_only_adds_and_keeps_existing_reason_and_time(db):
    existing, _ = await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "complaint", "api", "t")
    added = await db.import_rows(_rows("a@example.com", "b@example.com", "b@example.com"), "cli:test")
    assert added == 1
    (kept,) = await db.suppressions_of("a@example.com")
    assert (kept.reason, kept.since) == ("complaint", existing.since)
    assert [(c.email, c.source) for c in await db.changes_after(0, 10)] == [
        ("a@example.com", "api"), ("b@example.com", "import"),
    ]


async def test_import_that_fails_part_way_writes_nothing(db):
    with pytest.raises(BadImport):
        await db.import_rows(_rows("a@example.com", "b@example.com", "c@example.com", fail_at=4), "t")
    assert await db.count() == 0
    assert await db.changes_after(0, 10) == []
    # The writer is still healthy afterwards.
    assert await db.import_rows(_rows("a@example.com"), "t") == 1


@pytest.mark.sqlite_only
async def test_writes_fail_cleanly_while_another_process_holds_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr("suppression.store.sqlite._BUSY_TIMEOUT_MS", 50)
    db = SuppressionStore(tmp_path / "db.sqlite3")
    await db.open()
    blocker = sqlite3.connect(db.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreUnavailable, match="cannot take writes"):
            await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "t")
    finally:
        blocker.execute("ROLLBACK")
    # Once the lock is gone, writing works again.
    _, change_id = await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert change_id is not None
    await db.close()


async def test_index_keys_load_per_topic_with_the_cursor(db):
    for email, topic in (("a@example.com", None), ("b@example.com", None), ("a@example.com", "newsletters")):
        await db.suppress(email, key(email), Scope.of_topic(topic), "manual", "api", "t")
    cursor, keys = await db.load_index_keys()
    assert cursor == 3
    assert sorted(int(k) for k in keys[ALL_EMAILS]) == sorted([key("a@example.com"), key("b@example.com")])
    assert [int(k) for k in keys[Scope("newsletters")]] == [key("a@example.com")]


# -- the SQLite writer's own process (suppression/store/sqlite_child.py) ---------------------------


def _writer_pid(db) -> int:
    return db._writer._child.process.pid


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


@pytest.mark.sqlite_only
async def test_a_killed_writer_fails_only_the_writes_it_held_and_the_next_one_starts(db):
    await db.suppress("before@example.com", key("before@example.com"), ALL_EMAILS, "manual", "api", "t")
    pid = _writer_pid(db)
    # A statement that keeps the writer busy for seconds, killed while it runs.
    busy = asyncio.create_task(db._write(partial(
        execute, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000000)"
                 " SELECT count(*) FROM c", ())))
    while _cpu_ticks(pid) < 5:  # it is running the statement (bounded by the test's timeout)
        await asyncio.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(StoreUnavailable, match="writer's process ended"):
        await busy
    assert db.write_problem is not None and "writer's process ended" in db.write_problem
    # The next write starts another, and what was acknowledged before is there.
    await db.suppress("after@example.com", key("after@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert _writer_pid(db) != pid and db.write_problem is None
    assert await db.count() == 2


@pytest.mark.sqlite_only
async def test_a_writer_stopped_between_writes_is_started_again_without_an_error(db):
    await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "t")
    pid = _writer_pid(db)
    os.kill(pid, signal.SIGTERM)  # as systemd's stop or a Ctrl-C reach every process of the group
    while running(pid):  # it ends between writes (bounded by the test's timeout)
        await asyncio.sleep(0.01)
    await db.suppress("b@example.com", key("b@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert db.write_problem is None and await db.count() == 2


@pytest.mark.sqlite_only
async def test_a_writer_that_stops_answering_is_waited_for_and_what_waits_behind_it_is_refused(db):
    """A stalled disk (here, a stopped process): the group the child holds may yet be committed,
    so it is waited for; past the deadline the write queued behind it, and one asked for after,
    are refused with the reason and never written, and the store says why until it answers."""
    await db.suppress("before@example.com", key("before@example.com"), ALL_EMAILS, "manual", "api", "t")
    writer, pid = db._writer, _writer_pid(db)
    writer.deadline_seconds = 0.5
    os.kill(pid, signal.SIGSTOP)
    try:
        held = asyncio.create_task(db.suppress("held@example.com", key("held@example.com"), ALL_EMAILS,
                                               "manual", "api", "t"))
        while writer.holding == 0:  # until it is handed to the child (bounded by the test's timeout)
            await asyncio.sleep(0.01)
        queued = asyncio.create_task(db.suppress("queued@example.com", key("queued@example.com"), ALL_EMAILS,
                                                 "manual", "api", "t"))
        with pytest.raises(StoreUnavailable, match="has not finished a group of writes in 0.5 s"):
            await queued
        assert "new writes are refused" in db.write_problem and not held.done()
        with pytest.raises(StoreUnavailable, match="has not finished a group of writes"):
            await db.suppress("after@example.com", key("after@example.com"), ALL_EMAILS, "manual", "api", "t")
    finally:
        os.kill(pid, signal.SIGCONT)
    await held
    assert db.write_problem is None and await db.count() == 2  # before and held; neither refused one
    await db.suppress("later@example.com", key("later@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert await db.count() == 3


@pytest.mark.sqlite_only
async def test_a_stop_signal_to_an_idle_writer_loses_no_write_sent_right_after_it(db):
    """The child ends between groups on SIGTERM (a stop sent to every process of the group); a
    group sent to it meanwhile was never begun, and is given to the next one."""
    for n in range(5):
        await db.suppress(f"a{n}@example.com", key(f"a{n}@example.com"), ALL_EMAILS, "manual", "api", "t")
        os.kill(_writer_pid(db), signal.SIGTERM)
        await db.suppress(f"b{n}@example.com", key(f"b{n}@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert await db.count() == 10 and db.write_problem is None


@pytest.mark.sqlite_only
async def test_a_stop_signal_to_the_fork_server_does_not_reach_the_writer_through_it(db):
    """A `kill -TERM -PGID` reaches the fork server too: were it to end, the writer, set to end
    with it, would be killed in the middle of a group."""
    await db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "t")
    writer = _writer_pid(db)
    server = int(Path(f"/proc/{writer}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(server, signal.SIGTERM)
    await db.suppress("b@example.com", key("b@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert running(server) and _writer_pid(db) == writer and await db.count() == 2


@pytest.mark.sqlite_only
async def test_an_import_that_fails_while_its_rows_stream_fails_alone_in_its_group(db):
    """A row the driver cannot bind (a lone surrogate: UnicodeEncodeError, not an error of
    SQLite's) stops the import while its rows are still coming; they are read to their end, and
    the write beside it in the group is committed and answered as such."""
    def rows():
        for line in range(2, 20_002):
            email = "bad\udcff@example.com" if line == 10_000 else f"row{line}@example.com"
            yield ImportRow(email, ALL_EMAILS, "import", signed64(line), line)

    imported, beside = await asyncio.gather(
        db.import_rows(rows(), "t"),
        db.suppress("beside@example.com", key("beside@example.com"), ALL_EMAILS, "manual", "api", "t"),
        return_exceptions=True)
    assert isinstance(imported, UnicodeEncodeError)
    assert not isinstance(beside, BaseException) and beside[1] is not None
    assert await db.count() == 1
    await db.suppress("after@example.com", key("after@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert await db.count() == 2 and db.write_problem is None


@pytest.mark.sqlite_only
async def test_an_import_whose_caller_stops_waiting_is_undone_though_its_rows_then_end(db):
    """A Ctrl-C during `suppression import`: the command stops waiting and closes its file, which
    its reader, on the writer's thread, then reads as ended. What was read must not be committed
    as if it were the whole file (a probing helper's interrupted imports kept 211,210 of 300,000
    rows, in seven runs of 27)."""
    reached, closed = threading.Event(), threading.Event()

    def rows():
        for line in range(2, 20_002):
            if line == 12_000:
                reached.set()
                closed.wait(30)  # the file is closed under its reader: it reads as ended
                return
            yield ImportRow(f"row{line}@example.com", ALL_EMAILS, "import", signed64(line), line)

    importing = asyncio.create_task(db.import_rows(rows(), "t"))
    while not reached.is_set():  # the rows are streaming (bounded by the test's timeout)
        await asyncio.sleep(0.01)
    importing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await importing
    closed.set()
    # Queued after the import: answered once the import's group has been settled.
    await db.suppress("after@example.com", key("after@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert await db.count() == 1 and db.write_problem is None


@pytest.mark.sqlite_only
async def test_a_write_that_fails_unexpectedly_is_logged_here_and_its_group_goes_on(db, caplog):
    caplog.set_level(logging.ERROR, logger="suppression.store")
    outcome = await asyncio.gather(
        db._write(partial(divmod, 1, 0)),  # TypeError in the writer: a fault of ours, not of the disk
        db._write(lambda sqlite: None),  # a closure cannot be sent to the writer's process
        db.suppress("c@example.com", key("c@example.com"), ALL_EMAILS, "manual", "api", "t"),
        return_exceptions=True)
    assert isinstance(outcome[0], TypeError)
    assert isinstance(outcome[1], StoreUnavailable) and "could not be passed" in str(outcome[1])
    assert not isinstance(outcome[2], BaseException) and await db.count() == 1  # each failed alone
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged.count("a database write failed unexpectedly") == 2
    assert "TypeError: divmod expected 2 arguments" in logged and "pickle" in logged
    await db.suppress("d@example.com", key("d@example.com"), ALL_EMAILS, "manual", "api", "t")
    assert db.write_problem is None


class _UnreadableInTheWriter:
    """A work the service pickles, which raises as the writer's process reads it."""

    def __reduce__(self):
        return _refuse_to_be_read, ()


def _refuse_to_be_read():
    raise RuntimeError("not readable here")


@pytest.mark.sqlite_only
async def test_a_group_the_writer_cannot_read_whole_is_sent_again_and_only_the_unreadable_write_fails(db):
    """Groups go to the writer's process pickled whole; one it cannot read is sent again a write
    at a time, so the others are written and the one it cannot read fails alone, saying so."""
    outcome = await asyncio.gather(
        db.suppress("a@example.com", key("a@example.com"), ALL_EMAILS, "manual", "api", "t"),
        db._write(_UnreadableInTheWriter()),
        db.suppress("b@example.com", key("b@example.com"), ALL_EMAILS, "manual", "api", "t"),
        return_exceptions=True)
    assert isinstance(outcome[1], StoreUnavailable) and "not readable here" in str(outcome[1])
    assert not isinstance(outcome[0], BaseException) and not isinstance(outcome[2], BaseException)
    assert await db.count() == 2 and db.write_problem is None


@pytest.mark.sqlite_only
def test_a_program_without_a_main_guard_writes_through_the_writers_process(tmp_path):
    """multiprocessing imports the main module again in a process it starts: a script's top level
    ran a second time in the writer, and one without an `if __name__ == "__main__"` started
    itself there and waited for ever."""
    script = tmp_path / "script.py"
    script.write_text(
        "import asyncio\n"
        "from suppression.store import SuppressionStore\n"
        "from suppression.model import ALL_EMAILS\n"
        "async def main():\n"
        f"    store = SuppressionStore({str(tmp_path / 'data' / 'db.sqlite3')!r})\n"
        "    await store.open()\n"
        "    await store.suppress('a@example.com', 1, ALL_EMAILS, 'manual', 'api', 't')\n"
        "    print('written', await store.count())\n"
        "    await store.close()\n"
        "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "written 1\n"), done.stderr
