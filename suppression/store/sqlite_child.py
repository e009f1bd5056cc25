"""The one writer of an SQLite file, in a process of its own: one connection, fed through a pipe by
the service's SqliteWriter (sqlite_writer.py), which keeps the queue and the groups.

In a thread, the writer's Python between SQLite's statements and the event loop's Python took
turns at one interpreter lock, handed over at every statement: a one-click cost 384 µs of the
service's CPU where its parts cost 145 (bench/README.md, "the writes made by a process of their
own"). Here they run beside each other.

What the pipe carries (each a tuple; the works and results are plain values, pickled):
- ("group", works) -> ("done", outcomes, failure): each work run as `work(db)` in one transaction
  (run again with a SAVEPOINT each if one fails: commit_group), committed with synchronous=FULL
  before the answer; an outcome is (result, error, the traceback of an error nobody expected),
  `failure` the text of what refused the whole group (the disk, the file), or None. `works` is
  the list pickled whole, or a list of each work pickled alone; one pickled whole that cannot
  be read here is answered ("unread",), with nothing run, and the service sends it again each
  work alone. An import among the works asks ("rows?", its place in the group) and reads its
  rows as ("rows", [...]) ... ("end",), or ("raise", error) if reading the file failed or its
  caller stopped waiting.
- ("run", fn) -> ("done", result, error, None): fn(db) outside any transaction (a checkpoint).
- ("close",) -> ("closed",), and the process ends; so it does when the pipe closes.

It logs nothing: the service logs what it is told, in its own format, and a trace of a person's
address stays out of a second log.
"""

import os
import pickle
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from suppression.changesignal import ChangeSignal
from suppression.errors import BadImport, Conflict, NotFound, StoreUnavailable
from suppression.lifetime import end_with_parent
from suppression.store.dialect import SQLITE

WRITER_CACHE_KIB = 64 * 1024

Outcome = tuple[Any, BaseException | None, str | None]  # result, error, the trace of an unexpected error


class Writer:
    """The connection and what the writer knows about it, in the child process."""

    def __init__(self, pipe, path: Path, busy_timeout_ms: int, migrations: list[str], signal_path: Path):
        self.pipe, self.path = pipe, path
        self.busy_timeout_ms, self.migrations = busy_timeout_ms, migrations
        self.signal = ChangeSignal(signal_path)
        self.db: sqlite3.Connection | None = None
        self.applied: list[int] = []  # the migrations its first open applied: the service logs them
        # The connection must be opened afresh before the next group: one that found its file
        # read-only stays so, and a new one sees a fixed file.
        self.reopen = False

    def open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        self.db = db
        db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        # Inserts into a B-tree of ten million rows miss SQLite's default 2 MB cache on
        # almost every page; 64 MB holds the upper levels of every index.
        db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        # Deleted and replaced content is overwritten with zeros, not left in free space: an
        # erased address must not survive in the file's unused bytes.
        db.execute("PRAGMA secure_delete = ON")
        self.applied += migrate(db, self.path, self.migrations)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def commit(self, works: list) -> tuple[list[Outcome], str | None]:
        """One group: (result, error, trace) for each work, and what refused the whole group."""
        if self.reopen:
            try:
                self.close()
                self.open()
            except sqlite3.Error as exc:
                self.reopen = _reopens_after(exc)
                return [(None, unavailable(exc), None)] * len(works), str(exc)
            self.reopen = False
        outcomes, failure = commit_group(self.db, works)
        if failure is not None:
            self.reopen = _reopens_after(failure)
            return outcomes, str(failure)
        # Before anyone is answered: a check anywhere that starts after the answer sees it.
        self.signal.publish(newest_change(self.db))
        return outcomes, None

    def rows(self, number: int) -> Iterator[tuple]:
        """The rows of the group's work `number`, an import, as the service reads them from its
        file (see the module's text). Closed early (the disk refused the import), it reads the
        rest of them, which still come, so that the pipe is left at the next message."""
        self.pipe.send(("rows?", number))
        ended = False
        try:
            while True:
                message = self._next_of_the_stream()
                if message[0] == "rows":
                    yield from message[1]
                    continue
                ended = True
                if message[0] == "raise":
                    raise message[1]
                return
        finally:
            while not ended:
                ended = self._next_of_the_stream()[0] != "rows"

    def _next_of_the_stream(self) -> tuple:
        try:
            return self.pipe.recv()
        except (EOFError, OSError):
            raise
        except Exception as exc:  # not a piece of rows (those always read): the end, unreadable
            return "raise", StoreUnavailable(f"the import's reading failed in a way the writer cannot read: {exc}")


