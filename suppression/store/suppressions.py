"""The suppressions, the claims they add up to (suppression/claims.py), and the counts of
requests to come back: a part of either store (part.py), written once for both."""

from collections.abc import AsyncIterator
from functools import partial

from suppression.claims import every_claim, is_opt_out_of, is_undo_of
from suppression.model import Claim, Placed, Scope, Suppression, utc_now
from suppression.store import writes
from suppression.store.part import Part
from suppression.store.rows import claim_of_row, suppression_of_row
from suppression.store.steps import COUNT, ROW, one


class Suppressions(Part):
    async def suppress(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                       detail: str | None = None) -> tuple[Suppression, int | None]:
        """See Store.suppress."""
        placed = await self.claim(email, key, scope, reason, source, actor, detail)
        return placed.suppression, placed.change_id

    async def claim(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                    detail: str | None = None, campaign: str | None = None, until: str | None = None) -> Placed:
        """See Store.claim."""
        placed = await self._transact(partial(
            writes.claim, self.q, utc_now(), email, key, scope, reason, source, actor, detail, campaign, until))
        self._wrote(placed.change_id)
        return placed

    async def unsuppress(self, email: str, scope: Scope, source: str, actor: str,
                         only_own_made_at: str | None = None) -> int | None:
        """See Store.unsuppress."""
        lifted = every_claim if only_own_made_at is None else partial(is_undo_of, made_at=only_own_made_at)
        return self._wrote(await self._transact(
            partial(writes.lift, self.q, utc_now(), email, scope.stored, lifted, source, actor)))

    async def lift_own_opt_outs(self, email: str, reason: str, sources: tuple[str, ...], made_before: str,
                                source: str, actor: str, detail: str | None = None) -> list[tuple[Scope, int]]:
        """See Store.lift_own_opt_outs."""
        own = partial(is_opt_out_of, reason=reason, sources=sources, made_before=made_before)
        lifted = await self._transact(partial(writes.lift_all, self.q, email, own, source, actor, detail))
        for _, change_id in lifted:
            self._wrote(change_id)
        return lifted

    async def claims_of(self, email: str, free_within: float | None = None) -> list[Claim]:
        """See Store.claims_of."""
        rows = await self._read(self.q.CLAIMS_OF, (email,), free_within=free_within)
        return [claim_of_row(row) for row in rows]

    async def suppressions_of(self, email: str, free_within: float | None = None) -> list[Suppression]:
        """See Store.suppressions_of."""
        rows = await self._read(self.q.SUPPRESSIONS_OF, (email,), free_within=free_within)
        return [suppression_of_row(row) for row in rows]

    async def iter_suppressions(self, batch: int = 10_000) -> AsyncIterator[Suppression]:
        """See Store.iter_suppressions: by pages of the primary key, each its own short read. A
        cursor held open across pages (SQLite's reader connection) kept every other read on that
        connection in its snapshot: a check during a partner's first hashed check, which reads
        the whole list, missed a suppression written meanwhile."""
        after = ("", "")
        while True:
            rows = await self._read(self.q.SUPPRESSIONS_PAGE, (*after, batch))
            for row in rows:
                yield suppression_of_row(row)
            if len(rows) < batch:
                return
            after = (rows[-1][0], rows[-1][1])

    async def count(self) -> int:
        """See Store.count."""
        return (await self._read(self.q.COUNT_SUPPRESSIONS))[0][0]

    async def domain_entries(self) -> list[tuple[str, Scope, bool]]:
        """See Store.domain_entries."""
        rows = await self._read(self.q.DOMAIN_ENTRIES)
        return [(entry, Scope.of_stored(topic), bool(hard)) for entry, topic, hard in rows]

    # -- asking to come back ------------------------------------------------------------------

    async def count_return_request(self, inbox: str, day: str) -> int:
        """See Store.count_return_request."""
        (count,) = await self._transact(partial(one, ROW, self.q.COUNT_RETURN_REQUEST, (inbox, day)), ordered=False)
        return count

    async def prune_return_requests(self, before_day: str) -> int:
        """See Store.prune_return_requests."""
        return await self._transact(partial(one, COUNT, self.q.PRUNE_RETURN_REQUESTS, (before_day,)), ordered=False)

    async def return_requests_of(self, inbox: str) -> list[tuple[str, int]]:
        """See Store.return_requests_of."""
        return [tuple(row) for row in await self._read(self.q.RETURN_REQUESTS_OF, (inbox,))]
