"""Erasure and retention: replacing every trace of a person, removing raw mail, and reading
what an erasure's search goes through: a part of either store (part.py), written once for both."""

from collections.abc import Callable
from functools import partial

from suppression.claims import state_of_columns
from suppression.model import Scope, StoredMessage, Traces
from suppression.store import writes
from suppression.store.part import Part
from suppression.store.rows import last_of_page, message_of_row

PAGE_ROWS = 500  # messages read at once by an erasure's search (and bytes: its caller's bound)
_UNSIGNED = 0xFFFFFFFFFFFFFFFF


class Erasure(Part):
    async def erase(self, email: str, record: str, key: int, digest_keys: dict[str, int], traces: Traces,
                    scrub: Callable[[str | None], str | None], actor: str) -> tuple[list[Scope], int, int]:
        """See Store.erase."""
        scopes, change_id, freed = await self._transact(
            partial(writes.erase, self.q, email, record, key, digest_keys, traces, scrub, actor))
        self._wrote(change_id)
        self.stored_mail_bytes -= freed
        await self.truncate_journal()
        return scopes, change_id, freed

    async def scrub_messages(self, ids: list[int], scrub: Callable[[str | None], str | None]) -> int:
        """See Store.scrub_messages."""
        freed = await self._transact(partial(writes.scrub_messages, self.q, ids, scrub))
        self.stored_mail_bytes -= freed
        await self.truncate_journal()
        return freed

    async def erased_subject_rows(self) -> list[tuple[str, int, int, int]]:
        """See Store.erased_subject_rows."""
        rows = await self._read(self.q.ERASED_SUBJECTS)
        return [(record, key & _UNSIGNED, sha & _UNSIGNED, md5 & _UNSIGNED) for record, key, sha, md5 in rows]

    async def erased_digest_rows(self) -> list[tuple[Scope, int, int, str]]:
        """See Store.erased_digest_rows."""
        rows = await self._read(self.q.ERASED_DIGESTS)
        return [(Scope.of_stored(topic), sha & _UNSIGNED, md5 & _UNSIGNED, state_of_columns(until, bool(hard)))
                for topic, sha, md5, until, hard in rows]

    async def message_page(self, after: int, max_bytes: int) -> list[tuple[int, bytes | None, tuple]]:
        """See Store.message_page."""
        sizes = await self._read(self.q.PAGE_SIZES, (after, PAGE_ROWS))
        if not sizes:
            return []
        rows = await self._read(self.q.PAGE_MESSAGES, (after, last_of_page(sizes, max_bytes)), whole=True)
        return [(row[0], row[1], tuple(row[2:])) for row in rows]

    async def messages_by_id(self, ids: list[int]) -> list[StoredMessage]:
        """See Store.messages_by_id."""
        found = []
        for start in range(0, len(ids), PAGE_ROWS):
            rows = await self._read(self.q.MESSAGES_BY_ID, (list(ids[start:start + PAGE_ROWS]),), whole=True)
            found.extend(message_of_row(row[:-1], raw=row[-1]) for row in rows)
        return found

    async def sender_request_keys(self) -> list[str]:
        """See Store.sender_request_keys."""
        return [sender for (sender,) in await self._read(self.q.SENDER_REQUEST_KEYS)]

    async def reply_keys(self) -> list[str]:
        """See Store.reply_keys."""
        return [email for (email,) in await self._read(self.q.REPLY_KEYS)]

    async def replies_to(self, keys: list[str]) -> list[tuple[str, str]]:
        """See Store.replies_to."""
        return await self._read(self.q.REPLIES_TO, (list(keys),)) if keys else []

    async def sender_counts_of(self, senders: list[str]) -> list[tuple[str, int, int]]:
        """See Store.sender_counts_of."""
        return await self._read(self.q.SENDER_COUNTS_OF, (list(senders),)) if senders else []