_WRITER: Writer | None = None  # the child's one writer: an import reads its rows from its pipe


class ImportRows:
    """An import as a work: its rows stay in the service (`rows`, never pickled) and come down the
    pipe as the writer reads them (sqlite_import.py), asked for by the work's place in its group
    (`number`, set as the group is sent)."""

    def __init__(self, actor: str, rows=None):
        self.actor, self.rows, self.number = actor, rows, 0
        # Set in the service when its caller stops waiting (a Ctrl-C): the rows may then end early
        # (a file closed under its reader reads as ended), and the import is undone, not committed.
        self.abandoned = threading.Event()

    def __getstate__(self):
        return {"actor": self.actor, "rows": None, "number": self.number, "abandoned": None}

    def __call__(self, db: sqlite3.Connection) -> int:
        from suppression.store.sqlite_import import import_rows  # the child's; the service's loop never needs it

        rows = _WRITER.rows(self.number)
        try:
            return import_rows(db, rows, self.actor)
        finally:
            rows.close()  # read to their end now, whatever stopped the import: not when collected


def serve(pipe, path: Path, busy_timeout_ms: int, migrations: list[str], signal_path: Path) -> None:
    """The child process: open the file (migrating it), then answer the pipe until it closes."""
    global _WRITER
    _end_with_the_service()
    writer = _WRITER = Writer(pipe, path, busy_timeout_ms, migrations, signal_path)
    stop = _Stop()
    try:
        try:
            writer.open()
        except Exception as exc:
            refusal = exc if isinstance(exc, StoreUnavailable) else StoreUnavailable(
                f"cannot open the database {path}: {exc}")
            pipe.send(("opened", refusal, []))
            return
        # A file read-only now: reads work, so checks are answered; the connection is opened
        # afresh before each write until one succeeds.
        writer.reopen = not os.access(path, os.W_OK)
        pipe.send(("opened", None, writer.applied))
        while not stop.asked:
            with stop.at_once():
                message = pipe.recv()
            if message[0] == "group":
                works = _loaded_group(message[1])
                if works is None:
                    _send(pipe, ("unread",))  # the service sends it again, each work alone
                    continue
                outcomes, failure = writer.commit(works)
                _send(pipe, ("done", outcomes, failure))
            elif message[0] == "run":
                _send(pipe, ("done", *_outcome(message[1], writer.db)))
            else:
                writer.close()
                pipe.send(("closed",))
                return
    except (EOFError, OSError, _Stopped):
        return  # the service ended, or a signal came between writes; nothing is half written
    finally:
        writer.close()
        writer.signal.close()


def _end_with_the_service() -> None:
    """Killed at once when the service is, however it ends (Linux), like a writer thread would be:
    its parent is the fork server, which is killed with the service (sqlite_fork_server.py)."""
    if not end_with_parent(os.getppid(), signal.SIGKILL):
        os._exit(0)


class _Stopped(Exception):
    pass


class _Stop:
    """SIGTERM or SIGINT (systemd's stop, a Ctrl-C, multiprocessing's own at the service's exit, all
    sent to every process): ends the child at once while it waits for work, and after the group
    it is writing otherwise, so no write is cut half way. The service starts another for writes
    still queued."""

    def __init__(self):
        self.asked, self._waiting = False, False
        signal.signal(signal.SIGTERM, self._heard)
        signal.signal(signal.SIGINT, self._heard)

    def _heard(self, signum, frame) -> None:
        self.asked = True
        if self._waiting:
            raise _Stopped()

    @contextmanager
    def at_once(self):
        if self.asked:
            raise _Stopped()
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False


