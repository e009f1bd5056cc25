"""The queries of the SQLite store: one file, one writer, readers beside it.

Every write is a plain function handed to the one writer (suppression/sqlite_writer.py: one
queue, one connection on one thread, group commits; datasette's pattern). Reads go through
aiosqlite on another connection; WAL lets them run beside the writer. Only this module, the
writer and outbox_queries.py speak SQL.
"""

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from suppression.apikeys import ApiKey
from suppression.changesignal import SIGNAL_NAME, ChangeSignal
from suppression.datadir import create_private_file, secure_data_dir
from suppression.errors import Conflict, NotFound, StoreUnavailable
from suppression.keyfile import KEY_FILE_NAME
from suppression.model import (  # noqa: F401  (re-exported: the store's rows)
    ALL_EMAILS, UNREAD_ERASED, Change, Claim, ImportRow, Outcome, Placed, Scope, StoredMessage, Suppression, Traces,
    signed64, utc_iso, utc_now,
)
from suppression.outbox_queries import OutboxQueries
from suppression.claims import (
    suppression_of_claims,
    HARD, HARD_REASONS, is_repeat, is_undo_of, shown, standing, state_of_legacy, suppressed, until_of,
)
from suppression.index import ScopeRows
from suppression.mail_shares import StoredMail
from suppression.rows import (
    last_of_page,
    STORED_MAIL_BY_NETWORK, STORED_MAIL_BY_SENDER, CHANGE_COLUMNS, CLAIM_COLUMNS, MESSAGE_COLUMNS, SCRUBBED,
    SUPPRESSION_COLUMNS, change_of_row, claim_of_row, message_of_row, suppression_of_row,
)
from suppression import stats_queries
from suppression.schema import MIGRATIONS
from suppression.sqlite_writer import WRITER_CACHE_KIB, SqliteWriter, Write

log = logging.getLogger(__name__)

_BUSY_TIMEOUT_MS = 10_000
_PAGE_ROWS = 500  # messages read at once by an erasure's search (and bytes: its caller's bound)
_IMPORT_CACHE_KIB = 1024 * 1024  # 1 GiB of page cache while importing




