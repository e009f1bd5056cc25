"""The SQLite store: one file, one writer, readers beside it.

Every write is a transaction of steps (writes.py) handed to the one writer (sqlite_writer.py:
one queue, group commits, one connection in a process of its own, sqlite_child.py; datasette's
pattern, out of the event loop's interpreter). Reads go through
aiosqlite on another connection; WAL lets them run beside the writer. The parts written once
for both stores (part.py) hold the rest; this file holds what only a file does.
"""

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from suppression.changesignal import SIGNAL_NAME, ChangeSignal
from suppression.datadir import create_private_file, secure_data_dir
from suppression.errors import StoreUnavailable
from suppression.index import ScopeRows
from suppression.keyfile import KEY_FILE_NAME
from suppression.model import ImportRow, Scope
from suppression.schema import MIGRATIONS
from suppression.store import sqlite_child
from suppression.store.changelog import ChangeLog
from suppression.store.dialect import SQLITE, spread
from suppression.store.erasing import Erasure
from suppression.store.keys import ApiKeys
from suppression.store.rows import claimed_first
from suppression.store.messages import Messages
from suppression.store.sqlite_child import ImportRows, newest_change
from suppression.store.sqlite_writer import SqliteWriter, Write
from suppression.store.steps import Steps, run_steps
from suppression.store.suppressions import Suppressions
from suppression.store.webhooks import Webhooks

log = logging.getLogger("suppression.store")

_BUSY_TIMEOUT_MS = 10_000
q = SQLITE


