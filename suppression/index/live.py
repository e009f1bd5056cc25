"""The live index: what the service knows of the list in memory, kept in step with the change log.

The index of keys (keys.py) answers for addresses; "*@DOMAIN" entries are matched by a set of
domains (DomainEntries), erased addresses by their keyed keys (ErasedAddresses), and partners'
digests by the hashed indexes (hashed.py), which take in every change it does. The
LiveIndex follows the log in order: from the change each of this process's writes returns
(before its answer), before a check when another process is known to have written (waiting at
most READ_YOUR_WRITES_SECONDS, or OTHER_WRITES_SECONDS for another instance), and every
FOLLOW_SECONDS regardless. It is saved as a snapshot (snapshot.py) on a clean stop.
"""

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from operator import itemgetter
from pathlib import Path

import numpy as np

from suppression.addresses import (
    DOMAIN_PREFIX, key_of_canonical, keys_of_forms, keys_of_hashed_block,
)
from suppression.background import cancel_and_wait, retrieve
from suppression.claims import HARD, HARD_REASONS, PERMANENT
from suppression.erasure import ErasureKeys, is_record
from suppression.errors import StoreUnavailable
from suppression.index.hashed import HashedIndexes
from suppression.index.keys import SuppressionIndex
from suppression.index.snapshot import load_snapshot, save_snapshot
from suppression.model import ALL_EMAILS, Scope, signed64
from suppression.store import Store

log = logging.getLogger(__name__)

FOLLOW_SECONDS = 0.1  # how soon writes by other processes (the CLI) reach checks
# The longest a check waits for the index to take in a write acknowledged here or by the CLI
# (read-your-writes); past it, it answers from the index as it is (counted: behind_writes).
READ_YOUR_WRITES_SECONDS = 1.0
# The longest a check waits for a change another instance announced (it answers within ms when
# the database does; a restart or failover must not hold checks).
OTHER_WRITES_SECONDS = 0.05
_FOLLOW_BATCH = 20_000
# Past this many changes since the snapshot, reading the rows is quicker than replaying.
_REPLAY_LIMIT = 1_000_000
# Past this many changes behind (or a tenth of the list), the index is read afresh from the rows.
_REBUILD_GAP = 100_000


class DomainEntries:
    """The "*@DOMAIN" entries by scope, as bytes of the domain: a few thousand at most, so a bulk
    check looks each line's domain up in a set rather than a second hashed lookup."""

    def __init__(self) -> None:
        self._domains: dict[Scope, set[bytes]] = {}
        # The entries that count for transactional mail (a block, say), by scope.
        self._hard: dict[Scope, set[bytes]] = {}
        # Per scope asked for (with all emails' entries): its domains, the width of the endings
        # compared first, and those endings; made on the first bulk check after a change.
        self._endings: dict[tuple[Scope, bool], tuple[set[bytes], int, set[bytes]]] = {}

    def __bool__(self) -> bool:
        return bool(self._domains)

    async def load(self, store: Store) -> None:
        self._domains, self._hard = {}, {}
        self._endings.clear()
        for entry, scope, hard in await store.domain_entries():
            self.note(HARD if hard else PERMANENT, entry, scope)

    def note(self, state: str, entry: str, scope: Scope) -> None:
        """An entry's standing now (suppression/claims.py): domain entries have no pauses (refused
        in suppress), so lasting, hard or gone."""
        self._endings.clear()
        domain = entry[len(DOMAIN_PREFIX):].encode("utf-8")
        for domains, holds in ((self._domains.setdefault(scope, set()), bool(state)),
                               (self._hard.setdefault(scope, set()), state == HARD)):
            if holds:
                domains.add(domain)
            else:
                domains.discard(domain)

    def matches(self, forms: list[bytes], scope: Scope, transactional: bool = False) -> np.ndarray:
        """Which lookup forms are at an entry's domain, for all emails or the scope's topic.

        Each form's last few bytes are looked up first (one C-level pass, 70 ns a line against
        165 for cutting out every domain); only the lines whose ending some entry shares are
        cut and compared exactly. That keeps the bulk check over 1M/s with 10,000 entries."""
        mask = np.zeros(len(forms), dtype=bool)
        asked = (scope, transactional)
        if asked not in self._endings:
            if transactional:
                domains = set(self._hard.get(ALL_EMAILS, ()))
            else:
                domains = self._domains.get(ALL_EMAILS, set()) | self._domains.get(scope, set())
            width = min(16, min(map(len, domains), default=1))
            self._endings[asked] = (domains, width, {domain[-width:] for domain in domains})
        domains, width, endings = self._endings[asked]
        if not domains:
            return mask
        candidates = np.fromiter(map(endings.__contains__, map(itemgetter(slice(-width, None)), forms)),
                                 dtype=bool, count=len(forms))
        for i in np.flatnonzero(candidates):
            form = forms[i]
            at = form.find(b"@")
            # One "@", after a local part: a line that is a bare domain, or no address, is not one.
            mask[i] = at > 0 and form.rfind(b"@") == at and form[at + 1:] in domains
        return mask

    def holds(self, email: str, scope: Scope, transactional: bool = False) -> bool:
        """Whether an entry holds the address's domain for the scope."""
        domain = email.rpartition("@")[2].encode("utf-8")
        if transactional:
            return domain in self._hard.get(ALL_EMAILS, ())
        return domain in self._domains.get(ALL_EMAILS, ()) or domain in self._domains.get(scope, ())


