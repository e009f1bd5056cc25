"""The PostgreSQL store: one database shared by any number of instances and the CLI.

The parts written once for both stores (part.py) hold the queries; this file holds what sharing
one database over a psycopg 3 pool needs besides:

- The change log is the feed every instance follows. Writers that log changes (or outbox
  events) take one advisory transaction lock first, so ids are handed out and committed in the
  same order and a follower reading "after my cursor" never skips one committed late. They go
  through the group writer (group_writer.py): one transaction, one lock, one commit a group.
- The instances (pg_instances.py): heartbeats, LISTEN/NOTIFY, claims of stored mail and of
  webhook receivers. Its index follows the log by polling every 0.1 s; a check never waits for
  another instance's change (CONTRACT §8 gives them a second), only for this process's own,
  which its writer puts into the index before answering.
- The driver's errors (the server down or restarting) become StoreUnavailable
  (pg_connection.py); the pool reconnects by itself.
"""

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from suppression.background import Wakeup, cancel_and_wait
from suppression.changesignal import FollowedSignal
from suppression.errors import StoreUnavailable
from suppression.index import ScopeRows
from suppression.model import ImportRow, Scope
from suppression.pg_schema import MIGRATIONS
from suppression.store import pg_bulk
from suppression.store.changelog import ChangeLog
from suppression.store.dialect import POSTGRESQL
from suppression.store.erasing import Erasure
from suppression.store.group_writer import GroupWriter, Work, settle
from suppression.store.keys import ApiKeys
from suppression.store.messages import Messages
from suppression.store.pg_connection import (
    CONNECT_SECONDS, RECONNECT_SECONDS, UNAVAILABLE, ConnectionLost, QueryFailed, configure, raise_if_cancelled,
    reason,
)
from suppression.store.pg_instances import Instances
from suppression.store.steps import Steps, run_postgresql
from suppression.store.suppressions import Suppressions
from suppression.store.webhooks import Webhooks

log = logging.getLogger("suppression.store")
q = POSTGRESQL

_LOG_LOCK = 0x5355_5050  # the advisory lock that orders writers of the change log ("SUPP")
_MIGRATION_LOCK = 0x5355_5051
_BUDGET_LOCK = 0x5355_5052  # held while an instance counts the intake's budgets and settles a batch
_CLI_LOCK_WAIT_SECONDS = 30.0  # how long a CLI write waits for a lock an instance holds

# Rows made Python objects in one step of the loop, at most: psycopg reads a whole result as one
# call, and one row a distinct sender (the recount of stored mail, every 300 s) held the loop 53-56
# ms at 300,000 senders (a probing helper's).
ROWS_A_STEP = 10_000


async def _rows(cursor) -> list:
    rows = []
    while True:
        page = await cursor.fetchmany(ROWS_A_STEP)
        rows.extend(page)
        if len(page) < ROWS_A_STEP:
            return rows
        await asyncio.sleep(0)  # the loop's other work between the pages


