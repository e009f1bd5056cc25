"""The change log (what the index and the feed follow), and the campaigns and statistics counted
from it: a part of either store (part.py), written once for both."""

from functools import partial

import numpy as np

from suppression.aside import aside
from suppression.claims import state_of_legacy
from suppression.index import ScopeRows
from suppression.model import Change, Scope, utc_now
from suppression.store.part import Part
from suppression.store.rows import change_of_row
from suppression.store.steps import COUNT, one


def _changes_of(rows: list) -> list[Change]:
    return [change_of_row(row) for row in rows]


class ChangeLog(Part):
    async def changes_after(self, after: int, limit: int) -> list[Change]:
        """See Store.changes_after."""
        return await aside(await self._read(self.q.CHANGES_AFTER, (after, limit)), _changes_of)

    async def changes_of(self, email: str) -> list[Change]:
        """See Store.changes_of."""
        return await aside(await self._read(self.q.CHANGES_OF, (email,)), _changes_of)

    async def index_changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, Scope, str]]:
        """See Store.index_changes_after."""
        rows = await self._read(self.q.INDEX_CHANGES_AFTER, (after, limit))
        return [(change_id, action, email, Scope.of_stored(topic), state_of_legacy(action, reason) if state is None
                 else state) for change_id, action, email, topic, state, reason in rows]

    async def change_counts_after(self, after: int) -> list[tuple[str, str, int, int]]:
        """See Store.change_counts_after."""
        return await self._read(self.q.CHANGE_COUNTS_AFTER, (after,))

    async def newest_change(self) -> int:
        """See Store.newest_change."""
        return (await self._read(self.q.NEWEST_CHANGE))[0][0]

    async def identity(self) -> tuple[str, int]:
        """See Store.identity."""
        (database_id,) = (await self._read(self.q.DATABASE_ID))[0]
        return database_id, await self.newest_change()

    async def load_index_keys(self) -> tuple[int, dict[Scope, np.ndarray]]:
        """See Store.load_index_keys."""
        cursor, rows = await self.load_index()
        return cursor, {scope: keys.lasting for scope, keys in rows.items() if len(keys.lasting)}

    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        raise NotImplementedError  # each store reads millions of keys its own way

    # -- campaigns and statistics ---------------------------------------------------------------

    async def record_sent(self, campaign: str, sent: int) -> None:
        """See Store.record_sent."""

        at = utc_now()
        await self._transact(partial(one, COUNT, self.q.RECORD_SENT, (campaign, sent, at, at)), ordered=False)

    async def daily_counts(self, first: str, last: str, by: tuple[str, ...]) -> list[tuple]:
        """See Store.daily_counts."""
        return await self._read(self.q.counts(by), (first, last))

    async def campaign_counts(self, first: str, last: str, after_last: str) -> list[tuple[str, int, int, int | None]]:
        """See Store.campaign_counts."""
        return await self._read(self.q.CAMPAIGN_COUNTS, (first, last, first, after_last))

    async def desk_days(self, days: list[tuple[str, str, str]]) -> list[tuple[str, int, int, int]]:
        """See Store.desk_days."""
        params = [value for day in days for value in day] + [days[0][0], days[-1][1]]
        return await self._read(self.q.desk_days(len(days)), params)
