"""The SQL of the webhook outbox (migration 9), mixed into SuppressionStore: events are appended
by triggers in the transaction of what they report; receivers' progress is saved here."""

import json
import sqlite3

from suppression.errors import InvalidValue, NotFound
from suppression.outbox import Backlog, Event, Receiver
from suppression.model import utc_now
from suppression.rows import RECEIVER_COLUMNS, change_of_row

_COLUMNS = ", ".join(RECEIVER_COLUMNS)  # constants of ours; values are always parameters


class OutboxQueries:
    """Needs the store's `_reader` (aiosqlite) and `_write` (the one writer)."""

    async def sync_receivers(self, urls: list[str]) -> tuple[list[str], list[str]]:
        """Make the configured receivers the kept ones: a new one starts after the newest event
        (it gets what happens from now on; a replay gives it older ones); one no longer configured
        is forgotten. Returns (added, removed). Writes nothing when they are already so (a
        read-only database still starts)."""
        kept = {url for (url,) in await self._read("SELECT url FROM webhook_receivers")}
        if kept == set(urls):
            return [], []

        def work(db: sqlite3.Connection):
            kept = [url for (url,) in db.execute("SELECT url FROM webhook_receivers")]
            removed = [url for url in kept if url not in urls]
            added = [url for url in urls if url not in kept]
            db.executemany("DELETE FROM webhook_receivers WHERE url = ?", [(url,) for url in removed])
            newest = _newest_seq(db)
            db.executemany(
                "INSERT INTO webhook_receivers (url, cursor, added_at) VALUES (?, ?, ?)",
                [(url, newest, utc_now()) for url in added],
            )
            return added, removed

        return await self._write(work)

    async def receiver(self, url: str) -> Receiver | None:
        rows = await self._read(f"SELECT {_COLUMNS} FROM webhook_receivers WHERE url = ?", (url,))
        return Receiver(*rows[0]) if rows else None

    async def backlog(self, cursor: int) -> Backlog:
        rows = await self._read(
            "SELECT count(*), min(at) FROM events WHERE seq > ?", (cursor,)
        )
        return Backlog(rows[0][0], rows[0][1])

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Events after `seq` in order, each with the change or message it names as it is now
        (an erasure since has replaced the address already)."""
        rows = await self._read(
            "SELECT e.seq, e.type, e.at, c.id, c.at, c.action, c.email, c.topic, c.reason, c.source, c.actor,"
            " c.detail, c.campaign, c.until, c.state, i.id, i.received_at, i.reasons, e.uid FROM events e"
            " LEFT JOIN changes c ON c.id = e.change LEFT JOIN inbox i ON i.id = e.message"
            " WHERE e.seq > ? ORDER BY e.seq LIMIT ?",
            (seq, limit),
        )
        events = []
        for seq_, type_, at, *change, message_id, received_at, reasons, uid in rows:
            events.append(Event(
                seq_, type_, at,
                change=change_of_row(change) if change[0] is not None else None,
                message=(message_id, received_at, json.loads(reasons) if reasons else [])
                if message_id is not None else None, uid=uid,
            ))
        return events

    async def save_delivery(self, url: str, generation: int, cursor: int, attempts: int = 0,
                            failing_since: str | None = None, next_attempt_at: str | None = None,
                            last_error: str | None = None, disabled_reason: str | None = None) -> bool:
        """Save a receiver's progress; False (nothing saved) if a replay has happened meanwhile."""

        def work(db: sqlite3.Connection):
            return db.execute(
                "UPDATE webhook_receivers SET cursor = ?, attempts = ?, failing_since = ?, next_attempt_at = ?,"
                " last_error = ?, disabled_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END, disabled_reason = ?"
                " WHERE url = ? AND generation = ?",
                (cursor, attempts, failing_since, next_attempt_at, last_error, disabled_reason, utc_now(),
                 disabled_reason, url, generation),
            ).rowcount == 1

        return await self._write(work)

    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver:
        """Deliver again every event after `from_seq` (None: from where it is), enabled and with
        its retries reset. InvalidValue if events after `from_seq` are no longer all kept."""

        def work(db: sqlite3.Connection):
            row = db.execute("SELECT cursor FROM webhook_receivers WHERE url = ?", (url,)).fetchone()
            if row is None:
                raise NotFound("no such receiver in the database; is it in the service's config, and has the"
                               " service started with it?")
            cursor = row[0] if from_seq is None else from_seq
            newest = _newest_seq(db)
            (oldest_kept,) = db.execute("SELECT min(seq) FROM events").fetchone()
            if cursor < 0 or cursor > newest:
                raise InvalidValue(f"--from must be an event number from 0 to {newest}")
            if cursor < newest and oldest_kept is not None and cursor < oldest_kept - 1:
                raise InvalidValue(f"events up to {oldest_kept - 1} are no longer kept; replay from {oldest_kept - 1}"
                                   " or later (the change feed, /v1/changes, has every change)")
            db.execute(
                "UPDATE webhook_receivers SET cursor = ?, generation = generation + 1, attempts = 0,"
                " failing_since = NULL, next_attempt_at = NULL, last_error = NULL, disabled_at = NULL,"
                " disabled_reason = NULL WHERE url = ?",
                (cursor, url),
            )
            return Receiver(*db.execute(f"SELECT {_COLUMNS} FROM webhook_receivers WHERE url = ?", (url,)).fetchone())

        return await self._write(work)

    async def prune_events(self, before: str) -> int:
        """Remove events older than `before` that every enabled receiver has had."""

        def work(db: sqlite3.Connection):
            return db.execute(
                "DELETE FROM events WHERE at < ? AND seq <= coalesce("
                " (SELECT min(cursor) FROM webhook_receivers WHERE disabled_at IS NULL),"
                " (SELECT max(seq) FROM events))",
                (before,),
            ).rowcount

        return await self._write(work)


def _newest_seq(db: sqlite3.Connection) -> int:
    # AUTOINCREMENT keeps the highest number ever given, even once those events are pruned.
    row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return row[0] if row else 0
