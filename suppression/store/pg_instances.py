"""The instances sharing one PostgreSQL database: each server instance has a row in
`instances` (how far its index has followed, and a heartbeat); the CLI's writes return only once
every live instance has followed them (CONTRACT §8); stored messages and webhook receivers are
claimed by one live instance at a time, and a dead instance's claims are taken over. A
statement-level trigger NOTIFYs the newest change id; each instance LISTENs to wake what waits
for writes. A part of the PostgreSQL store (postgresql.py)."""

import asyncio
import logging

import psycopg
from psycopg import sql

from suppression.errors import StoreUnavailable
from suppression.store.dialect import POSTGRESQL as q
from suppression.store.pg_connection import CONNECT_SECONDS, UNAVAILABLE, raise_if_cancelled, reason
from suppression.store.rows import claimed_first

log = logging.getLogger("suppression.store")

CHANNEL = "suppression_changes"
ALIVE_SECONDS = 5  # an instance whose heartbeat is older is dead: its claims and leases are taken over
HEARTBEAT_SECONDS = 1
_RECOUNT_BEATS = 30  # how often (in heartbeats) the mail kept by every instance is counted again
_STALE_INSTANCE_SECONDS = 86400  # an instance not seen for this long has its row removed
_FOLLOWED_WAIT_SECONDS = 5.0  # how long the CLI waits for the instances to follow its change
_INLINE_BYTES = 256 * 1024  # pending mail at most this large comes with its claim (CLAIM_PENDING)


class Instances:
    """Needs the store's url, instance, signal, _conn, _read, _write and announce_writes."""

    async def join(self) -> None:
        """See Store.join: as a server instance, follow the others' writes (LISTEN) and keep a heartbeat."""
        self._serving = True
        await self._beat()
        self._listener = asyncio.create_task(self._listen(), name="store-listener")
        self._heartbeat = asyncio.create_task(self._keep_heartbeat(), name="store-heartbeat")

    def note_followed(self, cursor: int) -> None:
        """See Store.note_followed: told to the others at the next heartbeat."""
        if cursor > self._followed:
            self._followed = cursor
            self._followed_changed.set()

    async def pending_messages(self, limit: int, skip: list[int] | None = None,
                               first: list[int] | None = None) -> list[tuple[int, bytes, str]]:
        """See Store.pending_messages: those unclaimed, this instance's own, and those of
        instances that have stopped beating are claimed; another instance's live claims are
        skipped, so each message is handled by one."""

        async def work(conn):
            taking = {"me": self.instance, "alive": ALIVE_SECONDS, "limit": limit, "skip": list(skip or ()),
                      "inline": _INLINE_BYTES}
            taking["first"] = claimed_first(first, taking["skip"], limit)
            chosen = []
            if taking["first"]:
                # Binary: a text bytea is twice the size, and decoded on the loop (17 ms for 10 MB;
                # 50 such rows held it 0.75 s in one step).
                rows = await (await conn.execute(q.CLAIM_PENDING_OF, taking, binary=True)).fetchall()
                found = {row[0]: row for row in rows}
                chosen = [found[i] for i in taking["first"] if i in found]
            rest = []
            if len(chosen) < limit:
                taking.update(limit=limit - len(chosen), skip=taking["skip"] + [row[0] for row in chosen])
                rest = sorted(await (await conn.execute(q.CLAIM_PENDING, taking, binary=True)).fetchall())
            claimed = chosen + rest
            for at, (message_id, raw, mail_from) in enumerate(claimed):
                if raw is None:  # a large one, by itself (a turn of the loop between them)
                    (raw,) = await (await conn.execute(q.PENDING_RAW, (message_id,), binary=True)).fetchone()
                    claimed[at] = (message_id, raw, mail_from)
            return claimed

        return await self._write(work, ordered=False)

    async def lead_receiver(self, url: str) -> bool:
        """See Store.lead_receiver: one live instance delivers at a time, and a stopped one's lead
        passes to another once its heartbeat is ALIVE_SECONDS old."""
        rows = await self._read(q.LEAD_HOLDER, (url, ALIVE_SECONDS))
        if rows:
            return rows[0][0] == self.instance

        async def work(conn):
            return (await conn.execute(
                q.TAKE_LEAD, {"me": self.instance, "url": url, "alive": ALIVE_SECONDS})).rowcount == 1

        return await self._write(work, ordered=False)

    async def _beat(self) -> None:
        async with self._conn() as conn:
            await conn.execute(q.BEAT, (self.instance, self._followed))

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
                    self.stored_mail_bytes = (await self._read(q.STORED_MAIL_BYTES))[0][0]
                    await self._forget_stale_instances()
            except StoreUnavailable as exc:
                log.warning("could not record this instance's heartbeat, will try again: %s", exc)
                await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _forget_stale_instances(self) -> None:
        """Remove the rows of instances not heard from for a day (killed, never to come back: ids
        are new at each start). Their claims and leases were taken over long before, as those
        of any instance not seen for ALIVE_SECONDS."""
        async with self._conn() as conn:
            await conn.execute(q.FORGET_STALE_INSTANCES, (_STALE_INSTANCE_SECONDS,))

    async def _leave(self) -> None:
        try:
            async with self._conn() as conn:
                await conn.execute(q.LEAVE, (self.instance,))
        except StoreUnavailable:
            pass

    async def _wait_followed(self, change_id: int) -> None:
        """Until every live instance's index has applied `change_id` (the CLI, before it exits)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _FOLLOWED_WAIT_SECONDS
        behind = 0
        while loop.time() < deadline:
            try:
                (behind,) = (await self._read(q.INSTANCES_BEHIND, (change_id, ALIVE_SECONDS)))[0]
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
                    self.url, autocommit=True, connect_timeout=int(CONNECT_SECONDS))
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
            except UNAVAILABLE as exc:
                raise_if_cancelled()
                log.warning("lost the PostgreSQL notification connection, reconnecting: %s", reason(exc))
            await asyncio.sleep(1.0)
