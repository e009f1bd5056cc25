"""API keys (suppression/apikeys.py mints and checks them; only hashes are stored): a part of
either store (part.py), written once for both."""

from functools import partial

from suppression.apikeys import ApiKey
from suppression.model import utc_now
from suppression.store import writes
from suppression.store.part import Part
from suppression.store.steps import COUNT, one


class ApiKeys(Part):
    unique_violation: type[Exception]  # the driver's error for a duplicate key

    async def add_api_key(self, key: ApiKey) -> None:
        """See Store.add_api_key."""

        await self._transact(partial(writes.add_api_key, self.q, key.key_id, key.name, key.role, key.secret_hash,
                                     self.unique_violation), ordered=False)

    async def find_api_key(self, key_id: str) -> ApiKey | None:
        """See Store.find_api_key."""
        rows = await self._read(self.q.FIND_API_KEY, (key_id,))
        return ApiKey(*rows[0]) if rows else None

    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]:
        """See Store.list_api_keys."""
        return await self._read(self.q.LIST_API_KEYS)

    async def revoke_api_key(self, name: str) -> bool:
        """See Store.revoke_api_key."""
        return await self._transact(partial(one, COUNT, self.q.REVOKE_API_KEY, (utc_now(), name)), ordered=False) > 0