class ErasedAddresses:
    """The addresses erased so far, by their keyed hash ("erased:..."), and the keys that make it
    (suppression/erasure.py): how an erased address is stored and looked up from then on."""

    def __init__(self, keys: ErasureKeys | None) -> None:
        self.keys = keys
        # record ("erased:...") -> (keyed index key, keyed sha256 key, keyed md5 key).
        self._records: dict[str, tuple[int, int, int]] = {}
        self._index_keys: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._records)

    async def load(self, store: Store) -> None:
        rows = await store.erased_subject_rows()
        self._records = {record: (key, sha, md5) for record, key, sha, md5 in rows}
        self._index_keys = {key for key, _, _ in self._records.values()}

    def add(self, email: str, digests: dict[str, int]) -> None:
        """An address erased by this process: stored as its record from now on."""
        key = self.keys.index_key(email)
        self._records[self.keys.record(email)] = (key, digests["sha256"], digests["md5"])
        self._index_keys.add(key)

    def stored(self, email: str) -> tuple[str, int]:
        """How an address is kept and looked up: itself and its key, or if it was erased, its
        keyed hash and keyed key."""
        if self._records:
            keyed = self.keys.index_key(email)
            if keyed in self._index_keys:
                return self.keys.record(email), keyed
        return email, key_of_canonical(email)

    def not_erased(self, rows: Iterable, on_erased: Callable[[int], None]):
        """Import rows, but of an erased address only a bounce, complaint or block (as its keyed
        hash: an import never brings the address back); its other rows are told to `on_erased`
        (their line) and left. Importing an erased address again changes nothing (CONTRACT §7):
        a row for all emails had suppressed for all emails one erased while suppressed for a
        topic only. A provider's new bounce is news, and mailing a dead address is never right."""
        for row in rows:
            if self._records:
                stored, key = self.stored(row.email)
                if stored != row.email:
                    if row.reason not in HARD_REASONS:
                        on_erased(row.line)
                        continue
                    row = dataclasses.replace(row, email=stored, key=signed64(key))
            yield row

    def keys_of_record(self, record: str) -> tuple[int, dict[str, int]]:
        """The index key and digest keys of an erased record."""
        key, sha256_key, md5_key = self._records.get(record, (0, 0, 0))
        return key, {"sha256": sha256_key, "md5": md5_key}


