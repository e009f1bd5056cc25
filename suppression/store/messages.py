"""Received mail to the request addresses: kept first, then settled by reading it or by a
person at the desk: a part of either store (part.py), written once for both."""

from functools import partial

from suppression.aside import aside
from suppression.mail_shares import StoredMail
from suppression.model import Outcome, Scope, Status, StoredMessage, utc_now
from suppression.store import writes
from suppression.store.part import Part
from suppression.store.rows import message_of_row
from suppression.store.steps import COUNT, one


def _messages_of(rows: list) -> list[StoredMessage]:
    return [message_of_row(row) for row in rows]


class Messages(Part):
    async def add_message(self, raw: bytes, mail_from: str, rcpt_to: list[str],
                          settled: tuple[str, list[str]] | None = None, origin: str | None = None,
                          network: str | None = None) -> int:
        """See Store.add_message."""
        claimed_by = self._claimed_by()
        # One into review opens an event: it takes the log's order like a change.
        message_id, added = await self._transact(
            partial(writes.add_message, self.q, raw, mail_from, rcpt_to, settled, origin, network, claimed_by),
            ordered=settled is not None and settled[0] == Status.REVIEW)
        if added:
            self.stored_mail_bytes += len(raw)
        return message_id

    async def settle_message(self, message_id: int, outcome: Outcome, keys: list[tuple[str, int]],
                             reason: str | None, source: str, actor: str,
                             counted: tuple[str, int] | None = None, campaign: str | None = None) -> int | None:
        """See Store.settle_message."""
        return self._wrote(await self._transact(partial(
            writes.settle_message, self.q, self.instance, message_id, outcome, keys, reason, source, actor, counted,
            campaign)))

    async def resolve_message(self, message_id: int, status: str, keys: list[tuple[str, int]], scope: Scope,
                              reason: str, source: str, actor: str, note: str | None) -> int | None:
        """See Store.resolve_message."""
        return self._wrote(await self._transact(partial(
            writes.resolve_message, self.q, message_id, status, keys, scope, reason, source, actor, note)))

    async def review_state(self, due_before: str) -> tuple[int, int, str | None]:
        """See Store.review_state."""
        count, overdue, oldest = (await self._read(self.q.REVIEW_STATE, (due_before,)))[0]
        return count, overdue, oldest

    async def stored_mail(self) -> StoredMail:
        """See Store.stored_mail."""
        by_network = await self._read(self.q.STORED_MAIL_BY_NETWORK)
        by_sender = await self._read(self.q.STORED_MAIL_BY_SENDER)
        return StoredMail(self.stored_mail_bytes, by_network, by_sender)

    async def unproven_budget(self, since: str, message_ids: list[int], per_network: int,
                              overall: int) -> tuple[dict[int, str | None], dict[str, int], int]:
        """See Store.unproven_budget."""
        networks = dict(await self._read(self.q.NETWORKS_OF, (message_ids,)))
        from_network = {}
        for network in sorted({network for network in networks.values() if network is not None}):
            from_network[network] = (await self._read(self.q.UNPROVEN_FROM_NETWORK, (since, network, per_network)))[0][0]
        return networks, from_network, (await self._read(self.q.UNPROVEN_FROM_ALL, (since, overall)))[0][0]

    async def sender_requests_since(self, sender: str, since: str) -> int:
        """See Store.sender_requests_since."""
        return int((await self._read(self.q.SENDER_REQUESTS_SINCE, (sender, since)))[0][0])

    async def list_messages(self, status: str | None, after: int, limit: int) -> list[StoredMessage]:
        """See Store.list_messages."""
        if status is None:
            rows = await self._read(self.q.LIST_MESSAGES, (after, limit))
        else:
            rows = await self._read(self.q.LIST_MESSAGES_OF_STATUS, (status, after, limit))
        return await aside(rows, _messages_of)  # each row's JSON: a stranger's words and addresses

    async def get_message(self, message_id: int) -> StoredMessage | None:
        """See Store.get_message."""
        rows = await self._read(self.q.GET_MESSAGE, (message_id,), whole=True)
        return message_of_row(rows[0][:-1], raw=rows[0][-1]) if rows else None

    async def claim_reply(self, email: str, day: str) -> bool:
        """See Store.claim_reply."""
        return await self._transact(partial(one, COUNT, self.q.CLAIM_REPLY, (email, day, utc_now())),
                                    ordered=False) == 1