class PostgresStore(Instances, Suppressions, ChangeLog, Messages, Erasure, ApiKeys, Webhooks):
    """open() before use, close() after; all methods are coroutines (see Store)."""

    q = POSTGRESQL
    unique_violation = psycopg.errors.UniqueViolation

    def __init__(self, url: str, pool_size: int = 10):
        self.url = url
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=pool_size, open=False,
            timeout=CONNECT_SECONDS, reconnect_timeout=RECONNECT_SECONDS,
            kwargs={"autocommit": True, "connect_timeout": int(CONNECT_SECONDS)},
            name="suppression", configure=configure,
        )
        self.instance = secrets.token_hex(8)
        self.signal = FollowedSignal()
        self.reachable = True  # False from a connection failure until a statement succeeds again
        self.stored_mail_bytes = 0
        self._problem: str | None = None
        self._written = Wakeup()
        self._listener: asyncio.Task | None = None
        self._heartbeat: asyncio.Task | None = None
        self._followed = 0  # the newest change this instance's index has applied
        self._followed_changed = asyncio.Event()
        self._newest_written = 0  # the newest change this process wrote
        self._serving = False
        self._group = GroupWriter(self._commit_group)

    # -- life cycle -------------------------------------------------------------------

    async def open(self) -> None:
        """See Store.open."""
        try:
            await self._pool.open(wait=True, timeout=CONNECT_SECONDS * 2)
        except UNAVAILABLE as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot connect to the PostgreSQL database: {await self._root_cause(exc)}") from None
        try:
            async with self._conn() as conn:
                await _migrate(conn)
            self.stored_mail_bytes = (await self._read(q.STORED_MAIL_BYTES))[0][0]
        except BaseException:
            await self._pool.close()
            raise
        self._group.start()

    async def _root_cause(self, exc: BaseException) -> str:
        """Why the pool could not connect, in the server's or the network's words: the pool
        itself says only that it timed out."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=int(CONNECT_SECONDS))
        except psycopg.Error as cause:
            return reason(cause)
        await conn.close()
        return reason(exc)

    async def close(self) -> None:
        """See Store.close."""
        await self._group.close()  # queued writes finish first: their callers were promised an answer
        for task in (self._listener, self._heartbeat):
            await cancel_and_wait(task)
        self._listener = self._heartbeat = None
        if self._serving:
            await self._leave()
        elif self._newest_written:
            await self._wait_followed(self._newest_written)
        await self._pool.close()
        self.signal.close()

    @asynccontextmanager
    async def budget_lock(self) -> AsyncIterator[None]:
        """See Store.budget_lock. A lock of a transaction, not of the session: a connection
        given back to the pool in any state has let it go."""
        async with self._conn() as conn, conn.transaction():
            await conn.execute(q.LOCK_TIMEOUT, (f"{round(_CLI_LOCK_WAIT_SECONDS * 1000)}ms",))
            await conn.execute(q.ADVISORY_LOCK, (_BUDGET_LOCK,))
            yield

    async def ping(self) -> bool:
        """See Store.ping."""
        try:
            await self._read(q.PING)
        except StoreUnavailable:
            return False
        self._problem = None  # the server is back: writes are not known to fail
        return True

    async def reset_signal(self) -> None:
        """See Store.reset_signal."""
        self.signal.reset(await self.newest_change())

    # -- connections, reads and writes --------------------------------------------------------

    @property
    def write_problem(self) -> str | None:
        """See Store.write_problem."""
        return self._problem

    @asynccontextmanager
    async def _conn(self, free_within: float | None = None):
        """A pooled connection (waiting `free_within` seconds at most for one, else the pool's
        timeout); the driver's errors become StoreUnavailable (503 / 451)."""
        try:
            async with self._pool.connection(timeout=free_within) as conn:
                yield conn
            self.reachable = True
        except PoolTimeout as exc:
            if free_within is None:  # a short wait running out says only that the pool is busy
                self.reachable = False
            raise_if_cancelled()
            raise StoreUnavailable(f"the PostgreSQL database cannot be reached now: {reason(exc)}") from None
        except psycopg.errors.LockNotAvailable:
            raise QueryFailed(
                f"waited over {_CLI_LOCK_WAIT_SECONDS:g} s for a lock that a running instance (or another command)"
                " holds; nothing was written, try again") from None
        except UNAVAILABLE as exc:
            self.reachable = False
            raise_if_cancelled()
            raise ConnectionLost(f"the PostgreSQL database cannot be reached now: {reason(exc)}") from None
        except psycopg.Error as exc:
            raise_if_cancelled()
            raise QueryFailed(f"the PostgreSQL database cannot be read or written now: {reason(exc)}") from None

    async def _read(self, statement: str, params=(), free_within: float | None = None, whole: bool = False) -> list:
        """See Part._read: once more on a fresh connection if a pooled one was lost."""
        try:
            async with self._conn(free_within) as conn:
                return await _rows(await conn.execute(statement, params, binary=whole))
        except ConnectionLost:
            # The first use of a pooled connection after a server restart fails.
            async with self._conn(free_within) as conn:
                return await _rows(await conn.execute(statement, params, binary=whole))

    async def _transact(self, steps: Callable[[], Steps], ordered: bool = True) -> Any:
        """See Part._transact."""
        return await self._write(lambda conn: run_postgresql(conn, steps()), ordered)

    async def _write(self, work: Work, ordered: bool = True) -> Any:
        """Run `work(conn)` in a transaction; its result once committed. `ordered` writes (those
        that may log a change or an event) go through the group writer, under the change log's
        lock; others run on a pooled connection of their own."""
        if ordered:
            return await self._group.write(work)
        return await self._write_alone(work, ordered=False)

    async def _write_alone(self, work: Work, ordered: bool) -> Any:
        try:
            async with self._conn() as conn:
                async with conn.transaction():
                    await self._begin(conn, ordered)
                    result = await work(conn)
        except QueryFailed:
            raise  # this statement's failure, not the database's: later writes may go through
        except StoreUnavailable as exc:
            self._problem = str(exc)
            raise
        self._problem = None
        self.announce_writes()
        return result

    async def _begin(self, conn, ordered: bool) -> None:
        """A write's first statements: the change log's lock for ordered ones; for the CLI, a
        limit on waiting for locks, so that a stuck instance's transaction is an error it reports
        rather than a command that never returns (instances wait: their callers have timeouts)."""
        if not self._serving:
            await conn.execute(q.LOCK_TIMEOUT, (f"{round(_CLI_LOCK_WAIT_SECONDS * 1000)}ms",))
        if ordered:
            await conn.execute(q.ADVISORY_LOCK, (_LOG_LOCK,))

    async def _commit_group(self, group: list[tuple[Work, asyncio.Future]]) -> None:
        """One transaction, one lock and one commit for writes that arrived together. Should one
        of them fail (a Conflict, say), the group is rolled back and each runs alone, so one
        write's failure is its own; savepoints would cost two round trips a write every time."""
        outcomes: list[Any] = []
        if len(group) > 1:
            try:
                async with self._conn() as conn:
                    async with conn.transaction():
                        await self._begin(conn, ordered=True)
                        for work, _ in group:
                            outcomes.append(await work(conn))
            except QueryFailed:
                outcomes = []  # one write's failure: each runs alone below
            except StoreUnavailable as exc:
                self._problem = str(exc)
                for _, future in group:
                    settle(future, error=exc)
                return
            except Exception:
                outcomes = []
            else:
                self._problem = None
                self.announce_writes()
                for (_, future), result in zip(group, outcomes, strict=True):
                    settle(future, result)
                return
        for work, future in group:
            try:
                settle(future, await self._write_alone(work, ordered=True))
            except Exception as exc:
                settle(future, error=exc)

    def _wrote(self, change_id: int | None) -> int | None:
        """See Part._wrote."""
        if change_id is not None:
            self._newest_written = max(self._newest_written, change_id)
            self.signal.raise_to(change_id)
        return change_id

    def _claimed_by(self) -> str | None:
        """See Part._claimed_by: a serving instance claims the mail it stores; the CLI's is anyone's."""
        return self.instance if self._serving else None

    def announce_writes(self) -> None:
        """See Store.announce_writes."""
        self._written.set()

    async def wait_for_writes(self, timeout: float) -> None:
        """See Store.wait_for_writes."""
        await self._written.wait(timeout)

    # -- what only a shared database does -------------------------------------------------------

    async def import_rows(self, rows: Iterable[ImportRow], actor: str) -> int:
        """See Store.import_rows: streamed with COPY (pg_bulk.py), in a transaction of its own."""
        added, newest = await self._write_alone(lambda conn: pg_bulk.import_rows(conn, rows, actor), ordered=True)
        if added:
            self._wrote(newest)
        return added

    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        """See Store.load_index: in one snapshot, the lasting keys in pages the server packs
        (pg_bulk.py): ten million rows without a Python object each."""
        async with self._conn() as conn:
            async with conn.transaction():
                return await pg_bulk.load_index(conn)

    async def truncate_journal(self, attempts: int = 50) -> bool:
        """Nothing to do here: PostgreSQL's own WAL and dead rows are its server's to recycle
        (VACUUM, checkpoints); docs/privacy.md says what that means for erasure."""
        return True

    async def remove_raw_before(self, before: str) -> tuple[int, int]:
        """See Store.remove_raw_before."""

        async def work(conn):
            return await (await conn.execute(q.REMOVE_RAW_BEFORE, (before,))).fetchone()

        count, size = await self._write(work, ordered=False)
        self.stored_mail_bytes -= size
        return count, size


async def _migrate(conn) -> None:
    async with conn.transaction():
        await conn.execute(q.ADVISORY_LOCK, (_MIGRATION_LOCK,))
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await (await conn.execute("SELECT max(version) FROM schema_version")).fetchone()
        version = row[0] or 0
        if version > len(MIGRATIONS):
            raise StoreUnavailable(
                f"the PostgreSQL database is at schema version {version}, newer than this program"
                f" ({len(MIGRATIONS)}); upgrade the program")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            log.info("applying database migration %d", number)
            await conn.execute(script)
            await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