class SuppressionStore(OutboxQueries):
    """The database: open() before use, close() after; all methods are coroutines."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._writer = SqliteWriter(self.path, migrate=_migrate, on_commit=self._published)
        self._reader: aiosqlite.Connection | None = None
        self.stored_mail_bytes = 0  # raw received mail kept, in bytes (read at open, added to after)
        self.signal: ChangeSignal | None = None  # how far the change log has got, for every process
        self.reachable = True  # a local file: it answers or fails at once, never reconnects

    # -- life cycle -------------------------------------------------------------------

    async def open(self) -> None:
        # The list is personal data: the folder and its files are for this user alone. SQLite
        # gives the WAL and shared-memory files the database file's mode.
        secure_data_dir(self.path.parent, refused_if_loose=frozenset({KEY_FILE_NAME}))
        create_private_file(self.path)
        self.signal = ChangeSignal(self.path.parent / SIGNAL_NAME)
        try:
            await self._writer.open(_BUSY_TIMEOUT_MS)
            self._reader = await aiosqlite.connect(self.path, isolation_level=None)
            await self._reader.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            await self._reader.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            await self.close()
            raise StoreUnavailable(f"cannot open the database {self.path}: {exc}") from None
        except BaseException:
            # A connection left open keeps its thread, and the process, alive.
            await self.close()
            raise
        (self.stored_mail_bytes,) = (await self._read(
            "SELECT coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL"))[0]
        self._writer.start()

    async def close(self) -> None:
        await self._writer.close()
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self.signal is not None:
            self.signal.close()
            self.signal = None

    # -- the one writer (suppression/sqlite_writer.py) -----------------------------------

    @property
    def write_problem(self) -> str | None:
        """Why writes are refused now; None: they are not."""
        return self._writer.problem

    async def _write(self, work: Write) -> Any:
        return await self._writer.write(work)

    def announce_writes(self) -> None:
        """Wake whoever waits in wait_for_writes: something may have been written."""
        self._writer.announce()

    async def wait_for_writes(self, timeout: float) -> None:
        """Return after the next group of writes (or announce_writes), or after `timeout` seconds."""
        await self._writer.wait(timeout)

    def _published(self, db: sqlite3.Connection) -> None:
        # On the writer thread after each commit, before anyone is answered: a check anywhere
        # that starts after the answer sees it.
        self.signal.publish(_newest_change(db))

    async def join(self) -> None:
        """A server instance joins: nothing to do for a file that one instance serves."""

    def note_followed(self, cursor: int) -> None:
        """The index has applied changes up to `cursor`: the shared word already tells every process."""

    async def lead_receiver(self, url: str) -> bool:
        """Whether this process delivers to a webhook receiver: the one instance of a file does."""
        return True

    async def reset_signal(self) -> None:
        """Set the shared word to the database's newest change (at a server's start)."""
        await self._writer.run(lambda db: self.signal.reset(lambda: _newest_change(db)))

    # -- reads --------------------------------------------------------------------------

    async def _read(self, sql: str, params=()) -> list:
        """The rows of one query on the reader connection. The driver's errors (a damaged or
        changed file, a closed connection) become the domain's StoreUnavailable: a 503 or a
        451 with the reason, never a traceback."""
        if self._reader is None:
            raise StoreUnavailable("the database is closed")
        try:
            return await self._reader.execute_fetchall(sql, params)
        except (sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's closed connection
            raise StoreUnavailable(f"the database cannot be read now: {exc}") from None

    # -- suppressions -------------------------------------------------------------------

    async def suppress(
        self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str, detail: str | None = None,
    ) -> tuple[Suppression, int | None]:
        """See Store.suppress."""
        placed = await self.claim(email, key, scope, reason, source, actor, detail)
        return placed.suppression, placed.change_id

    async def claim(
        self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str, detail: str | None = None,
        campaign: str | None = None, until: str | None = None,
    ) -> Placed:
        """See Store.claim."""

        def work(db: sqlite3.Connection):
            return _claim(db, utc_now(), email, key, scope, reason, source, actor, detail, campaign, until)

        return await self._write(work)

    async def unsuppress(
        self, email: str, scope: Scope, source: str, actor: str, only_own_made_at: str | None = None
    ) -> int | None:
        """See Store.unsuppress."""
        if only_own_made_at is None:
            def lifted(claim: Claim) -> bool:
                return True
        else:
            def lifted(claim: Claim) -> bool:
                return is_undo_of(claim, only_own_made_at)

        def work(db: sqlite3.Connection):
            return _lift(db, utc_now(), email, scope.stored, lifted, source, actor)

        return await self._write(work)

    async def lift_own_opt_outs(
        self, email: str, reason: str, sources: tuple[str, ...], made_before: str, source: str, actor: str,
        detail: str | None = None,
    ) -> list[tuple[Scope, int]]:
        """See Store.lift_own_opt_outs."""

        def own(claim: Claim) -> bool:
            return claim.reason == reason and claim.source in sources and claim.since <= made_before

        def work(db: sqlite3.Connection):
            at, done = utc_now(), []
            topics = [t for (t,) in db.execute("SELECT DISTINCT topic FROM claims WHERE email = ? ORDER BY topic",
                                               (email,))]
            for topic in topics:
                change_id = _lift(db, at, email, topic, own, source, actor, detail)
                if change_id is not None:
                    done.append((Scope.of_stored(topic), change_id))
            return done

        return await self._write(work)

    async def claims_of(self, email: str, free_within: float | None = None) -> list[Claim]:
        """See Store.claims_of (one reader connection: nothing to wait for)."""
        rows = await self._read(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = ? ORDER BY topic, id", (email,))
        return [claim_of_row(row) for row in rows]

    async def count_return_request(self, inbox: str, day: str) -> int:
        """See Store.count_return_request."""

        def work(db: sqlite3.Connection):
            return db.execute(
                "INSERT INTO return_requests (inbox, day, count) VALUES (?, ?, 1)"
                " ON CONFLICT (inbox, day) DO UPDATE SET count = count + 1 RETURNING count", (inbox, day),
            ).fetchone()[0]

        return await self._write(work)

    async def return_requests_of(self, inbox: str) -> list[tuple[str, int]]:
        """See Store.return_requests_of."""
        rows = await self._read("SELECT day, count FROM return_requests WHERE inbox = ? ORDER BY day", (inbox,))
        return [tuple(row) for row in rows]

    async def prune_return_requests(self, before_day: str) -> int:
        """See Store.prune_return_requests."""

        def work(db: sqlite3.Connection):
            return db.execute("DELETE FROM return_requests WHERE day < ?", (before_day,)).rowcount

        return await self._write(work)

    async def import_rows(self, rows: Iterable[ImportRow], actor: str) -> int:
        """Add every row not suppressed already, all in one transaction; return how many.

        `rows` may raise BadImport part way: then nothing is written. An import only adds:
        existing suppressions keep their reason and time.
        """

        def work(db: sqlite3.Connection):
            at = utc_now()
            # Millions of B-tree inserts thrash SQLite's default 2 MB page cache; a large one
            # for the import only (the CLI's process), set back afterwards.
            db.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
            db.execute(f"PRAGMA temp.cache_size = -{_IMPORT_CACHE_KIB}")
            db.execute("DROP TABLE IF EXISTS temp.import_rows")
            db.execute(
                "CREATE TEMP TABLE import_rows (email TEXT NOT NULL, topic TEXT NOT NULL,"
                " reason TEXT NOT NULL, key INTEGER NOT NULL, line INTEGER NOT NULL,"
                " PRIMARY KEY (email, topic)) WITHOUT ROWID"
            )
            try:
                # The first occurrence of an address in the file wins.
                db.executemany(
                    "INSERT OR IGNORE INTO temp.import_rows VALUES (?, ?, ?, ?, ?)",
                    ((r.email, r.scope.stored, r.reason, r.key, r.line) for r in rows),
                )
                # An address suppressed already takes a claim only where it adds something: a
                # lasting one where only pauses hold it, a hard one (bounce, block) where none is.
                further = db.execute(
                    "SELECT i.email, i.topic, i.reason, i.key FROM temp.import_rows i JOIN suppressions s"
                    " ON s.email = i.email AND s.topic = i.topic WHERE s.until IS NOT NULL"
                    f" OR (s.hard = 0 AND i.reason IN ({_HARD_LIST})) ORDER BY i.line"
                ).fetchall()
                db.execute(
                    "DELETE FROM temp.import_rows WHERE EXISTS (SELECT 1 FROM suppressions s"
                    " WHERE s.email = import_rows.email AND s.topic = import_rows.topic)"
                )
                added = db.execute(
                    "INSERT INTO changes (at, action, email, topic, reason, source, actor, state)"
                    f" SELECT ?, 'suppress', email, topic, reason, 'import', ?, CASE WHEN reason IN ({_HARD_LIST})"
                    " THEN 'H' ELSE 'P' END FROM temp.import_rows ORDER BY line",
                    (at, actor),
                ).rowcount
                db.execute(
                    "INSERT INTO suppressions (email, topic, key, reason, source, created_at, hard)"
                    f" SELECT email, topic, key, reason, 'import', ?, reason IN ({_HARD_LIST}) FROM temp.import_rows"
                    " ORDER BY email, topic",  # primary-key order: appends, not scattered inserts
                    (at,),
                )
                db.execute(
                    "INSERT INTO claims (email, topic, reason, source, actor, created_at)"
                    " SELECT email, topic, reason, 'import', ?, ? FROM temp.import_rows ORDER BY line",
                    (actor, at),
                )
                # The statistics' counts of what was added, in one statement (migration 17 leaves
                # imported changes to this: a trigger a row doubled the cost of logging them).
                db.execute(
                    "INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)"
                    " SELECT substr(?, 1, 10), '', topic, 'import', reason, '', count(*), 0 FROM temp.import_rows"
                    " WHERE true GROUP BY topic, reason"
                    " ON CONFLICT (day, campaign, topic, source, reason, why)"
                    " DO UPDATE SET created = daily_changes.created + excluded.created",
                    (at,),
                )
                further_added: dict[tuple[str, str], int] = {}
                for email, topic, reason, key in further:
                    placed = _claim(db, at, email, key, Scope.of_stored(topic), reason, "import", actor)
                    if placed.change_id is not None:
                        added += 1
                        further_added[topic, reason] = further_added.get((topic, reason), 0) + 1
                # ...and of the claims added to addresses suppressed already (few: one at a time).
                db.executemany(
                    "INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)"
                    " VALUES (substr(?, 1, 10), '', ?, 'import', ?, '', ?, 0)"
                    " ON CONFLICT (day, campaign, topic, source, reason, why)"
                    " DO UPDATE SET created = daily_changes.created + excluded.created",
                    [(at, topic, reason, count) for (topic, reason), count in further_added.items()],
                )
            finally:
                db.execute("DROP TABLE IF EXISTS temp.import_rows")
                db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
                db.execute("PRAGMA temp.cache_size = -2000")
            return added

        return await self._write(work)

    async def suppressions_of(self, email: str, free_within: float | None = None) -> list[Suppression]:
        """Every suppression of one address, "all emails" first (one reader connection: nothing to wait for)."""
        rows = await self._read(
            f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE email = ? ORDER BY topic", (email,))
        return [suppression_of_row(row) for row in rows]

    async def iter_suppressions(self, batch: int = 10_000) -> AsyncIterator[Suppression]:
        """All suppressions in address order, read in batches (for export)."""
        try:
            cursor = await self._reader.execute(
                f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions ORDER BY email, topic"
            )
        except (sqlite3.Error, ValueError) as exc:
            raise StoreUnavailable(f"the database cannot be read now: {exc}") from None
        try:
            while True:
                try:
                    rows = await cursor.fetchmany(batch)
                except sqlite3.Error as exc:
                    raise StoreUnavailable(f"the database cannot be read now: {exc}") from None
                if not rows:
                    break
                for row in rows:
                    yield suppression_of_row(row)
        finally:
            await cursor.close()

    async def count(self) -> int:
        (n,) = (await self._read("SELECT count(*) FROM suppressions"))[0]
        return n

    # -- the change log -----------------------------------------------------------------

    async def changes_after(self, after: int, limit: int) -> list[Change]:
        rows = await self._read(f"SELECT {CHANGE_COLUMNS} FROM changes WHERE id > ? ORDER BY id LIMIT ?",
                                (after, limit))
        return [change_of_row(row) for row in rows]

    # -- erasure --------------------------------------------------------------------------

    async def erase(self, email: str, record: str, key: int, digest_keys: dict[str, int], traces: Traces,
                    scrub: Callable[[str | None], str | None], actor: str) -> tuple[list[Scope], int, int]:
        """See Store.erase."""

        def work(db: sqlite3.Connection):
            at = utc_now()
            rows = db.execute("SELECT 1 FROM claims WHERE email = ? LIMIT 1", (email,)).fetchall()
            known = db.execute("SELECT 1 FROM suppressions WHERE email = ? LIMIT 1", (record,)).fetchone()
            # Its claims become the record's, and its suppressions what they add up to there.
            db.execute("UPDATE claims SET email = ? WHERE email = ?", (record, email))
            db.execute("DELETE FROM suppressions WHERE email = ?", (email,))
            if not rows and not known:
                # Erased before, or without, ever opting out: never mailed again all the same.
                db.execute("INSERT INTO claims (email, topic, reason, source, actor, created_at)"
                           " VALUES (?, ?, 'erasure', 'erasure', ?, ?)", (record, ALL_EMAILS.stored, actor, at))
            for (topic,) in db.execute("SELECT DISTINCT topic FROM claims WHERE email = ?", (record,)).fetchall():
                _settle_row(db, record, topic, key, _claims(db, record, topic))
            cursors = [str(i) for (i,) in db.execute("SELECT id FROM changes WHERE email = ? ORDER BY id", (email,))]
            # What the person wrote about why they left may name them: it goes, the choice stays.
            db.execute("UPDATE changes SET email = ?, detail = CASE WHEN detail IS NULL THEN NULL"
                       " ELSE json_remove(detail, '$.why_text') END WHERE email = ?", (record, email))
            change_id = db.execute(
                "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail)"
                " VALUES (?, 'erase', ?, ?, NULL, 'erasure', ?, ?)",
                (at, record, ALL_EMAILS.stored, actor, json.dumps({"cursors": cursors})),
            ).lastrowid
            db.execute(
                "INSERT OR IGNORE INTO erased_subjects (record, key, sha256_key, md5_key, at, actor)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (record, signed64(key), signed64(digest_keys["sha256"]), signed64(digest_keys["md5"]), at, actor),
            )
            freed = _scrub_messages(db, traces.messages, scrub)
            db.executemany("DELETE FROM replies WHERE email = ?", [(k,) for k in traces.replies])
            db.executemany("UPDATE sender_requests SET sender = ? WHERE sender = ?",
                           [(record, sender) for sender in traces.senders])
            scopes = [Scope.of_stored(t) for (t,) in db.execute(
                "SELECT topic FROM suppressions WHERE email = ? ORDER BY topic", (record,))]
            return scopes, change_id, freed

        scopes, change_id, freed = await self._write(work)
        self.stored_mail_bytes -= freed
        await self.truncate_journal()
        return scopes, change_id, freed

    async def scrub_messages(self, ids: list[int], scrub: Callable[[str | None], str | None]) -> int:
        """See Store.scrub_messages."""
        freed = await self._write(lambda db: _scrub_messages(db, ids, scrub))
        self.stored_mail_bytes -= freed
        await self.truncate_journal()
        return freed

    async def truncate_journal(self, attempts: int = 50) -> bool:
        """Move everything into the database file and empty the write-ahead log, so that what a
        write replaced lives on in neither; True once done (readers may hold it up a moment)."""

        def checkpoint(db: sqlite3.Connection):
            return db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

        for _ in range(attempts):
            busy, _, _ = await self._writer.run(checkpoint)
            if not busy:
                return True
            await asyncio.sleep(0.02)
        log.warning("the write-ahead log could not be emptied now; it will be at the next checkpoint")
        return False

    async def remove_raw_before(self, before: str) -> tuple[int, int]:
        """Remove the raw text and own words of settled messages received before a time;
        (messages, bytes) removed."""

        def work(db: sqlite3.Connection):
            count, size = db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL AND received_at < ?"
                " AND status NOT IN ('pending', 'review')", (before,),
            ).fetchone()
            db.execute(
                "UPDATE inbox SET raw = NULL, words = NULL WHERE raw IS NOT NULL AND received_at < ?"
                " AND status NOT IN ('pending', 'review')", (before,),
            )
            return count, size

        count, size = await self._write(work)
        self.stored_mail_bytes -= size
        if count:
            await self.truncate_journal()
        return count, size

    async def domain_entries(self) -> list[tuple[str, Scope, bool]]:
        """(entry, scope, hard) of every "*@DOMAIN" suppression (a range of the primary key: no scan)."""
        rows = await self._read("SELECT email, topic, hard FROM suppressions WHERE email >= '*@' AND email < '*A'")
        return [(entry, Scope.of_stored(topic), bool(hard)) for entry, topic, hard in rows]

    async def erased_subject_rows(self) -> list[tuple[str, int, int, int]]:
        """(record, keyed index key, keyed sha256 key, keyed md5 key) of every erased address."""
        rows = await self._read("SELECT record, key, sha256_key, md5_key FROM erased_subjects")
        mask = 0xFFFFFFFFFFFFFFFF
        return [(record, key & mask, sha & mask, md5 & mask) for record, key, sha, md5 in rows]

    async def erased_digest_rows(self) -> list[tuple[Scope, int, int]]:
        """(scope, keyed sha256 key, keyed md5 key) of every erased address's suppressions."""
        rows = await self._read(
            "SELECT s.topic, e.sha256_key, e.md5_key FROM suppressions s JOIN erased_subjects e ON s.email = e.record"
        )
        return [(Scope.of_stored(topic), sha & 0xFFFFFFFFFFFFFFFF, md5 & 0xFFFFFFFFFFFFFFFF) for topic, sha, md5 in rows]

    async def message_page(self, after: int, max_bytes: int) -> list[tuple[int, bytes | None, tuple]]:
        """See Store.message_page."""
        sizes = await self._read(
            "SELECT id, CASE WHEN raw IS NULL THEN 0 ELSE size END FROM inbox WHERE id > ? ORDER BY id LIMIT ?",
            (after, _PAGE_ROWS),
        )
        if not sizes:
            return []
        last = last_of_page(sizes, max_bytes)
        columns = ", ".join((*SCRUBBED, "words"))
        rows = await self._read(f"SELECT id, raw, {columns} FROM inbox WHERE id > ? AND id <= ? ORDER BY id",
                                (after, last))
        return [(row[0], row[1], tuple(row[2:])) for row in rows]

    async def messages_by_id(self, ids: list[int]) -> list[StoredMessage]:
        """See Store.messages_by_id."""
        columns = ", ".join(MESSAGE_COLUMNS)
        found = []
        for start in range(0, len(ids), _PAGE_ROWS):
            part = ids[start:start + _PAGE_ROWS]
            rows = await self._read(f"SELECT {columns}, raw FROM inbox WHERE id IN ({', '.join('?' * len(part))})"
                                    " ORDER BY id", part)
            found.extend(message_of_row(row[:-1], raw=row[-1]) for row in rows)
        return found

    async def sender_request_keys(self) -> list[str]:
        """See Store.sender_request_keys."""
        return [sender for (sender,) in await self._read("SELECT DISTINCT sender FROM sender_requests")]

    async def reply_keys(self) -> list[str]:
        """See Store.reply_keys."""
        return [email for (email,) in await self._read("SELECT DISTINCT email FROM replies")]

    async def replies_to(self, keys: list[str]) -> list[tuple[str, str]]:
        """(day, sent_at) of every confirmation sent to any of `keys` (the person's reply keys)."""
        if not keys:
            return []
        return await self._read(
            f"SELECT day, sent_at FROM replies WHERE email IN ({', '.join('?' * len(keys))}) ORDER BY day, sent_at",
            list(keys),
        )

    async def sender_counts_of(self, senders: list[str]) -> list[tuple[str, int, int]]:
        """(at, message id, addresses) of the per-sender limit's rows for any of `senders`."""
        if not senders:
            return []
        return await self._read(
            "SELECT at, message, addresses FROM sender_requests"
            f" WHERE sender IN ({', '.join('?' * len(senders))}) ORDER BY at, message", list(senders),
        )

    # -- campaigns and statistics (suppression/stats_queries.py) -------------------------------

    async def record_sent(self, campaign: str, sent: int) -> None:
        """See Store.record_sent."""

        def work(db: sqlite3.Connection):
            at = utc_now()
            db.execute(stats_queries.RECORD_SENT, (campaign, sent, at, at))

        await self._write(work)

    async def daily_counts(self, first: str, last: str, by: tuple[str, ...]) -> list[tuple]:
        """See Store.daily_counts."""
        return await self._read(stats_queries.counts(by), (first, last))

    async def campaign_counts(self, first: str, last: str, after_last: str) -> list[tuple[str, int, int, int | None]]:
        """See Store.campaign_counts."""
        return await self._read(stats_queries.CAMPAIGN_COUNTS, (first, last, first, after_last))

    async def desk_days(self, days: list[tuple[str, str, str]]) -> list[tuple[str, int, int, int]]:
        """See Store.desk_days."""
        params = [value for day in days for value in day] + [days[0][0], days[-1][1]]
        return await self._read(stats_queries.desk_days(len(days)), params)

    async def changes_of(self, email: str) -> list[Change]:
        """Every change for one address, oldest first (by the changes_email index)."""
        rows = await self._read(f"SELECT {CHANGE_COLUMNS} FROM changes WHERE email = ? ORDER BY id", (email,))
        return [change_of_row(row) for row in rows]

    async def index_changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, Scope, str]]:
        """See Store.index_changes_after."""
        rows = await self._read(
            "SELECT id, action, email, topic, state, reason FROM changes WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit))
        return [(change_id, action, email, Scope.of_stored(topic), state_of_legacy(action, reason) if state is None
                 else state) for change_id, action, email, topic, state, reason in rows]

    async def change_counts_after(self, after: int) -> list[tuple[str, str, int, int]]:
        """See Store.change_counts_after."""
        return await self._read(
            "SELECT action, source, count(*), max(id) FROM changes WHERE id > ? GROUP BY action, source", (after,))

    async def newest_change(self) -> int:
        (newest,) = (await self._read("SELECT coalesce(max(id), 0) FROM changes"))[0]
        return newest

    async def identity(self) -> tuple[str, int]:
        """This database's id and the id of its newest change."""
        (database_id,) = (await self._read("SELECT value FROM meta WHERE key = 'database_id'"))[0]
        (newest,) = (await self._read("SELECT coalesce(max(id), 0) FROM changes"))[0]
        return database_id, newest

    async def load_index_keys(self) -> tuple[int, dict[Scope, np.ndarray]]:
        """Every topic's keys suppressed with no end (sorted, unsigned) and the change id they reflect."""
        cursor, rows = await self.load_index()
        return cursor, {scope: keys.lasting for scope, keys in rows.items() if len(keys.lasting)}

    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        """See Store.load_index. Read on a connection of its own, in one read transaction, in a
        thread: millions of rows are faster through the plain driver than one await per batch."""
        return await asyncio.to_thread(_load_index, self.path)

    # -- mail to the request addresses --------------------------------------------------

    async def add_message(
        self, raw: bytes, mail_from: str, rcpt_to: list[str], settled: tuple[str, list[str]] | None = None,
        origin: str | None = None, network: str | None = None,
    ) -> int:
        """See Store.add_message."""

        def work(db: sqlite3.Connection):
            if origin is not None:
                row = db.execute("SELECT id FROM inbox WHERE origin = ?", (origin,)).fetchone()
                if row is not None:
                    return row[0], False
            at = utc_now()
            status, reasons = settled or ("pending", None)
            return db.execute(
                "INSERT INTO inbox (received_at, mail_from, rcpt_to, size, raw, status, reasons, processed_at, origin,"
                " network) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at, mail_from, json.dumps(rcpt_to), len(raw), raw, status,
                 json.dumps(reasons) if reasons is not None else None, at if settled else None, origin, network),
            ).lastrowid, True

        message_id, added = await self._write(work)
        if added:
            self.stored_mail_bytes += len(raw)
        return message_id

    async def pending_messages(self, limit: int) -> list[tuple[int, bytes, str]]:
        """(id, raw, envelope sender) of messages not yet handled, oldest first."""
        return await self._read(
            "SELECT id, raw, mail_from FROM inbox WHERE status = 'pending' ORDER BY id LIMIT ?", (limit,)
        )

    async def settle_message(
        self, message_id: int, outcome: Outcome, keys: list[tuple[str, int]], reason: str | None,
        source: str, actor: str, counted: tuple[str, int] | None = None, campaign: str | None = None,
    ) -> int | None:
        """Suppress a handled message's (address, key) pairs for `reason`, if any (made through the
        link of `campaign`), and record its outcome (and, if given, (sender, addresses) against
        that sender's daily limit), in one savepoint; return the last new change's id (None:
        nothing changed)."""

        def work(db: sqlite3.Connection):
            row = db.execute("SELECT status FROM inbox WHERE id = ?", (message_id,)).fetchone()
            if row is not None and row[0] != "pending":
                # Settled meanwhile: an erasure took its text (and put it before a person) while
                # it was being read; what the reader found in it must not come back.
                raise Conflict(f"message {message_id} is no longer waiting to be read ({row[0]})")
            at, last = utc_now(), None
            if reason is not None:
                for email, key in keys:
                    last = _claim(db, at, email, key, outcome.scope, reason, source, actor,
                                   campaign=campaign).change_id or last
            db.execute(
                "UPDATE inbox SET status = ?, reasons = ?, addresses = ?, topic = ?, sender = ?,"
                " subject = ?, message_id = ?, authentication = ?, found = ?, words = ?, processed_at = ?,"
                " proof = ?, report = ? WHERE id = ?",
                (
                    outcome.status, json.dumps(outcome.reasons), json.dumps(outcome.addresses),
                    outcome.scope.topic, outcome.sender, outcome.subject, outcome.message_id,
                    outcome.authentication, json.dumps(outcome.found), outcome.words, at,
                    outcome.proof, outcome.report, message_id,
                ),
            )
            if counted is not None:
                sender, addresses = counted
                db.execute(
                    "INSERT INTO sender_requests (sender, at, message, addresses) SELECT ?, ?, ?, ?"
                    " WHERE NOT EXISTS (SELECT 1 FROM sender_requests WHERE message = ?)",
                    (sender, at, message_id, addresses, message_id),
                )
            return last

        return await self._write(work)

    async def resolve_message(
        self, message_id: int, status: str, keys: list[tuple[str, int]], scope: Scope, reason: str,
        source: str, actor: str, note: str | None,
    ) -> int | None:
        """Settle a message under review as `status` (resolved or dismissed), suppressing the
        (address, key) pairs, all in one savepoint; return the last new change's id.

        NotFound if there is no such message, Conflict if it is not under review: a second
        resolve changes nothing.
        """

        def work(db: sqlite3.Connection):
            row = db.execute("SELECT status FROM inbox WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise NotFound(f"no received message {message_id}")
            if row[0] != "review":
                raise Conflict(f"message {message_id} is settled already ({row[0]})")
            at, last = utc_now(), None
            for email, key in keys:
                last = _claim(db, at, email, key, scope, reason, source, actor).change_id or last
            db.execute(
                "UPDATE inbox SET status = ?, addresses = ?, topic = ?, resolved_at = ?, resolved_by = ?, note = ?"
                " WHERE id = ?",
                (status, json.dumps([email for email, _ in keys]), scope.topic, at, actor, note, message_id),
            )
            return last

        return await self._write(work)

    async def review_state(self, due_before: str) -> tuple[int, int, str | None]:
        """Messages under review, how many of them came before `due_before` (overdue), and when the oldest came."""
        rows = await self._read(
            "SELECT count(*), coalesce(sum(received_at < ?), 0), min(received_at) FROM inbox WHERE status = 'review'",
            (due_before,),
        )
        return rows[0][0], rows[0][1], rows[0][2]

    async def stored_mail(self) -> StoredMail:
        """See Store.stored_mail."""
        by_network = dict(await self._read(STORED_MAIL_BY_NETWORK))
        by_sender = dict(await self._read(STORED_MAIL_BY_SENDER))
        return StoredMail(self.stored_mail_bytes, by_network, by_sender)

    async def unproven_requests_since(self, since: str, message_id: int) -> tuple[str | None, int, int]:
        """See Store.unproven_requests_since."""
        rows = await self._read(
            "SELECT m.network, coalesce(sum(CASE WHEN i.network = m.network THEN 1 ELSE 0 END), 0), count(i.id)"
            " FROM inbox m LEFT JOIN inbox i ON i.proof = 'none' AND i.status = 'request' AND i.processed_at > ?"
            " WHERE m.id = ? GROUP BY m.network", (since, message_id),
        )
        return tuple(rows[0]) if rows else (None, 0, 0)

    async def sender_requests_since(self, sender: str, since: str) -> int:
        """How many addresses `sender`'s honoured requests naming others have named since a time."""
        rows = await self._read(
            "SELECT coalesce(sum(addresses), 0) FROM sender_requests WHERE sender = ? AND at > ?", (sender, since)
        )
        return rows[0][0]

    async def list_messages(self, status: str | None, after: int, limit: int) -> list[StoredMessage]:
        columns = ", ".join(MESSAGE_COLUMNS)
        if status is None:
            rows = await self._read(
                f"SELECT {columns} FROM inbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
            )
        else:
            rows = await self._read(
                f"SELECT {columns} FROM inbox WHERE status = ? AND id > ? ORDER BY id LIMIT ?",
                (status, after, limit),
            )
        return [message_of_row(row) for row in rows]

    async def get_message(self, message_id: int) -> StoredMessage | None:
        columns = ", ".join(MESSAGE_COLUMNS)
        rows = await self._read(
            f"SELECT {columns}, raw FROM inbox WHERE id = ?", (message_id,)
        )
        return message_of_row(rows[0][:-1], raw=rows[0][-1]) if rows else None

    async def claim_reply(self, email: str, day: str) -> bool:
        """Record that `email` is answered on `day`; False if it was already today."""

        def work(db: sqlite3.Connection):
            return db.execute(
                "INSERT OR IGNORE INTO replies (email, day, sent_at) VALUES (?, ?, ?)", (email, day, utc_now())
            ).rowcount == 1

        return await self._write(work)

    # -- API keys -----------------------------------------------------------------------

    async def add_api_key(self, key: ApiKey) -> None:
        def work(db: sqlite3.Connection):
            try:
                db.execute(
                    "INSERT INTO api_keys (key_id, name, scope, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                    (key.key_id, key.name, key.scope, key.secret_hash, utc_now()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"an API key named {key.name!r} exists already") from None

        await self._write(work)

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(
            "SELECT key_id, name, scope, secret_hash FROM api_keys"
            " WHERE key_id = ? AND revoked_at IS NULL",
            (key_id,),
        )
        return ApiKey(*rows[0]) if rows else None

    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]:
        """(name, scope, created_at, revoked_at) of every key; never the hashes."""
        return await self._read(
            "SELECT name, scope, created_at, revoked_at FROM api_keys ORDER BY created_at, name"
        )

    async def revoke_api_key(self, name: str) -> bool:
        def work(db: sqlite3.Connection):
            return db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (utc_now(), name)
            ).rowcount > 0

        return await self._write(work)

    async def ping(self) -> bool:
        if self._reader is None:
            return False
        try:
            await self._read("SELECT 1 FROM changes LIMIT 1")
        except StoreUnavailable:
            return False
        return True