class SuppressionStore(Suppressions, ChangeLog, Messages, Erasure, ApiKeys, Webhooks):
    """The database: open() before use, close() after; all methods are coroutines (see Store)."""

    q = SQLITE
    instance = None  # one process serves a file: nobody else claims its messages
    unique_violation = sqlite3.IntegrityError

    def __init__(self, path: Path):
        self.path = Path(path)
        self._writer = SqliteWriter(self.path, self.path.parent / SIGNAL_NAME)
        self._reader: aiosqlite.Connection | None = None
        self.stored_mail_bytes = 0  # raw received mail kept, in bytes (read at open, added to after)
        self.signal: ChangeSignal | None = None  # how far the change log has got, for every process
        self.reachable = True  # a local file: it answers or fails at once, never reconnects

    # -- life cycle -------------------------------------------------------------------

    async def open(self) -> None:
        """See Store.open."""
        # The list is personal data: the folder and its files are for this user alone. SQLite
        # gives the WAL and shared-memory files the database file's mode.
        secure_data_dir(self.path.parent, refused_if_loose=frozenset({KEY_FILE_NAME}))
        create_private_file(self.path)
        self.signal = ChangeSignal(self.path.parent / SIGNAL_NAME)
        try:
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await self._reader.execute("PRAGMA query_only = ON")
            (version,) = (await self._read("PRAGMA user_version"))[0]
            # The writer's process starts now only to make the file or bring its schema up to
            # date (or to refuse a newer one); else at the first write (a worker: never).
            await self._writer.open(_BUSY_TIMEOUT_MS, MIGRATIONS, now=version != len(MIGRATIONS))
        except sqlite3.Error as exc:
            await self.close()
            raise StoreUnavailable(f"cannot open the database {self.path}: {exc}") from None
        except BaseException:
            # A connection left open keeps its thread, and the process, alive.
            await self.close()
            raise
        (self.stored_mail_bytes,) = (await self._read(q.STORED_MAIL_BYTES))[0]
        self._writer.start()

    async def close(self) -> None:
        """See Store.close."""
        try:
            await self._writer.close()
        finally:
            if self._reader is not None:  # its thread would keep the process alive
                await self._reader.close()
                self._reader = None
        if self.signal is not None:
            self.signal.close()
            self.signal = None

    async def join(self) -> None:
        """A server instance joins: nothing to do for a file that one instance serves."""

    def note_followed(self, cursor: int) -> None:
        """The index has applied changes up to `cursor`: the shared word already tells every process."""

    async def lead_receiver(self, url: str) -> bool:
        """Whether this process delivers to a webhook receiver: the one instance of a file does."""
        return True

    async def reset_signal(self) -> None:
        """See Store.reset_signal."""
        await self._writer.run(sqlite_child.reset_signal)

    @asynccontextmanager
    async def budget_lock(self) -> AsyncIterator[None]:
        """See Store.budget_lock: the file's one process counts alone already."""
        yield

    async def ping(self) -> bool:
        """See Store.ping."""
        if self._reader is None:
            return False
        try:
            await self._read(q.PING)
        except StoreUnavailable:
            return False
        return True

    # -- the one writer (sqlite_writer.py) ---------------------------------------------------

    @property
    def write_problem(self) -> str | None:
        """Why writes are refused now; None: they are not."""
        return self._writer.problem

    async def _transact(self, steps: Callable[[], Steps], ordered: bool = True) -> Any:
        """See Part._transact: in the writer's next group (sqlite_child.commit_group)."""
        return await self._writer.write(partial(run_steps, steps))  # not through _write: an await less

    async def _write(self, work: Write) -> Any:
        """Run `work(db)` in the writer's process in the next group; its result once committed."""
        return await self._writer.write(work)

    def announce_writes(self) -> None:
        """Wake whoever waits in wait_for_writes: something may have been written."""
        self._writer.announce()

    async def wait_for_writes(self, timeout: float) -> None:
        """Return after the next group of writes (or announce_writes), or after `timeout` seconds."""
        await self._writer.wait(timeout)

    # -- reads --------------------------------------------------------------------------

    async def _read(self, statement: str, params=(), free_within: float | None = None, whole: bool = False) -> list:
        """The rows of one query on the reader connection (one connection: nothing to wait for).
        The driver's errors (a damaged or changed file, a closed connection) become the domain's
        StoreUnavailable: a 503 or a 451 with the reason, never a traceback."""
        if self._reader is None:
            raise StoreUnavailable("the database is closed")
        try:
            return await self._reader.execute_fetchall(*spread(statement, params))
        except (sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's closed connection
            raise StoreUnavailable(f"the database cannot be read now: {exc}") from None

    # -- what only a file does -------------------------------------------------------------

    async def import_rows(self, rows: Iterable[ImportRow], actor: str) -> int:
        """See Store.import_rows: in one savepoint of the writer (sqlite_import.py)."""
        return await self._write(ImportRows(actor, rows))

    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        """See Store.load_index. Read on a connection of its own, in one read transaction, in a
        thread: millions of rows are faster through the plain driver than one await per batch."""
        return await asyncio.to_thread(_load_index, self.path)

    async def pending_messages(self, limit: int, skip: list[int] | None = None,
                               first: list[int] | None = None) -> list[tuple[int, bytes, str]]:
        """See Store.pending_messages."""
        skip = list(skip or ())
        chosen = []
        first = claimed_first(first, skip, limit)
        if first:
            found = {row[0]: row for row in await self._read(q.PENDING_MESSAGES_OF, (first,))}
            chosen = [found[i] for i in first if i in found]
        if len(chosen) == limit:
            return chosen
        return chosen + await self._read(q.PENDING_MESSAGES, (skip + [row[0] for row in chosen], limit - len(chosen)))

    async def truncate_journal(self, attempts: int = 50) -> bool:
        """See Store.truncate_journal: a checkpoint that empties the write-ahead log."""
        for _ in range(attempts):
            busy, _, _ = await self._writer.run(sqlite_child.checkpoint)
            if not busy:
                return True
            await asyncio.sleep(0.02)
        log.warning("the write-ahead log could not be emptied now; it will be at the next checkpoint")
        return False

    async def remove_raw_before(self, before: str) -> tuple[int, int]:
        """See Store.remove_raw_before."""
        count, size = await self._write(partial(sqlite_child.remove_raw_before, before))
        self.stored_mail_bytes -= size
        if count:
            await self.truncate_journal()
        return count, size


def _load_index(path: Path) -> tuple[int, dict[Scope, ScopeRows]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        db.execute("BEGIN")
        cursor = newest_change(db)
        lasting = {}
        topic = db.execute(q.FIRST_LASTING_TOPIC).fetchone()[0]
        while topic is not None:
            rows = db.execute(q.LASTING_KEYS, (topic,))
            unsigned = np.fromiter((k for (k,) in rows), dtype=np.int64).view(np.uint64)
            unsigned.sort()  # in place: no second copy of ten million keys
            lasting[topic] = unsigned
            topic = db.execute(q.NEXT_LASTING_TOPIC, (topic,)).fetchone()[0]
        hard = db.execute(q.HARD_KEYS).fetchall()
        paused = db.execute(q.PAUSED_KEYS).fetchall()
        db.execute("COMMIT")
        return cursor, ScopeRows.of_rows(lasting, hard, paused)
    finally:
        db.close()
