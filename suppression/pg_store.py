"""The PostgreSQL store: one database shared by any number of instances and the CLI.

The same queries as the SQLite store (suppression/store.py), in PostgreSQL's dialect, on a
psycopg 3 pool. What sharing needs besides:

- The change log is the feed every instance follows. Writers that log changes (or outbox
  events) take one advisory transaction lock first, so ids are handed out and committed in the
  same order and a follower reading "after my cursor" never skips one committed late.
- A statement-level trigger NOTIFYs the newest change id; each instance LISTENs to wake what
  waits for writes (the webhook outbox). Its index follows the log by polling every 0.1 s; a
  check never waits for another instance's change (CONTRACT §8 gives them a second), only for
  this process's own, which its writer puts into the index before answering.
- Each server instance has a row in `instances`: how far its index has followed, and a
  heartbeat. The CLI's writes return only once every live instance has followed them (a check
  that starts after the CLI exits sees its change, CONTRACT §8); stored messages are claimed
  by one instance (FOR UPDATE SKIP LOCKED), and a dead instance's claims are taken over.
- The driver's errors (the server down or restarting) become StoreUnavailable: a 503 or a 451
  with the reason; the pool reconnects by itself.
"""

import asyncio
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import psycopg
import psycopg.types.string
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from suppression.apikeys import ApiKey
from suppression.background import Wakeup, cancel_and_wait
from suppression.changesignal import FollowedSignal
from suppression.errors import Conflict, InvalidValue, NotFound, StoreUnavailable
from suppression.claims import (
    suppression_of_claims,
    HARD, HARD_REASONS, is_repeat, is_undo_of, shown, standing, state_of_legacy, suppressed, until_of,
)
from suppression.index import ScopeRows
from suppression.model import (
    ALL_EMAILS, UNREAD_ERASED, Change, Claim, ImportRow, Outcome, Placed, Scope, StoredMessage, Suppression, signed64,
    utc_now,
)
from suppression.outbox import Backlog, Event, Receiver
from suppression import stats_queries
from suppression.pg_schema import MIGRATIONS
from suppression.mail_shares import StoredMail
from suppression.stats_queries import for_postgresql
from suppression.rows import (
    last_of_page,
    STORED_MAIL_BY_NETWORK, STORED_MAIL_BY_SENDER, CHANGE_COLUMNS, CLAIM_COLUMNS, MESSAGE_COLUMNS, RECEIVER_COLUMNS,
    SCRUBBED, SUPPRESSION_COLUMNS, change_of_row, claim_of_row, message_of_row, suppression_of_row,
)

log = logging.getLogger("suppression.store")

_LOG_LOCK = 0x5355_5050  # the advisory lock that orders writers of the change log ("SUPP")
_MIGRATION_LOCK = 0x5355_5051
CHANNEL = "suppression_changes"
ALIVE_SECONDS = 5  # an instance whose heartbeat is older is dead: its claims and leases are taken over
HEARTBEAT_SECONDS = 1
_RECOUNT_BEATS = 30  # how often (in heartbeats) the mail kept by every instance is counted again
_STALE_INSTANCE_SECONDS = 86400  # an instance not seen for this long has its row removed
_FOLLOWED_WAIT_SECONDS = 5.0  # how long the CLI waits for the instances to follow its change
_CONNECT_SECONDS = 3.0
_CLI_LOCK_WAIT_SECONDS = 30.0  # how long a CLI write waits for a lock an instance holds
_MAX_GROUP = 256  # writes committed together at most
_PAGE_ROWS = 500  # messages read at once by an erasure's search (and bytes: its caller's bound)
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)

_COLUMNS = ", ".join(MESSAGE_COLUMNS)  # constants of ours; values are always parameters
_RECEIVER_COLUMNS = ", ".join(RECEIVER_COLUMNS)

Work = Callable[[psycopg.AsyncConnection], Awaitable[Any]]


class _NulFreeText(psycopg.types.string.StrDumperUnknown):
    """PostgreSQL text cannot hold NUL (SQLite's can): mail and forms may carry one, so it is
    kept as U+FFFD, as a replacement character stands for what could not be kept."""

    def dump(self, obj: str):
        return super().dump(obj.replace("\x00", "\ufffd"))


async def _configure_async(conn: psycopg.AsyncConnection) -> None:
    conn.adapters.register_dumper(str, _NulFreeText)


class _ConnectionLost(StoreUnavailable):
    """A pooled connection failed in use (the server restarted, say): a fresh one may work."""


class _QueryFailed(StoreUnavailable):
    """The server answered, and refused the statement: a table altered or damaged underneath
    (answered 503 like any database that cannot be used, never a 500), or a trigger's refusal."""


