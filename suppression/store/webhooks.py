"""The webhook outbox (migration 9): events are appended by triggers in the transaction of what
they report; receivers and their progress are kept here. A part of either store (part.py),
written once for both."""

import json
from functools import partial

from suppression.model import utc_now
from suppression.outbox import Backlog, Event, Receiver
from suppression.store import writes
from suppression.store.part import Part
from suppression.store.rows import change_of_row
from suppression.store.steps import COUNT, one


class Webhooks(Part):
    async def sync_receivers(self, urls: list[str]) -> tuple[list[str], list[str]]:
        """See Store.sync_receivers."""
        kept = {url for (url,) in await self._read(self.q.RECEIVER_URLS)}
        if kept == set(urls):
            return [], []
        return await self._transact(partial(writes.sync_receivers, self.q, urls))

    async def receiver(self, url: str) -> Receiver | None:
        """See Store.receiver."""
        rows = await self._read(self.q.RECEIVER, (url,))
        return Receiver(*rows[0]) if rows else None

    async def backlog(self, cursor: int) -> Backlog:
        """See Store.backlog."""
        count, oldest = (await self._read(self.q.BACKLOG, (cursor,)))[0]
        return Backlog(count, oldest)

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """See Store.events_after."""
        return [
            Event(seq_, type_, at, change=change_of_row(change) if change[0] is not None else None,
                  message=(message_id, received_at, json.loads(reasons) if reasons else [])
                  if message_id is not None else None, uid=uid)
            for seq_, type_, at, *change, message_id, received_at, reasons, uid
            in await self._read(self.q.EVENTS_AFTER, (seq, limit))
        ]

    async def save_delivery(self, url: str, generation: int, cursor: int, attempts: int = 0,
                            failing_since: str | None = None, next_attempt_at: str | None = None,
                            last_error: str | None = None, disabled_reason: str | None = None) -> bool:
        """See Store.save_delivery."""
        params = (cursor, attempts, failing_since, next_attempt_at, last_error, disabled_reason, utc_now(),
                  disabled_reason, url, generation)
        return await self._transact(partial(one, COUNT, self.q.SAVE_DELIVERY, params), ordered=False) == 1

    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver:
        """See Store.replay_receiver."""
        return await self._transact(partial(writes.replay_receiver, self.q, url, from_seq), ordered=False)

    async def prune_events(self, before: str) -> int:
        """See Store.prune_events."""
        return await self._transact(partial(one, COUNT, self.q.PRUNE_EVENTS, (before,)), ordered=False)