class LiveIndex:
    """The index of keys, the domain entries and the erased addresses, following the change log.

    open() reads the domain entries and erased addresses (every process needs them to store an
    address as it is stored); start() loads the index itself and follows the log (servers)."""

    def __init__(self, store: Store, snapshot_path: Path, clock: Callable[[], datetime]):
        self.store = store
        self.clock = clock
        self.index: SuppressionIndex | None = None
        self.domains = DomainEntries()
        self.erased = ErasedAddresses(None)  # none until open() reads them, with the keys from data_dir
        self.database_id = ""
        # Checks answered from memory without waiting longer: "behind_writes" (the index had not
        # taken in an acknowledged write within READ_YOUR_WRITES_SECONDS), "behind_other_instances"
        # (nor another instance's announced change within OTHER_WRITES_SECONDS), "without_details".
        self.answered_early: Counter[str] = Counter()
        self.cursor = 0  # the last change id the index reflects
        self._seen_signal = -1  # the shared change word when the index last caught up with it
        self._catching_up: asyncio.Task | None = None  # the index following a write a check must see
        self._catching_up_to = 0
        self._follow_lock = asyncio.Lock()
        self._follower: asyncio.Task | None = None
        self._snapshot_path = snapshot_path
        self._snapshotting: asyncio.Task | None = None
        self._keeps_snapshot = True
        self.hashed = HashedIndexes(store, self._follow_lock, lambda: self.cursor, lambda: self.erased)

    def size(self) -> int:
        """Suppressions in the index (none before start(), nor in the CLI, which has no index)."""
        return len(self.index) if self.index is not None else 0

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    async def open(self, keys: ErasureKeys) -> None:
        self.erased = ErasedAddresses(keys)
        await self.erased.load(self.store)
        await self.domains.load(self.store)

    async def start(self, keeps_snapshot: bool = True, mapped: bool = False) -> None:
        """Load the index from the snapshot and the changes since, if it fits this database;
        else from the rows. Then follow the log. Without `keeps_snapshot` (a worker beside the
        first process, which keeps it) the snapshot is only read. `mapped`: its keys mapped from
        the file, shared with the instance's other processes, rather than read into this one."""
        self._keeps_snapshot = keeps_snapshot
        if keeps_snapshot:
            await self.store.reset_signal()  # a database restored from a backup may be behind it
        started = time.monotonic()
        self.database_id, newest = await self.store.identity()
        snapshot = await asyncio.to_thread(load_snapshot, self._snapshot_path, self.database_id, newest, mapped)
        if snapshot is not None and newest - snapshot[0] <= _REPLAY_LIMIT:
            self.cursor, keys = snapshot
            source = "snapshot"
        else:
            self.cursor, keys = await self.store.load_index()
            source = "rows"
        self.index = SuppressionIndex(rows=keys)
        await self.follow_changes()  # what happened since the snapshot
        log.info("index loaded from %s: %d suppressions in %.2f s", source, len(self.index), time.monotonic() - started)
        if source == "rows" and keeps_snapshot:
            # So the next start is quick even if this process is killed.
            self._snapshotting = asyncio.create_task(self.save_snapshot())
        self.store.note_followed(self.cursor)
        await self.store.join()  # shared stores: heard of the others' writes, and heard from
        self._follower = asyncio.create_task(self._follow(), name="index-follower")

    async def stop(self) -> None:
        await cancel_and_wait(self._catching_up)
        await self.hashed.stop()
        await cancel_and_wait(self._follower)
        self._follower = None
        if self._snapshotting is not None:
            await self._snapshotting
        if self.index is not None:
            try:
                await self.follow_changes()
            except Exception:
                # The snapshot is consistent at whatever change it has reached.
                log.warning("could not read the last changes before saving the index snapshot")
            await self.save_snapshot()

    async def snapshot_written(self) -> None:
        """Until the snapshot this start wrote is on disk, if it wrote one (after reading the rows)."""
        if self._snapshotting is not None:
            await self._snapshotting

    async def save_snapshot(self) -> None:
        if self.index is None or not self._keeps_snapshot:
            return
        arrays, cursor = self.index.rows(self._now_ms()), self.cursor
        try:
            await asyncio.to_thread(save_snapshot, self._snapshot_path, self.database_id, cursor, arrays)
        except OSError as exc:
            log.warning("could not write the index snapshot (start-up will read the rows): %s", exc)

    # -- lookups ----------------------------------------------------------------------------

    def stored_keys(self, addresses) -> list[tuple[str, int]]:
        """(stored form, key) of each address, as suppressing them would store it."""
        return [self.erased.stored(address) for address in addresses]

    def contains(self, email: str, key: int, scope: Scope, transactional: bool = False) -> bool:
        """Whether an address (by its stored key) or its domain is suppressed for the scope now."""
        return (self._index().contains(key, scope, self._now_ms(), transactional)
                or self.domains.holds(email, scope, transactional))

    def matching(self, forms: list[bytes], scope: Scope, transactional: bool = False) -> np.ndarray:
        """Which lookup forms are suppressed: by their key, their domain, or, once anyone was
        erased, their keyed key."""
        index, now = self._index(), self._now_ms()
        mask = index.contains_many(keys_of_forms(forms), scope, now, transactional)
        if self.domains:
            mask |= self.domains.matches(forms, scope, transactional)
        if self.erased:
            mask |= index.contains_many(self.erased.keys.index_keys(forms), scope, now, transactional)
        return mask

    async def matching_digests(self, block: bytes, algorithm: str, scope: Scope,
                               transactional: bool = False) -> tuple[list[bytes], np.ndarray]:
        """The lines of a block of hex digests (of `algorithm`, one of HASHES) and which of them
        are suppressed: by the list's digests, or, once anyone was erased, their keyed key."""
        index, now = await self.hashed.of(algorithm), self._now_ms()
        lines, keys, valid = keys_of_hashed_block(block, algorithm)
        mask = index.contains_many(keys, scope, now, transactional)
        if self.erased:
            keyed = np.fromiter(
                (self.erased.keys.digest_key(algorithm, bytes.fromhex(lines[i].strip().decode())) if ok else 0
                 for i, ok in enumerate(valid)), dtype=np.uint64, count=len(lines))
            mask |= index.contains_many(keyed, scope, now, transactional)
        return lines, mask & valid

    def _index(self) -> SuppressionIndex:
        if self.index is None:
            raise RuntimeError("bulk checks need the index: start(with_index=True)")
        return self.index

    # -- following the log ------------------------------------------------------------------

    async def see_writes(self) -> None:
        """Bring the index up to every write acknowledged so far by this process or the CLI (the
        store's signal: a read of memory, no query, when there is none). Every check starts with
        it; it waits at most READ_YOUR_WRITES_SECONDS, then the check answers with what the index
        holds (counted), so a database that does not answer never holds a check for longer."""
        unseen = self._unseen() if self.index is not None else None
        if unseen is None:
            return
        newest, own = unseen
        catching_up = self._catch_up_to(newest)
        await asyncio.wait({catching_up}, timeout=READ_YOUR_WRITES_SECONDS if own else OTHER_WRITES_SECONDS)
        if catching_up.done() and not catching_up.cancelled():
            failure = catching_up.exception()
            if failure is not None and not isinstance(failure, StoreUnavailable):
                raise failure
        if self.cursor < newest and newest > self._seen_signal:
            self.answered_early["behind_writes" if own else "behind_other_instances"] += 1

    def up_to_date(self) -> bool:
        """Whether the index has followed every write acknowledged so far (see_writes() would not wait)."""
        return self.index is not None and self._unseen() is None

    def _unseen(self) -> tuple[int, bool] | None:
        """The newest write acknowledged that the index has not followed, and whether it is this
        process's own (or the CLI's) rather than another instance's; None if there is none."""
        published = self.store.signal.read()
        own = published > self.cursor and published != self._seen_signal
        heard = self.store.signal.heard()
        others = heard > self.cursor and heard > self._seen_signal
        if not (own or others):
            return None
        return (max(published, heard) if others else published), own

    def _catch_up_to(self, published: int) -> asyncio.Task:
        """The index following the log up to `published`, in a task of its own: a check that stops
        waiting for it does not stop it, and checks arriving meanwhile share it."""
        task = self._catching_up
        if task is None or task.done() or self._catching_up_to < published:
            task = asyncio.create_task(self._catch_up(published), name="index-catch-up")
            task.add_done_callback(retrieve)
            self._catching_up, self._catching_up_to = task, published
        return task

    async def _catch_up(self, published: int) -> None:
        await self.follow_changes(upto=published)
        self._seen_signal = max(self._seen_signal, published)
        self.store.note_followed(self.cursor)

    async def took(self, change_id: int | None, written: tuple[str, str, Scope] | None = None) -> None:
        """Take in the change one of this process's writes returned, before its answer (so any
        check after it sees it). With what was `written` (state, stored address, scope), and when
        it is the next change in the log (as it is, unless another process wrote meanwhile: ids
        are consecutive), without reading it back; else by following the log up to it."""
        if change_id is None:
            return
        if (written is not None and self.index is not None and change_id == self.cursor + 1
                and not self._follow_lock.locked()):
            self._apply_change(change_id, *written)
            return
        await self.follow_changes(upto=change_id)

    async def follow_changes(self, upto: int | None = None) -> None:
        """Apply every change logged since the index's cursor, in order.

        With `upto`, return at once if the index is there already: concurrent writers
        then share one read of the log instead of one each.
        """
        if self.index is None:
            return
        async with self._follow_lock:
            if upto is not None and self.cursor >= upto:
                return
            if upto is None:
                upto = await self.store.newest_change()
            while True:
                if upto - self.cursor > max(_REBUILD_GAP, len(self.index) // 10):
                    # A big import: reading every row's stored key (0.5 µs a row) beats replaying
                    # each change (5 µs), and leaves the index in the shape of a fresh start.
                    await self._reload_from_rows()
                    return
                batch = await self.store.index_changes_after(self.cursor, _FOLLOW_BATCH)
                for change_id, action, email, scope, state in batch:
                    if change_id <= self.cursor:
                        continue  # read with the rows already, after an erasure in this batch
                    if action == "erase":
                        # An address became its keyed hash: its rows are read afresh (erasures are rare).
                        await self._reload_from_rows()
                        self.cursor = max(self.cursor, change_id)
                        continue
                    self._apply_change(change_id, state, email, scope)
                if len(batch) < _FOLLOW_BATCH:
                    return
                upto = max(upto, await self.store.newest_change())  # a big write may have landed meanwhile

    def _apply_change(self, change_id: int, state: str, email: str, scope: Scope) -> None:
        """Put the standing one change of the log left (suppression/claims.py) into the index."""
        if email.startswith(DOMAIN_PREFIX):
            # Matched by the domain sets, never by key: kept out of the index, whose set of
            # keys added since its last rebuild every bulk lookup pays for.
            self.domains.note(state, email, scope)
        else:
            key = self.erased.keys_of_record(email)[0] if is_record(email) else key_of_canonical(email)
            self.index.set_state(scope, key, state)
            self.hashed.set_state(scope, email, state)
        self.cursor = max(self.cursor, change_id)

    async def _reload_from_rows(self) -> None:
        await self.erased.load(self.store)
        await self.domains.load(self.store)
        self.cursor, keys = await self.store.load_index()
        self.index = SuppressionIndex(rows=keys)
        self.hashed.forget()  # rebuilt on the next hashed check

    async def _follow(self) -> None:
        failing = False  # said once when it starts and once when it ends, not ten times a second
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                before = self.cursor
                await self.follow_changes()  # the newest change, whoever wrote it
                self.store.note_followed(self.cursor)
                if self.cursor != before:
                    self.store.announce_writes()  # another process (the CLI) wrote: wake the outbox
            except StoreUnavailable as exc:
                if not failing:
                    log.warning("cannot read the change log now; checks are answered from memory meanwhile: %s", exc)
                failing = True
                continue
            except Exception:
                # A locked or busy database now is no reason to stop following for good.
                log.exception("could not read the change log; will try again")
                continue
            if failing:
                log.info("the change log can be read again")
                failing = False
