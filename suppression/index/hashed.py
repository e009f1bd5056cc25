"""The list's digests, for partners who check SHA-256 or MD5 digests of addresses instead of the
addresses: an index an algorithm, built from the rows on a partner's first hashed check, then
kept in step with every change the live index (live.py) takes in."""

import asyncio
from collections.abc import Callable

from suppression.addresses import DOMAIN_PREFIX, HASHES, hashed_key
from suppression.background import cancel_and_wait, retrieve
from suppression.claims import state_of
from suppression.erasure import is_record
from suppression.errors import InvalidValue
from suppression.index.keys import SuppressionIndex
from suppression.model import Scope
from suppression.store import Store

HASHED_PAGE = 1_000  # rows read at once to build a hashed index
_REPLAY_BATCH = 20_000  # changes read at once to bring a new one up to the live index


class HashedIndexes:
    """The built indexes, and those being built. `lock` is the one the live index follows the log
    under, `cursor()` the last change it took in, `erased()` the erased addresses it knows."""

    def __init__(self, store: Store, lock: asyncio.Lock, cursor: Callable[[], int], erased: Callable):
        self.store = store
        self._lock, self._cursor, self._erased = lock, cursor, erased
        self._built: dict[str, SuppressionIndex] = {}
        self._building: dict[str, asyncio.Task] = {}  # shared by the checks waiting for it
        self._forgotten = 0  # times the live index was read afresh from the rows: a build begun before is stale

    async def of(self, algorithm: str) -> SuppressionIndex:
        """The index of `algorithm` (one of HASHES), built now if it is not yet."""
        if algorithm not in HASHES:
            raise InvalidValue(f"unknown hash {algorithm[:16]!r} (one of: {', '.join(HASHES)})")
        while algorithm not in self._built:
            building = self._building.get(algorithm)
            if building is None:
                building = self._building[algorithm] = asyncio.create_task(
                    self._build(algorithm), name=f"hashed-index-{algorithm}")
                building.add_done_callback(lambda _: self._building.pop(algorithm, None))
                building.add_done_callback(retrieve)  # failed with none of its checks still waiting
            await asyncio.shield(building)  # a check that gives up does not stop the build others wait for
        return self._built[algorithm]

    def set_state(self, scope: Scope, email: str, state: str) -> None:
        """Take in one change of the log (an address, or an erased one's record) in every built index."""
        digests = self._digests_of(email, self._built)
        for algorithm, hashed in self._built.items():
            hashed.set_state(scope, digests[algorithm], state)

    def forget(self) -> None:
        """The live index was read afresh from the rows: each is built again on its next check."""
        self._built.clear()
        self._forgotten += 1

    async def stop(self) -> None:
        for building in list(self._building.values()):
            await cancel_and_wait(building)

    async def _build(self, algorithm: str) -> None:
        """Read the rows into a new index beside the live index's follower, not under its lock:
        under it, every write and every check after one waited for the whole build (7-10 s a
        million rows). The changes the live index took in meanwhile are then read from the
        log into it; a reload from the rows meanwhile (an erasure, a large import) means reading again."""
        while True:
            forgotten, since = self._forgotten, self._cursor()
            hashed = SuppressionIndex()
            # In pages of HASHED_PAGE rows, each a few milliseconds of the loop: the store's
            # default of 10,000 was 70-100 ms of it at a time.
            async for row in self.store.iter_suppressions(batch=HASHED_PAGE):
                # Partners send digests of addresses: neither erased records nor domain entries match one.
                if not is_record(row.email) and not row.email.startswith(DOMAIN_PREFIX):
                    hashed.set_state(row.scope, hashed_key(row.email, algorithm), state_of(row))
            for scope, sha256_key, md5_key, state in await self.store.erased_digest_rows():
                hashed.set_state(scope, sha256_key if algorithm == "sha256" else md5_key, state)
            async with self._lock:
                while since < self._cursor() and self._forgotten == forgotten:
                    batch = await self.store.index_changes_after(since, _REPLAY_BATCH)
                    for change_id, _, email, scope, state in batch:
                        if change_id <= self._cursor() and not email.startswith(DOMAIN_PREFIX):
                            hashed.set_state(scope, self._digests_of(email, (algorithm,))[algorithm], state)
                    since = batch[-1][0] if batch else self._cursor()
                if self._forgotten == forgotten:
                    self._built[algorithm] = hashed
                    return

    def _digests_of(self, email: str, algorithms) -> dict[str, int]:
        if is_record(email):
            return self._erased().keys_of_record(email)[1]
        return {name: hashed_key(email, name) for name in algorithms}