def _loaded_group(pickled: bytes | list[bytes]) -> list | None:
    """A group's works, pickled whole (None: it cannot be read here) or each alone."""
    if isinstance(pickled, list):
        return [_loaded(work) for work in pickled]
    try:
        works = pickle.loads(pickled)
    except Exception:
        return None
    return works if isinstance(works, list) else None


def _loaded(pickled: bytes):
    """A work as the service pickled it; one that cannot be read here fails alone, when it runs."""
    try:
        return pickle.loads(pickled)
    except Exception as exc:
        return partial(_unloadable, f"{type(exc).__name__}: {exc}")


def _unloadable(reason: str, db: sqlite3.Connection):
    raise StoreUnavailable(f"the database's writer could not read a write: {reason}")


def _send(pipe, message: tuple) -> None:
    """Send an answer the service can read whole: an error that would not make the trip (pickled
    and read again) is sent as a StoreUnavailable naming it, and a result that cannot be pickled
    as one saying so. Else the service could not read the answer, and would report writes this
    group committed as failed."""
    if message[0] == "done":
        outcomes = [_readable(outcome) for outcome in message[1]] if isinstance(message[1], list) else None
        message = ("done", outcomes, message[2]) if outcomes is not None else ("done", *_readable(message[1:]))
    try:
        data = pickle.dumps(message)
    except Exception:
        data = pickle.dumps(_without_results(message))
    pipe.send_bytes(data)


def _readable(outcome: Outcome) -> Outcome:
    result, error, trace = outcome
    if error is None or travels(error):
        return outcome
    return None, StoreUnavailable(f"the write failed: {type(error).__name__}"), trace


def travels(error: BaseException) -> bool:
    """Whether an error can cross the pipe: pickled, and read again on the other side."""
    try:
        pickle.loads(pickle.dumps(error))
        return True
    except Exception:
        return False


def _without_results(message: tuple) -> tuple:
    def one(outcome: Outcome) -> Outcome:
        try:
            pickle.dumps(outcome)
            return outcome
        except Exception:
            return (None, StoreUnavailable("the write was made, but its answer could not be passed back"),
                    traceback.format_exc())
    if isinstance(message[1], list):
        return "done", [one(outcome) for outcome in message[1]], message[2]
    return ("done", *one(message[1:]))


def _outcome(fn: Callable[[sqlite3.Connection], Any], db: sqlite3.Connection) -> Outcome:
    try:
        return fn(db), None, None
    except sqlite3.Error as exc:
        return None, unavailable(exc), None
    except Exception as exc:
        return None, exc, traceback.format_exc()


def commit_group(db: sqlite3.Connection, works: list) -> tuple[list[Outcome], sqlite3.Error | None]:
    """Run a group of writes in one transaction: (result, error, trace) for each, and the error that
    refused the whole group, if one did.

    First together, with no savepoint a write: in a savepoint SQLite keeps a copy of every page a
    write changes, a sixth of a one-click's time in this process (bench/README.md, "A savepoint a
    write, only where one fails"). If a write raises what is its own, nothing of that run is kept,
    and the group runs again with each write in a savepoint of its own, so that the failing one
    does not undo the others. So that a group is not run twice for long (the writer's deadline
    counts both runs), the writes after TOGETHER_SECONDS of a run take a savepoint each at once.
    An import, whose rows come down the pipe once, only ever runs in a savepoint."""
    if not any(isinstance(work, ImportRows) for work in works):
        try:
            return _in_one_transaction(db, works, TOGETHER_SECONDS)
        except _RunAgain:
            pass  # nothing of that run was kept
    return _in_one_transaction(db, works, together_seconds=0.0)