_HARD_LIST = ", ".join(f"'{reason}'" for reason in sorted(HARD_REASONS))  # constants of ours


def _claims(db, email: str, topic: str) -> list[Claim]:
    rows = db.execute(f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = ? AND topic = ? ORDER BY id", (email, topic))
    return [claim_of_row(row) for row in rows]


def _claim(db, at, email, key, scope, reason, source, actor, detail=None, campaign=None, until=None) -> Placed:
    """Add one party's claim unless the same one stands already; the suppressions row follows."""
    topic = scope.stored
    claims = _claims(db, email, topic)
    for claim in claims:
        if is_repeat(claim, reason, source, until):
            return Placed(suppression_of_claims(email, scope, claims), claim, None, False)
    claim_id = db.execute(
        "INSERT INTO claims (email, topic, reason, source, actor, created_at, campaign, until)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (email, topic, reason, source, actor, at, campaign, until),
    ).lastrowid
    claim = Claim(claim_id, email, scope, reason, source, actor, at, campaign, until)
    claims.append(claim)
    state = _settle_row(db, email, topic, key, claims)
    change_id = _log_change(db, at, "suppress", email, topic, reason, source, actor, detail, campaign, until, state)
    return Placed(suppression_of_claims(email, scope, claims), claim, change_id, shown(claims).id == claim_id)


def _lift(db, at, email, topic, lifted, source, actor, detail=None) -> int | None:
    """Remove the claims `lifted` picks; log `unsuppress` if none is left that holds now, else `lift`."""
    claims = _claims(db, email, topic)
    gone = [claim for claim in claims if lifted(claim)]
    if not gone:
        return None
    db.executemany("DELETE FROM claims WHERE id = ?", [(claim.id,) for claim in gone])
    left = [claim for claim in claims if claim not in gone]
    state = _settle_row(db, email, topic, None, left)
    action = "lift" if suppressed(state, at) else "unsuppress"
    return _log_change(db, at, action, email, topic, gone[0].reason if action == "lift" else None, source, actor,
                       detail, state=state)


def _settle_row(db, email, topic, key, claims: list[Claim]) -> str:
    """Make the suppressions row what `claims` add up to; return their standing."""
    state = standing(claims)
    if not claims:
        db.execute("DELETE FROM suppressions WHERE email = ? AND topic = ?", (email, topic))
        return state
    first = shown(claims)
    values = (first.reason, first.source, first.since, until_of(state), state == HARD)
    if key is None:
        db.execute("UPDATE suppressions SET reason = ?, source = ?, created_at = ?, until = ?, hard = ?"
                   " WHERE email = ? AND topic = ?", (*values, email, topic))
    else:
        db.execute(
            "INSERT INTO suppressions (email, topic, key, reason, source, created_at, until, hard)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email, topic) DO UPDATE SET reason = excluded.reason,"
            " source = excluded.source, created_at = excluded.created_at, until = excluded.until,"
            " hard = excluded.hard", (email, topic, signed64(key), *values))
    return state



def _log_change(db, at, action, email, topic, reason, source, actor, detail=None, campaign=None, until=None,
                state=None) -> int:
    return db.execute(
        "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign, until, state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, action, email, topic, reason, source, actor, detail, campaign, until, state),
    ).lastrowid


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        raise StoreUnavailable(
            f"the database {path} is at schema version {version}, newer than this "
            f"program ({len(MIGRATIONS)}); upgrade the program"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        log.info("applying database migration %d", number)
        # PRAGMA takes no parameters; `number` is our own integer, not input.
        try:
            db.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number}; COMMIT;")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise


def _scrub_messages(db: sqlite3.Connection, ids, scrub: Callable[[str | None], str | None]) -> int:
    """Remove the raw text and own words of each message, and pass its other columns through
    `scrub`; return the bytes of raw mail removed. One not yet read cannot be any more: it goes
    before a person instead."""
    columns, freed = ", ".join(SCRUBBED), 0
    assignments = ", ".join(f"{c} = ?" for c in SCRUBBED)
    for message_id in ids:
        row = db.execute(f"SELECT size, raw IS NOT NULL, status, {columns} FROM inbox WHERE id = ?",
                         (message_id,)).fetchone()
        if row is None:
            continue
        size, had_raw, status, *values = row
        freed += size if had_raw else 0
        cleaned = [scrub(v) if isinstance(v, str) else v for v in values]
        db.execute(f"UPDATE inbox SET raw = NULL, words = NULL, {assignments} WHERE id = ?", (*cleaned, message_id))
        if status == "pending":
            db.execute("UPDATE inbox SET status = 'review', reasons = ? WHERE id = ?",
                       (json.dumps([UNREAD_ERASED]), message_id))
    return freed


def _load_index(path: Path) -> tuple[int, dict[Scope, ScopeRows]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        db.execute("BEGIN")
        (cursor,) = db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()
        lasting = {}
        topic = db.execute("SELECT min(topic) FROM suppressions WHERE until IS NULL").fetchone()[0]
        while topic is not None:
            rows = db.execute("SELECT key FROM suppressions WHERE topic = ? AND until IS NULL", (topic,))
            unsigned = np.fromiter((k for (k,) in rows), dtype=np.int64).view(np.uint64)
            unsigned.sort()  # in place: no second copy of ten million keys
            lasting[topic] = unsigned
            # The next topic by one index seek; DISTINCT would read every row.
            topic = db.execute(
                "SELECT min(topic) FROM suppressions WHERE topic > ? AND until IS NULL", (topic,)
            ).fetchone()[0]
        hard = db.execute("SELECT topic, key FROM suppressions WHERE hard = 1").fetchall()
        paused = db.execute("SELECT topic, key, until FROM suppressions WHERE until IS NOT NULL").fetchall()
        db.execute("COMMIT")
        return cursor, ScopeRows.of_rows(lasting, hard, paused)
    finally:
        db.close()


def _newest_change(db: sqlite3.Connection) -> int:
    return db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0]
