"""The API keys this service honours: created, listed, revoked, and a presented key checked.

A check must not wait on the database (a restart, a failover), so a key once read is honoured
from memory (suppression/apikeys.py's RecentKeys) and read again beside the answers every
_KEY_CACHE_SECONDS: a key revoked on another instance is refused once that read sees it gone,
one revoked here from the next request on. The secret itself is compared in suppression/apikeys.py.
"""

import asyncio
import time

from suppression.apikeys import ROLES, ApiKey, RecentKeys, mint_api_key, split_api_key
from suppression.background import cancel_and_wait
from suppression.errors import InvalidValue, NotFound, StoreUnavailable
from suppression.store import Store

_KEY_CACHE_SECONDS = 30.0  # how long a revoked key may still be honoured


class KeyRing:
    def __init__(self, store: Store):
        self.store = store
        self._api_keys = RecentKeys()
        self._rereading: dict[str, asyncio.Task] = {}  # key ids being read again beside the answers

    async def stop(self) -> None:
        for task in list(self._rereading.values()):
            await cancel_and_wait(task)

    async def create_api_key(self, name: str, role: str) -> str:
        """Create a key and return it in full: the only time it is ever shown."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidValue("a key name must be 1 to 100 characters")
        if role not in ROLES:  # "scope": the CLI's word for it
            raise InvalidValue(f"unknown scope {role!r} (one of: {', '.join(ROLES)})")
        full, key_id, secret_hash = mint_api_key()
        await self.store.add_api_key(ApiKey(key_id, name, role, secret_hash))
        return full

    async def revoke_api_key(self, name: str) -> None:
        if not await self.store.revoke_api_key(name):
            raise NotFound(f"no active API key named {name!r}")
        self._api_keys.forget_name(name)  # revoked here: refused from the next request on

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The key a bearer token names, if it is one of ours and not revoked."""
        recent = self.recent(presented)
        if recent is not None:
            return recent
        now = time.monotonic()
        parts = split_api_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        read_at = self._api_keys.read_at(key_id)
        if read_at is None:
            key = await self.store.find_api_key(key_id)
            if key is None:
                return None
            self._api_keys.put(key, now)
        elif now - read_at >= _KEY_CACHE_SECONDS:
            # Read again beside the answer, not before it: a check must not wait on the
            # database (a restart, a failover); a revoked key is refused once it is read.
            self._reread_key(key_id)
        return self._api_keys.verified(key_id, secret, presented)

    def recent(self, presented: str) -> ApiKey | None:
        """The key, if this exact text verified against a row read within _KEY_CACHE_SECONDS: no
        hashing, no wait. None: authenticate() must be awaited."""
        return self._api_keys.recent(presented, time.monotonic() - _KEY_CACHE_SECONDS)

    def _reread_key(self, key_id: str) -> None:
        if key_id in self._rereading:
            return
        task = asyncio.create_task(self._reread(key_id), name="api-key-reread")
        self._rereading[key_id] = task
        task.add_done_callback(lambda _: self._rereading.pop(key_id, None))

    async def _reread(self, key_id: str) -> None:
        try:
            key = await self.store.find_api_key(key_id)
        except StoreUnavailable:
            return  # the cached key goes on serving; read again at its next use
        if key is None:  # revoked or gone: refused from the next request on
            self._api_keys.forget(key_id)
        else:
            self._api_keys.put(key, time.monotonic())