TOGETHER_SECONDS = 0.5


class _RunAgain(Exception):
    """A write run with no savepoint raised an error of its own: the transaction was rolled back."""


def _in_one_transaction(db: sqlite3.Connection, works: list,
                        together_seconds: float) -> tuple[list[Outcome], sqlite3.Error | None]:
    """The writes in one transaction: with no savepoint while `together_seconds` have not passed
    (one that fails then raises _RunAgain, nothing kept), then each in a savepoint of its own."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return [(None, unavailable(exc), None)] * len(works), exc
    outcomes: list[Outcome] = []
    until = time.monotonic() + together_seconds
    try:
        for work in works:
            if time.monotonic() < until:
                try:
                    outcomes.append((work(db), None, None))
                except Exception as exc:
                    if _of_the_environment(exc):
                        raise  # the disk or the file, not this write: the whole group is refused
                    _roll_back(db)
                    raise _RunAgain() from exc
            else:
                outcomes.append(_in_a_savepoint(db, work))
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        _roll_back(db)
        return [(None, unavailable(exc), None)] * len(works), exc
    return outcomes, None


def _in_a_savepoint(db: sqlite3.Connection, work) -> Outcome:
    """One write in a savepoint of its own: one that fails is undone alone (an error of the disk or
    the file is raised: the whole group is refused)."""
    db.execute("SAVEPOINT one_write")
    try:
        result = work(db)
    except Exception as exc:
        if _of_the_environment(exc):
            raise
        expected = isinstance(exc, (sqlite3.Error, BadImport, Conflict, NotFound))
        db.execute("ROLLBACK TO one_write")
        db.execute("RELEASE one_write")
        return None, _domain_error(exc), None if expected else traceback.format_exc()
    db.execute("RELEASE one_write")
    return result, None, None


def _roll_back(db: sqlite3.Connection) -> None:
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite has rolled back itself


def migrate(db: sqlite3.Connection, path: Path, migrations: list[str]) -> list[int]:
    """Bring the file's schema up to date; the numbers of the migrations applied."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(migrations):
        raise StoreUnavailable(
            f"the database {path} is at schema version {version}, newer than this "
            f"program ({len(migrations)}); upgrade the program"
        )
    for number, script in enumerate(migrations[version:], start=version + 1):
        # PRAGMA takes no parameters; `number` is our own integer, not input.
        try:
            db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    return list(range(version + 1, len(migrations) + 1))


def newest_change(db: sqlite3.Connection) -> int:
    return db.execute(SQLITE.NEWEST_CHANGE).fetchone()[0]


def reset_signal(db: sqlite3.Connection) -> None:
    """Set the shared word to what the database holds (a restored backup may be behind it)."""
    _WRITER.signal.reset(lambda: newest_change(db))


def remove_raw_before(before: str, db: sqlite3.Connection) -> tuple[int, int]:
    """The raw text of mail received before `before` removed: (messages, bytes)."""
    count, size = db.execute(SQLITE.RAW_BEFORE, (before,)).fetchone()
    db.execute(SQLITE.REMOVE_RAW_BEFORE, (before,))
    return count, size


def checkpoint(db: sqlite3.Connection) -> tuple[int, int, int]:
    """A checkpoint that empties the write-ahead log: (busy, pages in the log, pages moved)."""
    return db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()


# Errors of the disk, the file or the lock, not of one write's content.
_ENVIRONMENT_ERRORS = (
    "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_BUSY",
    "SQLITE_LOCKED", "SQLITE_CORRUPT", "SQLITE_NOMEM",
)
_REOPEN_AFTER = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _of_the_environment(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith(_ENVIRONMENT_ERRORS)


def _reopens_after(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "").startswith(_REOPEN_AFTER)


def unavailable(why: object) -> StoreUnavailable:
    """A write refused for the disk, the file or the writer's process, not for what it asked."""
    return StoreUnavailable(f"the database cannot take writes now: {why}")


def _domain_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return unavailable(exc)
    return exc
