"""The one writer of an SQLite file: one connection on one thread, fed by one queue.

No "database is locked" between our own writers; writes that arrive together share one
transaction and one fsync (group commit), run in a single call on the writer thread, each in
its own SAVEPOINT, so one failing write does not undo the others in its group. A write's
future resolves only after COMMIT returns with synchronous=FULL: acknowledged means on disk.
When the disk or the file refuses writes, new work is refused (StoreUnavailable) with the
reason until a write succeeds again; after a read-only or I/O error the connection is opened
afresh before the next try. The store (suppression/store/sqlite.py) holds the queries.
"""

import asyncio
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from suppression.background import Wakeup, cancel_and_wait
from suppression.errors import BadImport, Conflict, NotFound, StoreUnavailable

log = logging.getLogger("suppression.store")

Write = Callable[[sqlite3.Connection], Any]
MAX_GROUP = 512
WRITER_CACHE_KIB = 64 * 1024


class SqliteWriter:
    """open(), start(), then write(); close() lets queued writes finish first.

    `migrate(db, path)` brings a newly opened connection's schema up to date; `on_commit(db)`
    runs on the writer thread after each group that committed, before anyone is answered."""

    def __init__(self, path: Path, migrate: Callable[[sqlite3.Connection, Path], None],
                 on_commit: Callable[[sqlite3.Connection], None]):
        self.path = path
        self._migrate, self._on_commit = migrate, on_commit
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._db: sqlite3.Connection | None = None  # used only on self._thread
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._busy_timeout_ms = 10_000
        self.problem: str | None = None  # why writes are refused now; None: they are not
        self._reopen = False  # the connection must be opened afresh before the next write
        self._written = Wakeup()  # set after each group of writes

    async def open(self, busy_timeout_ms: int) -> None:
        self._busy_timeout_ms = busy_timeout_ms
        await self.run_plain(self._open)

    def start(self) -> None:
        """Take writes; a read-only file is noted, so that writes are refused until it is writable."""
        self._task = asyncio.create_task(self._run(), name="store-writer")
        if not os.access(self.path, os.W_OK):
            # Reads work, so checks are answered; writes are refused until the file is writable.
            self._note_failure(sqlite3.OperationalError("the database file is read-only"))
            self._reopen = True

    async def close(self) -> None:
        if self._task is not None:
            # Let queued writes finish: their callers were promised an answer.
            await self._queue.join()
            await cancel_and_wait(self._task)
            self._task = None
        if self._db is not None:
            await self.run_plain(self._close)
        self._thread.shutdown(wait=True)

    async def write(self, work: Write) -> Any:
        """Run `work(db)` in the next group's transaction; its result once committed."""
        if self._task is None:
            raise StoreUnavailable("the database is closed")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((work, future))
        return await future

    async def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run `fn(db)` on the writer's thread and connection, outside any transaction (a checkpoint)."""
        return await self.run_plain(lambda: fn(self._db))

    async def run_plain(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def announce(self) -> None:
        """Wake whoever waits in wait(): something may have been written."""
        self._written.set()

    async def wait(self, timeout: float) -> None:
        """Return after the next group of writes (or announce()), or after `timeout` seconds."""
        await self._written.wait(timeout)

    # -- on the writer thread --------------------------------------------------------------

    def _open(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None)
        self._db = db
        db.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        # Inserts into a B-tree of ten million rows miss SQLite's default 2 MB cache on
        # almost every page; 64 MB holds the upper levels of every index.
        db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        # Deleted and replaced content is overwritten with zeros, not left in free space: an
        # erased address must not survive in the file's unused bytes.
        db.execute("PRAGMA secure_delete = ON")
        self._migrate(db, self.path)

    def _close(self) -> None:
        self._db.close()
        self._db = None

    def _commit(self, works: list[Write]) -> list[tuple[Any, BaseException | None]]:
        """One group, noting when writes start and stop failing."""
        if self._reopen:
            try:
                if self._db is not None:
                    self._close()
                self._open()
                self._reopen = False
            except sqlite3.Error as exc:
                self._note_failure(exc)
                return [(None, _unavailable(exc))] * len(works)
        outcomes, failure = _commit_group(self._db, works)
        if failure is not None:
            self._note_failure(failure)
            return outcomes
        self._on_commit(self._db)
        if self.problem is not None:
            log.warning("the database takes writes again (after: %s)", self.problem)
            self.problem = None
        return outcomes

    def _note_failure(self, exc: sqlite3.Error) -> None:
        # A connection that found its file read-only stays so; a new one sees a fixed file.
        self._reopen = getattr(exc, "sqlite_errorname", "").startswith(_REOPEN_AFTER)
        problem = f"{exc} ({_free_space(self.path.parent)})"
        if self.problem is None:
            log.error("the database %s refuses writes; new work is refused (503, SMTP 451) until it"
                      " takes them again: %s", self.path, problem)
        self.problem = problem

    # -- on the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                outcomes = await self.run_plain(partial(self._commit, [w for w, _ in group]))
            except BaseException as exc:
                _fail_all(group, StoreUnavailable("the service is stopping"))
                for _ in group:
                    self._queue.task_done()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("the database writer failed")
                continue
            for (_, future), (result, error) in zip(group, outcomes, strict=True):
                if not future.done():
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(result)
                self._queue.task_done()
            self.announce()


def _commit_group(
    db: sqlite3.Connection, works: list[Write]
) -> tuple[list[tuple[Any, BaseException | None]], sqlite3.Error | None]:
    """Run a group of writes in one transaction on the writer thread: (result, error) for each,
    and the error that refused the whole group, if one did."""
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        return [(None, _unavailable(exc))] * len(works), exc
    outcomes: list[tuple[Any, BaseException | None]] = []
    try:
        for work in works:
            db.execute("SAVEPOINT one_write")
            try:
                result = work(db)
            except Exception as exc:
                if _of_the_environment(exc):
                    raise  # the disk or the file, not this write: the whole group is refused
                if not isinstance(exc, (sqlite3.Error, BadImport, Conflict, NotFound)):
                    log.exception("a database write failed unexpectedly")
                db.execute("ROLLBACK TO one_write")
                db.execute("RELEASE one_write")
                outcomes.append((None, _domain_error(exc)))
            else:
                db.execute("RELEASE one_write")
                outcomes.append((result, None))
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        log.warning("database commit failed, %d writes refused: %s", len(works), exc)
        if db.in_transaction:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite has rolled back itself
        return [(None, _unavailable(exc))] * len(works), exc
    return outcomes, None


# Errors of the disk, the file or the lock, not of one write's content.
_ENVIRONMENT_ERRORS = (
    "SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_BUSY",
    "SQLITE_LOCKED", "SQLITE_CORRUPT", "SQLITE_NOMEM",
)
_REOPEN_AFTER = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _of_the_environment(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorname", "").startswith(_ENVIRONMENT_ERRORS)


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"free space unknown: {exc.strerror}"
    return f"{free / 1e6:.1f} MB free in {folder}"


def _unavailable(exc: sqlite3.Error) -> StoreUnavailable:
    return StoreUnavailable(f"the database cannot take writes now: {exc}")


def _domain_error(exc: BaseException) -> BaseException:
    if isinstance(exc, sqlite3.Error):
        return _unavailable(exc)
    return exc


def _fail_all(group, error: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(error)