class PostgresStore:
    """open() before use, close() after; the same coroutines as the SQLite store."""

    def __init__(self, url: str, pool_size: int = 10):
        self.url = url
        self._pool = AsyncConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, timeout=_CONNECT_SECONDS,
            kwargs={"autocommit": True, "connect_timeout": int(_CONNECT_SECONDS)},
            name="suppression", configure=_configure_async,
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

    async def _root_cause(self, exc: BaseException) -> str:
        """Why the pool could not connect, in the server's or the network's words: the pool
        itself says only that it timed out."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, connect_timeout=int(_CONNECT_SECONDS))
        except psycopg.Error as cause:
            return _reason(cause)
        await conn.close()
        return _reason(exc)

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=_CONNECT_SECONDS * 2)
        except _UNAVAILABLE as exc:
            await self._pool.close()
            raise StoreUnavailable(f"cannot connect to the PostgreSQL database: {await self._root_cause(exc)}") from None
        try:
            async with self._conn() as conn:
                await _migrate(conn)
            self.stored_mail_bytes = (await self._read(
                "SELECT coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL"))[0][0]
        except BaseException:
            await self._pool.close()
            raise
        self._group.start()

    async def join(self) -> None:
        """As a server instance: follow the others' writes (LISTEN) and keep a heartbeat."""
        self._serving = True
        await self._beat()
        self._listener = asyncio.create_task(self._listen(), name="store-listener")
        self._heartbeat = asyncio.create_task(self._keep_heartbeat(), name="store-heartbeat")

    async def close(self) -> None:
        await self._group.close()  # queued writes finish first: their callers were promised an answer
        for task in (self._listener, self._heartbeat):
            await cancel_and_wait(task)
        self._listener = self._heartbeat = None
        if self._serving:
            try:
                async with self._conn() as conn:
                    await conn.execute("DELETE FROM instances WHERE id = %s", (self.instance,))
            except StoreUnavailable:
                pass
        elif self._newest_written:
            await self._wait_followed(self._newest_written)
        await self._pool.close()

    # -- writes ---------------------------------------------------------------------------

    @property
    def write_problem(self) -> str | None:
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
            _raise_if_cancelled()
            raise StoreUnavailable(f"the PostgreSQL database cannot be reached now: {_reason(exc)}") from None
        except psycopg.errors.LockNotAvailable:
            raise _QueryFailed(
                f"waited over {_CLI_LOCK_WAIT_SECONDS:g} s for a lock that a running instance (or another command)"
                " holds; nothing was written, try again") from None
        except _UNAVAILABLE as exc:
            self.reachable = False
            _raise_if_cancelled()
            raise _ConnectionLost(f"the PostgreSQL database cannot be reached now: {_reason(exc)}") from None
        except psycopg.Error as exc:
            _raise_if_cancelled()
            raise _QueryFailed(f"the PostgreSQL database cannot be read or written now: {_reason(exc)}") from None

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
        except _QueryFailed:
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
            await conn.execute("SELECT set_config('lock_timeout', %s, true)",
                               (f"{round(_CLI_LOCK_WAIT_SECONDS * 1000)}ms",))
        if ordered:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOG_LOCK,))

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
            except _QueryFailed:
                outcomes = []  # one write's failure: each runs alone below
            except StoreUnavailable as exc:
                self._problem = str(exc)
                for _, future in group:
                    _settle(future, error=exc)
                return
            except Exception:
                outcomes = []
            else:
                self._problem = None
                self.announce_writes()
                for (_, future), result in zip(group, outcomes, strict=True):
                    _settle(future, result)
                return
        for work, future in group:
            try:
                _settle(future, await self._write_alone(work, ordered=True))
            except Exception as exc:
                _settle(future, error=exc)

    def _wrote(self, change_id: int | None) -> int | None:
        if change_id is not None:
            self._newest_written = max(self._newest_written, change_id)
            self.signal.raise_to(change_id)
        return change_id

    def announce_writes(self) -> None:
        self._written.set()

    async def wait_for_writes(self, timeout: float) -> None:
        await self._written.wait(timeout)

    async def reset_signal(self) -> None:
        self.signal.reset(await self.newest_change())

    # -- reads ----------------------------------------------------------------------------

    async def _read(self, query: str, params=(), free_within: float | None = None) -> list:
        try:
            async with self._conn(free_within) as conn:
                return await (await conn.execute(query, params)).fetchall()
        except _ConnectionLost:
            # Once more on a fresh connection: the first use of a pooled one after a server restart fails.
            async with self._conn(free_within) as conn:
                return await (await conn.execute(query, params)).fetchall()

    # -- suppressions -------------------------------------------------------------------

    async def suppress(self, email, key, scope, reason, source, actor, detail=None):
        placed = await self.claim(email, key, scope, reason, source, actor, detail)
        return placed.suppression, placed.change_id

    async def claim(self, email, key, scope, reason, source, actor, detail=None, campaign=None, until=None) -> Placed:
        async def work(conn):
            return await _claim(conn, utc_now(), email, key, scope, reason, source, actor, detail, campaign, until)

        placed = await self._write(work)
        self._wrote(placed.change_id)
        return placed

    async def unsuppress(self, email, scope, source, actor, only_own_made_at=None):
        if only_own_made_at is None:
            def lifted(claim: Claim) -> bool:
                return True
        else:
            def lifted(claim: Claim) -> bool:
                return is_undo_of(claim, only_own_made_at)

        async def work(conn):
            return await _lift(conn, utc_now(), email, scope.stored, lifted, source, actor)

        return self._wrote(await self._write(work))

    async def lift_own_opt_outs(self, email, reason, sources, made_before, source, actor, detail=None):
        """See Store.lift_own_opt_outs."""

        def own(claim: Claim) -> bool:
            return claim.reason == reason and claim.source in sources and claim.since <= made_before

        async def work(conn):
            at, done = utc_now(), []
            topics = [t for (t,) in await (await conn.execute(
                "SELECT DISTINCT topic FROM claims WHERE email = %s ORDER BY topic", (email,))).fetchall()]
            for topic in topics:
                change_id = await _lift(conn, at, email, topic, own, source, actor, detail)
                if change_id is not None:
                    done.append((Scope.of_stored(topic), change_id))
            return done

        lifted = await self._write(work)
        for _, change_id in lifted:
            self._wrote(change_id)
        return lifted

    async def claims_of(self, email: str, free_within: float | None = None) -> list[Claim]:
        rows = await self._read(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = %s ORDER BY topic, id", (email,),
                                free_within=free_within)
        return [claim_of_row(row) for row in rows]

    async def count_return_request(self, inbox: str, day: str) -> int:
        """See Store.count_return_request."""

        async def work(conn):
            return (await (await conn.execute(
                "INSERT INTO return_requests (inbox, day, count) VALUES (%s, %s, 1) ON CONFLICT (inbox, day)"
                " DO UPDATE SET count = return_requests.count + 1 RETURNING count", (inbox, day))).fetchone())[0]

        return await self._write(work, ordered=False)

    async def return_requests_of(self, inbox: str) -> list[tuple[str, int]]:
        """See Store.return_requests_of."""
        rows = await self._read("SELECT day, count FROM return_requests WHERE inbox = %s ORDER BY day", (inbox,))
        return [tuple(row) for row in rows]

    async def prune_return_requests(self, before_day: str) -> int:
        """See Store.prune_return_requests."""

        async def work(conn):
            return (await conn.execute("DELETE FROM return_requests WHERE day < %s", (before_day,))).rowcount

        return await self._write(work, ordered=False)

    async def import_rows(self, rows: Iterable[ImportRow], actor: str) -> int:
        """Streamed with COPY into a temporary table, then added in one transaction."""

        async def work(conn):
            at = utc_now()
            await conn.execute(
                'CREATE TEMP TABLE import_rows (email TEXT COLLATE "C", topic TEXT COLLATE "C", reason TEXT,'
                " key BIGINT, line BIGINT) ON COMMIT DROP"
            )
            async with conn.cursor().copy("COPY import_rows FROM STDIN") as copy:
                for r in rows:
                    await copy.write_row((r.email, r.scope.stored, r.reason, r.key, r.line))
            # An address suppressed already takes a claim only where it adds something: a lasting
            # one where only pauses hold it, a hard one (bounce, block) where none is.
            further = await (await conn.execute(
                "SELECT DISTINCT ON (i.email, i.topic) i.email, i.topic, i.reason, i.key FROM import_rows i"
                " JOIN suppressions s ON s.email = i.email AND s.topic = i.topic WHERE s.until IS NOT NULL"
                f" OR (NOT s.hard AND i.reason IN ({_HARD_LIST})) ORDER BY i.email, i.topic, i.line")).fetchall()
            # The first occurrence of an address in the file wins; existing suppressions stay.
            await conn.execute(
                "CREATE TEMP TABLE import_first ON COMMIT DROP AS SELECT DISTINCT ON (email, topic)"
                " email, topic, reason, key, line FROM import_rows i WHERE NOT EXISTS (SELECT 1 FROM suppressions s"
                " WHERE s.email = i.email AND s.topic = i.topic) ORDER BY email, topic, line"
            )
            added = (await conn.execute(
                "INSERT INTO changes (at, action, email, topic, reason, source, actor, state)"
                f" SELECT %s, 'suppress', email, topic, reason, 'import', %s, CASE WHEN reason IN ({_HARD_LIST})"
                " THEN 'H' ELSE 'P' END FROM import_first ORDER BY line",
                (at, actor),
            )).rowcount
            await conn.execute(
                "INSERT INTO suppressions (email, topic, key, reason, source, created_at, hard)"
                f" SELECT email, topic, key, reason, 'import', %s, reason IN ({_HARD_LIST}) FROM import_first", (at,),
            )
            await conn.execute(
                "INSERT INTO claims (email, topic, reason, source, actor, created_at)"
                " SELECT email, topic, reason, 'import', %s, %s FROM import_first ORDER BY line", (actor, at),
            )
            for email, topic, reason, key in further:
                placed = await _claim(conn, at, email, key, Scope.of_stored(topic), reason, "import", actor)
                added += placed.change_id is not None
            return added, await _newest_change(conn)

        added, newest = await self._write_alone(work, ordered=True)  # millions of rows: a transaction of its own
        if added:
            self._wrote(newest)
        return added

    async def suppressions_of(self, email: str, free_within: float | None = None) -> list[Suppression]:
        rows = await self._read(
            f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE email = %s ORDER BY topic", (email,),
            free_within=free_within)
        return [suppression_of_row(row) for row in rows]

    async def iter_suppressions(self, batch: int = 10_000) -> AsyncIterator[Suppression]:
        """All suppressions in address order, by keyset pages (no transaction held open)."""
        after = ("", "")
        while True:
            rows = await self._read(
                f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions"
                " WHERE (email, topic) > (%s, %s) ORDER BY email, topic LIMIT %s",
                (*after, batch),
            )
            for row in rows:
                yield suppression_of_row(row)
            if len(rows) < batch:
                return
            after = (rows[-1][0], rows[-1][1])

    async def count(self) -> int:
        return (await self._read("SELECT count(*) FROM suppressions"))[0][0]

    # -- the change log -----------------------------------------------------------------

    async def changes_after(self, after: int, limit: int) -> list[Change]:
        rows = await self._read(
            f"SELECT {CHANGE_COLUMNS} FROM changes WHERE id > %s ORDER BY id LIMIT %s", (after, limit))
        return [change_of_row(row) for row in rows]

    # -- campaigns and statistics (suppression/stats_queries.py) -------------------------------

    async def record_sent(self, campaign: str, sent: int) -> None:
        async def work(conn):
            at = utc_now()
            await conn.execute(for_postgresql(stats_queries.RECORD_SENT), (campaign, sent, at, at))

        await self._write(work, ordered=False)

    async def daily_counts(self, first: str, last: str, by: tuple[str, ...]) -> list[tuple]:
        return await self._read(for_postgresql(stats_queries.counts(by)), (first, last))

    async def campaign_counts(self, first: str, last: str, after_last: str) -> list[tuple[str, int, int, int | None]]:
        return await self._read(for_postgresql(stats_queries.CAMPAIGN_COUNTS), (first, last, first, after_last))

    async def desk_days(self, days: list[tuple[str, str, str]]) -> list[tuple[str, int, int, int]]:
        params = [value for day in days for value in day] + [days[0][0], days[-1][1]]
        return await self._read(for_postgresql(stats_queries.desk_days(len(days))), params)

    async def changes_of(self, email: str) -> list[Change]:
        rows = await self._read(f"SELECT {CHANGE_COLUMNS} FROM changes WHERE email = %s ORDER BY id", (email,))
        return [change_of_row(row) for row in rows]

    async def index_changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, Scope, str]]:
        rows = await self._read(
            "SELECT id, action, email, topic, state, reason FROM changes WHERE id > %s ORDER BY id LIMIT %s",
            (after, limit))
        return [(change_id, action, email, Scope.of_stored(topic), state_of_legacy(action, reason) if state is None
                 else state) for change_id, action, email, topic, state, reason in rows]

    async def change_counts_after(self, after):
        return await self._read(
            "SELECT action, source, count(*), max(id) FROM changes WHERE id > %s GROUP BY action, source", (after,))

    async def newest_change(self) -> int:
        return (await self._read("SELECT coalesce(max(id), 0) FROM changes"))[0][0]

    async def identity(self) -> tuple[str, int]:
        (database_id,) = (await self._read("SELECT value FROM meta WHERE key = 'database_id'"))[0]
        return database_id, await self.newest_change()

    async def load_index_keys(self) -> tuple[int, dict[Scope, np.ndarray]]:
        """Every scope's keys suppressed with no end (sorted, unsigned) and the change they reflect."""
        cursor, rows = await self.load_index()
        return cursor, {scope: keys.lasting for scope, keys in rows.items() if len(keys.lasting)}

    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        """Every scope's keys and the change they reflect, in one snapshot; the lasting ones read in
        pages the server packs (_copy_keys): ten million rows without a Python object each."""
        async with self._conn() as conn:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor = await _newest_change(conn)
                lasting = {}
                topic = (await (await conn.execute(
                    "SELECT min(topic) FROM suppressions WHERE until IS NULL")).fetchone())[0]
                while topic is not None:
                    lasting[topic] = await _copy_keys(conn, topic)
                    topic = (await (await conn.execute(
                        "SELECT min(topic) FROM suppressions WHERE topic > %s AND until IS NULL", (topic,))).fetchone())[0]
                hard = await (await conn.execute("SELECT topic, key FROM suppressions WHERE hard")).fetchall()
                paused = await (await conn.execute(
                    "SELECT topic, key, until FROM suppressions WHERE until IS NOT NULL")).fetchall()
                return cursor, ScopeRows.of_rows(lasting, hard, paused)

    # -- erasure --------------------------------------------------------------------------

    async def erase(self, email, record, key, digest_keys, traces, scrub, actor):
        async def work(conn):
            at = utc_now()
            rows = await (await conn.execute("SELECT 1 FROM claims WHERE email = %s LIMIT 1", (email,))).fetchall()
            known = await (await conn.execute(
                "SELECT 1 FROM suppressions WHERE email = %s LIMIT 1", (record,))).fetchone()
            await conn.execute("UPDATE claims SET email = %s WHERE email = %s", (record, email))
            await conn.execute("DELETE FROM suppressions WHERE email = %s", (email,))
            if not rows and not known:
                await conn.execute("INSERT INTO claims (email, topic, reason, source, actor, created_at)"
                                   " VALUES (%s, %s, 'erasure', 'erasure', %s, %s)",
                                   (record, ALL_EMAILS.stored, actor, at))
            for (topic,) in await (await conn.execute(
                    "SELECT DISTINCT topic FROM claims WHERE email = %s", (record,))).fetchall():
                await _settle_row(conn, record, topic, key, await _claims(conn, record, topic))
            cursors = [str(i) for (i,) in await (await conn.execute(
                "SELECT id FROM changes WHERE email = %s ORDER BY id", (email,))).fetchall()]
            await conn.execute(
                "UPDATE changes SET email = %s, detail = CASE WHEN detail IS NULL THEN NULL"
                " ELSE (detail::jsonb - 'why_text')::text END WHERE email = %s", (record, email),
            )
            change_id = (await (await conn.execute(
                "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail)"
                " VALUES (%s, 'erase', %s, %s, NULL, 'erasure', %s, %s) RETURNING id",
                (at, record, ALL_EMAILS.stored, actor, json.dumps({"cursors": cursors})),
            )).fetchone())[0]
            await conn.execute(
                "INSERT INTO erased_subjects (record, key, sha256_key, md5_key, at, actor)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (record, signed64(key), signed64(digest_keys["sha256"]), signed64(digest_keys["md5"]), at, actor),
            )
            freed = await _scrub_messages(conn, traces.messages, scrub)
            if traces.replies:
                await conn.execute("DELETE FROM replies WHERE email = ANY(%s)", (list(traces.replies),))
            if traces.senders:
                await conn.execute("UPDATE sender_requests SET sender = %s WHERE sender = ANY(%s)",
                                   (record, list(traces.senders)))
            scopes = [Scope.of_stored(t) for (t,) in await (await conn.execute(
                "SELECT topic FROM suppressions WHERE email = %s ORDER BY topic", (record,))).fetchall()]
            return scopes, change_id, freed

        scopes, change_id, freed = await self._write(work)
        self._wrote(change_id)
        self.stored_mail_bytes -= freed
        return scopes, change_id, freed

    async def scrub_messages(self, ids, scrub):
        freed = await self._write(lambda conn: _scrub_messages(conn, ids, scrub))
        self.stored_mail_bytes -= freed
        return freed

    async def truncate_journal(self, attempts: int = 50) -> bool:
        """Nothing to do here: PostgreSQL's own WAL and dead rows are its server's to recycle
        (VACUUM, checkpoints); the README says what that means for erasure."""
        return True

    async def remove_raw_before(self, before: str) -> tuple[int, int]:
        async def work(conn):
            return await (await conn.execute(
                "WITH removed AS (UPDATE inbox SET raw = NULL, words = NULL WHERE raw IS NOT NULL"
                " AND received_at < %s AND status NOT IN ('pending', 'review') RETURNING size)"
                " SELECT count(*), coalesce(sum(size), 0) FROM removed", (before,),
            )).fetchone()

        count, size = await self._write(work, ordered=False)
        self.stored_mail_bytes -= size
        return count, size

    async def domain_entries(self) -> list[tuple[str, Scope, bool]]:
        rows = await self._read("SELECT email, topic, hard FROM suppressions WHERE email >= '*@' AND email < '*A'")
        return [(entry, Scope.of_stored(topic), bool(hard)) for entry, topic, hard in rows]

    async def erased_subject_rows(self) -> list[tuple[str, int, int, int]]:
        rows = await self._read("SELECT record, key, sha256_key, md5_key FROM erased_subjects")
        mask = 0xFFFFFFFFFFFFFFFF
        return [(record, key & mask, sha & mask, md5 & mask) for record, key, sha, md5 in rows]

    async def erased_digest_rows(self) -> list[tuple[Scope, int, int]]:
        rows = await self._read(
            "SELECT s.topic, e.sha256_key, e.md5_key FROM suppressions s JOIN erased_subjects e ON s.email = e.record"
        )
        return [(Scope.of_stored(topic), sha & 0xFFFFFFFFFFFFFFFF, md5 & 0xFFFFFFFFFFFFFFFF) for topic, sha, md5 in rows]

    async def message_page(self, after, max_bytes):
        sizes = await self._read(
            "SELECT id, CASE WHEN raw IS NULL THEN 0 ELSE size END FROM inbox WHERE id > %s ORDER BY id LIMIT %s",
            (after, _PAGE_ROWS))
        if not sizes:
            return []
        last = last_of_page(sizes, max_bytes)
        columns = ", ".join((*SCRUBBED, "words"))
        rows = await self._read(f"SELECT id, raw, {columns} FROM inbox WHERE id > %s AND id <= %s ORDER BY id",
                                (after, last))
        return [(row[0], row[1], tuple(row[2:])) for row in rows]

    async def messages_by_id(self, ids):
        rows = await self._read(f"SELECT {_COLUMNS}, raw FROM inbox WHERE id = ANY(%s) ORDER BY id", (list(ids),))
        return [message_of_row(row[:-1], raw=row[-1]) for row in rows]

    async def sender_request_keys(self):
        return [sender for (sender,) in await self._read("SELECT DISTINCT sender FROM sender_requests")]

    async def reply_keys(self):
        return [email for (email,) in await self._read("SELECT DISTINCT email FROM replies")]

    async def replies_to(self, keys):
        return await self._read("SELECT day, sent_at FROM replies WHERE email = ANY(%s) ORDER BY day, sent_at",
                                (list(keys),))

    async def sender_counts_of(self, senders):
        return await self._read(
            "SELECT at, message, addresses FROM sender_requests WHERE sender = ANY(%s) ORDER BY at, message",
            (list(senders),))

    # -- mail to the request addresses --------------------------------------------------

    async def add_message(self, raw, mail_from, rcpt_to, settled=None, origin=None, network=None) -> int:
        async def work(conn):
            if origin is not None:
                row = await (await conn.execute("SELECT id FROM inbox WHERE origin = %s", (origin,))).fetchone()
                if row is not None:
                    return row[0], False
            at = utc_now()
            status, reasons = settled or ("pending", None)
            row = await (await conn.execute(
                "INSERT INTO inbox (received_at, mail_from, rcpt_to, size, raw, status, reasons, processed_at, origin,"
                " claimed_by, network) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (at, mail_from, json.dumps(rcpt_to), len(raw), raw, status,
                 json.dumps(reasons) if reasons is not None else None, at if settled else None, origin,
                 self.instance if self._serving else None, network),
            )).fetchone()
            return row[0], True

        # One into review opens an event: it takes the log's order like a change.
        message_id, added = await self._write(work, ordered=settled is not None and settled[0] == "review")
        if added:
            self.stored_mail_bytes += len(raw)
        return message_id

    async def pending_messages(self, limit: int) -> list[tuple[int, bytes, str]]:
        """Claim up to `limit` messages not yet handled, oldest first: those unclaimed, this
        instance's own, and those of instances that have stopped beating. Another instance's
        live claims are skipped, so each message is handled by one."""

        async def work(conn):
            return await (await conn.execute(
                "UPDATE inbox SET claimed_by = %(me)s WHERE id IN (SELECT id FROM inbox WHERE status = 'pending'"
                " AND (claimed_by IS NULL OR claimed_by = %(me)s OR claimed_by NOT IN (SELECT id FROM instances"
                " WHERE seen_at > now() - make_interval(secs => %(alive)s)))"
                " ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING id, raw, mail_from",
                {"me": self.instance, "alive": ALIVE_SECONDS, "limit": limit},
            )).fetchall()

        return sorted(await self._write(work, ordered=False))

    async def settle_message(self, message_id, outcome: Outcome, keys, reason, source, actor, counted=None,
                             campaign=None):
        async def work(conn):
            row = await (await conn.execute(
                "SELECT claimed_by, status FROM inbox WHERE id = %s FOR UPDATE", (message_id,))).fetchone()
            if row is not None and row[0] not in (None, self.instance):
                # Another instance took it over, believing this one dead: it settles it, once.
                log.warning("message %d: claimed meanwhile by another instance; left to it", message_id)
                return None
            if row is not None and row[1] != "pending":
                # Settled meanwhile: an erasure took its text (and put it before a person) while
                # it was being read; what the reader found in it must not come back.
                raise Conflict(f"message {message_id} is no longer waiting to be read ({row[1]})")
            at, last = utc_now(), None
            if reason is not None:
                for email, key in keys:
                    placed = await _claim(conn, at, email, key, outcome.scope, reason, source, actor,
                                          campaign=campaign)
                    last = placed.change_id or last
            await conn.execute(
                "UPDATE inbox SET status = %s, reasons = %s, addresses = %s, topic = %s, sender = %s,"
                " subject = %s, message_id = %s, authentication = %s, found = %s, words = %s, processed_at = %s,"
                " proof = %s, report = %s WHERE id = %s",
                (outcome.status, json.dumps(outcome.reasons), json.dumps(outcome.addresses),
                 outcome.scope.topic, outcome.sender, outcome.subject, outcome.message_id,
                 outcome.authentication, json.dumps(outcome.found), outcome.words, at,
                 outcome.proof, outcome.report, message_id),
            )
            if counted is not None:
                sender, addresses = counted
                await conn.execute(
                    "INSERT INTO sender_requests (sender, at, message, addresses) SELECT %s, %s, %s, %s"
                    " WHERE NOT EXISTS (SELECT 1 FROM sender_requests WHERE message = %s)",
                    (sender, at, message_id, addresses, message_id),
                )
            return last

        return self._wrote(await self._write(work))

    async def resolve_message(self, message_id, status, keys, scope, reason, source, actor, note):
        async def work(conn):
            row = await (await conn.execute(
                "SELECT status FROM inbox WHERE id = %s FOR UPDATE", (message_id,))).fetchone()
            if row is None:
                raise NotFound(f"no received message {message_id}")
            if row[0] != "review":
                raise Conflict(f"message {message_id} is settled already ({row[0]})")
            at, last = utc_now(), None
            for email, key in keys:
                placed = await _claim(conn, at, email, key, scope, reason, source, actor)
                last = placed.change_id or last
            await conn.execute(
                "UPDATE inbox SET status = %s, addresses = %s, topic = %s, resolved_at = %s, resolved_by = %s,"
                " note = %s WHERE id = %s",
                (status, json.dumps([email for email, _ in keys]), scope.topic, at, actor, note, message_id),
            )
            return last

        return self._wrote(await self._write(work))

    async def review_state(self, due_before: str) -> tuple[int, int, str | None]:
        rows = await self._read(
            "SELECT count(*), count(*) FILTER (WHERE received_at < %s), min(received_at) FROM inbox"
            " WHERE status = 'review'", (due_before,),
        )
        return rows[0][0], rows[0][1], rows[0][2]

    async def stored_mail(self) -> StoredMail:
        by_network = {network: int(size) for network, size in await self._read(STORED_MAIL_BY_NETWORK)}
        by_sender = {sender: int(size) for sender, size in await self._read(STORED_MAIL_BY_SENDER)}
        return StoredMail(self.stored_mail_bytes, by_network, by_sender)

    async def unproven_requests_since(self, since: str, message_id: int) -> tuple[str | None, int, int]:
        rows = await self._read(
            "SELECT m.network, coalesce(sum(CASE WHEN i.network = m.network THEN 1 ELSE 0 END), 0), count(i.id)"
            " FROM inbox m LEFT JOIN inbox i ON i.proof = 'none' AND i.status = 'request' AND i.processed_at > %s"
            " WHERE m.id = %s GROUP BY m.network", (since, message_id))
        return tuple(rows[0]) if rows else (None, 0, 0)

    async def sender_requests_since(self, sender: str, since: str) -> int:
        rows = await self._read(
            "SELECT coalesce(sum(addresses), 0) FROM sender_requests WHERE sender = %s AND at > %s", (sender, since))
        return int(rows[0][0])

    async def list_messages(self, status, after, limit) -> list[StoredMessage]:
        if status is None:
            rows = await self._read(f"SELECT {_COLUMNS} FROM inbox WHERE id > %s ORDER BY id LIMIT %s", (after, limit))
        else:
            rows = await self._read(
                f"SELECT {_COLUMNS} FROM inbox WHERE status = %s AND id > %s ORDER BY id LIMIT %s",
                (status, after, limit))
        return [message_of_row(row) for row in rows]

    async def get_message(self, message_id: int) -> StoredMessage | None:
        rows = await self._read(f"SELECT {_COLUMNS}, raw FROM inbox WHERE id = %s", (message_id,))
        return message_of_row(rows[0][:-1], raw=rows[0][-1]) if rows else None

    async def claim_reply(self, email: str, day: str) -> bool:
        async def work(conn):
            return (await conn.execute(
                "INSERT INTO replies (email, day, sent_at) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (email, day, utc_now()),
            )).rowcount == 1

        return await self._write(work, ordered=False)

    # -- API keys -----------------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> None:
        async def work(conn):
            try:
                await conn.execute(
                    "INSERT INTO api_keys (key_id, name, scope, secret_hash, created_at) VALUES (%s, %s, %s, %s, %s)",
                    (key.key_id, key.name, key.scope, key.secret_hash, utc_now()),
                )
            except psycopg.errors.UniqueViolation:
                raise Conflict(f"an API key named {key.name!r} exists already") from None

        await self._write(work, ordered=False)

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(
            "SELECT key_id, name, scope, secret_hash FROM api_keys WHERE key_id = %s AND revoked_at IS NULL",
            (key_id,))
        return ApiKey(*rows[0]) if rows else None

    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]:
        return await self._read("SELECT name, scope, created_at, revoked_at FROM api_keys ORDER BY created_at, name")

    async def revoke_api_key(self, name: str) -> bool:
        async def work(conn):
            return (await conn.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL", (utc_now(), name),
            )).rowcount > 0

        return await self._write(work, ordered=False)

    async def ping(self) -> bool:
        try:
            await self._read("SELECT 1")
        except StoreUnavailable:
            return False
        self._problem = None  # the server is back: writes are not known to fail
        return True

    # -- webhooks (the outbox of migration 9) ----------------------------------------------

    async def sync_receivers(self, urls: list[str]) -> tuple[list[str], list[str]]:
        kept = {url for (url,) in await self._read("SELECT url FROM webhook_receivers")}
        if kept == set(urls):
            return [], []

        async def work(conn):
            kept = [url for (url,) in await (await conn.execute("SELECT url FROM webhook_receivers")).fetchall()]
            removed = [url for url in kept if url not in urls]
            added = [url for url in urls if url not in kept]
            for url in removed:
                await conn.execute("DELETE FROM webhook_receivers WHERE url = %s", (url,))
            newest = await _newest_seq(conn)
            for url in added:
                await conn.execute(
                    "INSERT INTO webhook_receivers (url, cursor, added_at) VALUES (%s, %s, %s)",
                    (url, newest, utc_now()))
            return added, removed

        return await self._write(work)

    async def receiver(self, url: str) -> Receiver | None:
        rows = await self._read(f"SELECT {_RECEIVER_COLUMNS} FROM webhook_receivers WHERE url = %s", (url,))
        return Receiver(*rows[0]) if rows else None

    async def lead_receiver(self, url: str) -> bool:
        """Take or keep the lead in delivering to a receiver: one live instance delivers at a time,
        and a stopped one's lead passes to another once its heartbeat is ALIVE_SECONDS old."""
        rows = await self._read(
            "SELECT leased_by FROM webhook_receivers WHERE url = %s AND leased_by IS NOT NULL AND leased_by IN"
            " (SELECT id FROM instances WHERE seen_at > now() - make_interval(secs => %s))", (url, ALIVE_SECONDS),
        )
        if rows:
            return rows[0][0] == self.instance

        async def work(conn):
            return (await conn.execute(
                "UPDATE webhook_receivers SET leased_by = %(me)s WHERE url = %(url)s"
                " AND (leased_by IS NULL OR leased_by = %(me)s OR leased_by NOT IN (SELECT id FROM instances"
                " WHERE seen_at > now() - make_interval(secs => %(alive)s)))",
                {"me": self.instance, "url": url, "alive": ALIVE_SECONDS},
            )).rowcount == 1

        return await self._write(work, ordered=False)

    async def backlog(self, cursor: int) -> Backlog:
        rows = await self._read("SELECT count(*), min(at) FROM events WHERE seq > %s", (cursor,))
        return Backlog(rows[0][0], rows[0][1])

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        rows = await self._read(
            "SELECT e.seq, e.type, e.at, c.id, c.at, c.action, c.email, c.topic, c.reason, c.source, c.actor,"
            " c.detail, c.campaign, c.until, c.state, i.id, i.received_at, i.reasons, e.uid FROM events e"
            " LEFT JOIN changes c ON c.id = e.change LEFT JOIN inbox i ON i.id = e.message"
            " WHERE e.seq > %s ORDER BY e.seq LIMIT %s", (seq, limit),
        )
        return [
            Event(seq_, type_, at, change=change_of_row(change) if change[0] is not None else None,
                  message=(message_id, received_at, json.loads(reasons) if reasons else [])
                  if message_id is not None else None, uid=uid)
            for seq_, type_, at, *change, message_id, received_at, reasons, uid in rows
        ]

    async def save_delivery(self, url, generation, cursor, attempts=0, failing_since=None, next_attempt_at=None,
                            last_error=None, disabled_reason=None) -> bool:
        async def work(conn):
            return (await conn.execute(
                "UPDATE webhook_receivers SET cursor = %s, attempts = %s, failing_since = %s, next_attempt_at = %s,"
                " last_error = %s, disabled_at = CASE WHEN %s::text IS NULL THEN NULL ELSE %s END,"
                " disabled_reason = %s WHERE url = %s AND generation = %s",
                (cursor, attempts, failing_since, next_attempt_at, last_error, disabled_reason, utc_now(),
                 disabled_reason, url, generation),
            )).rowcount == 1

        return await self._write(work, ordered=False)

    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver:
        async def work(conn):
            row = await (await conn.execute(
                "SELECT cursor FROM webhook_receivers WHERE url = %s FOR UPDATE", (url,))).fetchone()
            if row is None:
                raise NotFound("no such receiver in the database; is it in the service's config, and has the"
                               " service started with it?")
            cursor = row[0] if from_seq is None else from_seq
            newest = await _newest_seq(conn)
            (oldest_kept,) = await (await conn.execute("SELECT min(seq) FROM events")).fetchone()
            if cursor < 0 or cursor > newest:
                raise InvalidValue(f"--from must be an event number from 0 to {newest}")
            if cursor < newest and oldest_kept is not None and cursor < oldest_kept - 1:
                raise InvalidValue(f"events up to {oldest_kept - 1} are no longer kept; replay from {oldest_kept - 1}"
                                   " or later (the change feed, /v1/changes, has every change)")
            return Receiver(*await (await conn.execute(
                "UPDATE webhook_receivers SET cursor = %s, generation = generation + 1, attempts = 0,"
                " failing_since = NULL, next_attempt_at = NULL, last_error = NULL, disabled_at = NULL,"
                f" disabled_reason = NULL WHERE url = %s RETURNING {_RECEIVER_COLUMNS}", (cursor, url),
            )).fetchone())

        return await self._write(work, ordered=False)

    async def prune_events(self, before: str) -> int:
        async def work(conn):
            return (await conn.execute(
                "DELETE FROM events WHERE at < %s AND seq <= coalesce("
                " (SELECT min(cursor) FROM webhook_receivers WHERE disabled_at IS NULL),"
                " (SELECT max(seq) FROM events))", (before,),
            )).rowcount

        return await self._write(work, ordered=False)

    # -- the instances ----------------------------------------------------------------------

    def note_followed(self, cursor: int) -> None:
        """This instance's index has applied every change up to `cursor` (told to the others)."""
        if cursor > self._followed:
            self._followed = cursor
            self._followed_changed.set()

    async def _beat(self) -> None:
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO instances (id, cursor, seen_at) VALUES (%s, %s, now())"
                " ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, seen_at = now()",
                (self.instance, self._followed),
            )

    async def _keep_heartbeat(self) -> None:
        beats = 0
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    await self._followed_changed.wait()
            except TimeoutError:
                pass
            self._followed_changed.clear()
            beats += 1
            try:
                await self._beat()
                if beats % _RECOUNT_BEATS == 0:
                    # Other instances store and remove mail too: the limit on mail kept is for all of it.
                    self.stored_mail_bytes = (await self._read(
                        "SELECT coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL"))[0][0]
                    await self._forget_stale_instances()
            except StoreUnavailable as exc:
                log.warning("could not record this instance's heartbeat, will try again: %s", exc)
                await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _forget_stale_instances(self) -> None:
        """Remove the rows of instances not heard from for a day (killed, never to come back: ids
        are new at each start). Their claims and leases were taken over long before, as those
        of any instance not seen for ALIVE_SECONDS."""
        async with self._conn() as conn:
            await conn.execute("DELETE FROM instances WHERE seen_at < now() - make_interval(secs => %s)",
                               (_STALE_INSTANCE_SECONDS,))

    async def _wait_followed(self, change_id: int) -> None:
        """Until every live instance's index has applied `change_id` (the CLI, before it exits)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FOLLOWED_WAIT_SECONDS
        behind = 0
        while loop.time() < deadline:
            try:
                (behind,) = (await self._read(
                    "SELECT count(*) FROM instances WHERE cursor < %s"
                    " AND seen_at > now() - make_interval(secs => %s)", (change_id, ALIVE_SECONDS),
                ))[0]
            except StoreUnavailable:
                return
            if behind == 0:
                return
            await asyncio.sleep(0.01)
        log.warning("%d running instance(s) have not applied this change yet; they will within seconds", behind)

    async def _listen(self) -> None:
        """Wake the outbox on each change another process commits (NOTIFY), reconnecting when lost."""
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, connect_timeout=int(_CONNECT_SECONDS))
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    self.announce_writes()  # what was missed meanwhile
                    async for notice in conn.notifies():
                        # Heard, not the signal: a check waits for another instance's change only
                        # briefly, and never through a reconnect (nothing is heard meanwhile).
                        if notice.payload and notice.payload.isdigit():
                            self.signal.hear(int(notice.payload))
                        self.announce_writes()
            except asyncio.CancelledError:
                raise
            except _UNAVAILABLE as exc:
                _raise_if_cancelled()
                log.warning("lost the PostgreSQL notification connection, reconnecting: %s", _reason(exc))
            await asyncio.sleep(1.0)


_HARD_LIST = ", ".join(f"'{reason}'" for reason in sorted(HARD_REASONS))  # constants of ours


async def _claims(conn, email: str, topic: str) -> list[Claim]:
    rows = await (await conn.execute(
        f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = %s AND topic = %s ORDER BY id", (email, topic))).fetchall()
    return [claim_of_row(row) for row in rows]


async def _claim(conn, at, email, key, scope, reason, source, actor, detail=None, campaign=None, until=None) -> Placed:
    """As the SQLite store's _claim: add one party's claim unless the same one stands already."""
    topic = scope.stored
    if detail is not None:
        detail = detail.replace("\\u0000", "\\ufffd")  # escaped NUL: jsonb (used by erasure) refuses it
    claims = await _claims(conn, email, topic)
    for claim in claims:
        if is_repeat(claim, reason, source, until):
            return Placed(suppression_of_claims(email, scope, claims), claim, None, False)
    (claim_id,) = await (await conn.execute(
        "INSERT INTO claims (email, topic, reason, source, actor, created_at, campaign, until)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (email, topic, reason, source, actor, at, campaign, until))).fetchone()
    claim = Claim(claim_id, email, scope, reason, source, actor, at, campaign, until)
    claims.append(claim)
    state = await _settle_row(conn, email, topic, key, claims)
    change_id = await _log_change(conn, at, "suppress", email, topic, reason, source, actor, detail, campaign, until,
                                  state)
    return Placed(suppression_of_claims(email, scope, claims), claim, change_id, shown(claims).id == claim_id)


async def _lift(conn, at, email, topic, lifted, source, actor, detail=None) -> int | None:
    claims = await _claims(conn, email, topic)
    gone = [claim for claim in claims if lifted(claim)]
    if not gone:
        return None
    await conn.execute("DELETE FROM claims WHERE id = ANY(%s)", ([claim.id for claim in gone],))
    left = [claim for claim in claims if claim not in gone]
    state = await _settle_row(conn, email, topic, None, left)
    action = "lift" if suppressed(state, at) else "unsuppress"
    return await _log_change(conn, at, action, email, topic, gone[0].reason if action == "lift" else None, source,
                             actor, detail, state=state)


async def _settle_row(conn, email, topic, key, claims: list[Claim]) -> str:
    state = standing(claims)
    if not claims:
        await conn.execute("DELETE FROM suppressions WHERE email = %s AND topic = %s", (email, topic))
        return state
    first = shown(claims)
    values = (first.reason, first.source, first.since, until_of(state), state == HARD)
    if key is None:
        await conn.execute("UPDATE suppressions SET reason = %s, source = %s, created_at = %s, until = %s, hard = %s"
                           " WHERE email = %s AND topic = %s", (*values, email, topic))
    else:
        await conn.execute(
            "INSERT INTO suppressions (email, topic, key, reason, source, created_at, until, hard)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (email, topic) DO UPDATE SET"
            " reason = excluded.reason, source = excluded.source, created_at = excluded.created_at,"
            " until = excluded.until, hard = excluded.hard", (email, topic, signed64(key), *values))
    return state



async def _log_change(conn, at, action, email, topic, reason, source, actor, detail=None, campaign=None, until=None,
                      state=None) -> int:
    return (await (await conn.execute(
        "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign, until, state)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (at, action, email, topic, reason, source, actor, detail, campaign, until, state),
    )).fetchone())[0]


async def _newest_change(conn) -> int:
    return (await (await conn.execute("SELECT coalesce(max(id), 0) FROM changes")).fetchone())[0]


async def _newest_seq(conn) -> int:
    # The sequence keeps the highest number ever given, even once those events are pruned.
    return (await (await conn.execute(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq_seq")).fetchone())[0]


_KEYS_PAGE = 2_000_000  # keys read in one query while loading the index (16 MB of bytes)


async def _copy_keys(conn, topic: str) -> np.ndarray:
    """One topic's keys, sorted as unsigned: pages of keys in key order, each packed by the server
    into one bytea of 8-byte big-endian values (string_agg of int8send), so that ten million keys
    cost five queries and numpy, not ten million Python objects (a row-by-row COPY took 20 s)."""
    parts, last = [], None
    while True:
        after = "" if last is None else " AND key > %s"
        params = (topic,) if last is None else (topic, last)
        packed, last, count = await (await conn.execute(
            "SELECT string_agg(int8send(key), ''::bytea), max(key), count(*) FROM (SELECT key FROM suppressions"
            f" WHERE topic = %s AND until IS NULL{after} ORDER BY key LIMIT {_KEYS_PAGE}) page", params,
        )).fetchone()
        if count:
            parts.append(np.frombuffer(packed, dtype=">i8"))
        if count < _KEYS_PAGE:
            break
    values = np.concatenate(parts) if parts else np.empty(0, dtype=">i8")
    unsigned = values.astype(np.int64).view(np.uint64)
    unsigned.sort()
    return unsigned


async def _migrate(conn) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
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


async def _scrub_messages(conn, ids, scrub) -> int:
    """As the SQLite store's: raw text and own words removed, the other columns through `scrub`,
    a message not yet read put before a person; the bytes of raw mail removed."""
    columns, freed = ", ".join(SCRUBBED), 0
    assignments = ", ".join(f"{c} = %s" for c in SCRUBBED)
    for message_id in ids:
        row = await (await conn.execute(
            f"SELECT size, raw IS NOT NULL, status, {columns} FROM inbox WHERE id = %s FOR UPDATE",
            (message_id,))).fetchone()
        if row is None:
            continue
        size, had_raw, status, *values = row
        freed += size if had_raw else 0
        cleaned = [scrub(v) if isinstance(v, str) else v for v in values]
        await conn.execute(f"UPDATE inbox SET raw = NULL, words = NULL, {assignments} WHERE id = %s",
                           (*cleaned, message_id))
        if status == "pending":
            await conn.execute("UPDATE inbox SET status = 'review', reasons = %s WHERE id = %s",
                               (json.dumps([UNREAD_ERASED]), message_id))
        await asyncio.sleep(0)  # the columns are short, but one person may have written many times
    return freed


class GroupWriter:
    """Ordered writes queue here; one task commits whatever has gathered as one group."""

    def __init__(self, commit: Callable[[list[tuple[Work, asyncio.Future]]], Awaitable[None]]):
        self._commit = commit
        self._queue: asyncio.Queue[tuple[Work, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-group-writer")

    async def write(self, work: Work) -> Any:
        if self._task is None:
            raise StoreUnavailable("the database is closed")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.join()
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < _MAX_GROUP:
                group.append(self._queue.get_nowait())
            try:
                await self._commit(group)
            except Exception as exc:  # never leave a caller waiting
                for _, future in group:
                    _settle(future, error=exc)
            finally:
                for _ in group:
                    self._queue.task_done()


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return  # its caller has gone (cancelled)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _raise_if_cancelled() -> None:
    # psycopg answers a cancelled task's query with QueryCanceled (an OperationalError) after
    # cancelling it on the server: that is our task stopping, not the database failing.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _reason(exc: BaseException) -> str:
    # The driver's first line only: never the connection string (it may hold a password).
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"postgres(?:ql)?://\S+", "postgresql://…", text)[:300]
