"""The in-memory index that answers "is this address suppressed?" without the database.

Each scope (all emails, or one topic) holds the 64-bit keys of its suppressed addresses
(suppression/addresses.py) in a sorted numpy array, 8 bytes an address, plus two small sets
of keys added and removed since the array was last rebuilt. Lookups of a whole batch are
one vectorised binary search.

Each scope also keeps, apart, the keys that count for transactional mail (a bounce,
complaint or block without end: `hard`, a KeySet of its own, so that check costs what the
promotional one does) and the keys that only pauses hold, each with its end: a check compares
that end with the time it is asked at, so a pause ends with no write.

Two addresses share a key with probability about n / 2**64 (5e-13 for ten million): such an
address would read as suppressed, the safe direction for a suppression list.
"""

from dataclasses import dataclass, field

import numpy as np

from suppression.claims import HARD, NOT_SUPPRESSED, PERMANENT, milliseconds
from suppression.model import ALL_EMAILS, Scope

_EMPTY = np.empty(0, dtype=np.uint64)


class KeySet:
    """A set of unsigned 64-bit keys, compact for millions, cheap to change one at a time."""

    def __init__(self, keys: np.ndarray = _EMPTY):
        keys = np.asarray(keys, dtype=np.uint64)
        # Taken as it is when sorted (as the store loads it): np.unique on ten million keys
        # would cost hundreds of MB. Repeats are dropped only when there are any.
        keys = keys if _is_sorted(keys) else np.sort(keys)
        if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
            keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        self._base = keys
        self._buckets = _Buckets.of(keys)
        self._added: set[int] = set()
        self._removed: set[int] = set()
        self._added_array = _EMPTY
        self._removed_array = _EMPTY
        self._arrays_stale = False

    def __len__(self) -> int:
        return len(self._base) - len(self._removed) + len(self._added)

    def __contains__(self, key: int) -> bool:
        if key in self._added:
            return True
        if key in self._removed:
            return False
        return _in_sorted(self._base, key)

    def sorted_keys(self) -> np.ndarray:
        """Every key, sorted: the array with recent changes folded in."""
        if self._added or self._removed:
            self._rebuild()
        return self._base

    def add(self, key: int) -> None:
        if key in self._removed:
            self._removed.discard(key)
        elif key not in self._added and not _in_sorted(self._base, key):
            self._added.add(key)
        else:
            return
        self._changed()

    def discard(self, key: int) -> None:
        if key in self._added:
            self._added.discard(key)
        elif key not in self._removed and _in_sorted(self._base, key):
            self._removed.add(key)
        else:
            return
        self._changed()

    def contains_many(self, keys: np.ndarray) -> np.ndarray:
        """A boolean mask: which of `keys` (uint64) are in the set."""
        order = np.argsort(keys)
        found = np.empty(len(keys), dtype=bool)
        found[order] = self.contains_sorted(keys[order])
        return found

    def contains_sorted(self, ordered: np.ndarray) -> np.ndarray:
        """A boolean mask over `ordered` (sorted uint64 keys): which are in the set. The recent
        changes are searched as sorted arrays too, so a lookup costs the same whatever their
        number: the set is as fast after any history of changes as after a fresh start."""
        found = self._buckets.member(self._base, ordered) if self._buckets else _member_sorted(self._base, ordered)
        if self._arrays_stale:
            # Built when a bulk check needs them, not at every change.
            self._added_array = np.sort(np.fromiter(self._added, dtype=np.uint64, count=len(self._added)))
            self._removed_array = np.sort(np.fromiter(self._removed, dtype=np.uint64, count=len(self._removed)))
            self._arrays_stale = False
        if self._removed:
            found &= ~_member_sorted(self._removed_array, ordered)
        if self._added:
            found |= _member_sorted(self._added_array, ordered)
        return found

    def _changed(self) -> None:
        # The sets are folded into the array once they grow past a share of it, so a
        # change costs O(1) amortised and the sets stay small enough for np.isin.
        if len(self._added) + len(self._removed) > 4096 + len(self._base) // 32:
            self._rebuild()
        else:
            self._arrays_stale = True

    def _rebuild(self) -> None:
        base = self._base
        if self._removed:
            removed = np.fromiter(self._removed, dtype=np.uint64, count=len(self._removed))
            base = base[~np.isin(base, removed)]
        if self._added:
            added = np.sort(np.fromiter(self._added, dtype=np.uint64, count=len(self._added)))
            base = np.insert(base, np.searchsorted(base, added), added)
        self._base = base
        self._buckets = _Buckets.of(base)
        self._added, self._removed = set(), set()
        self._added_array = self._removed_array = _EMPTY
        self._arrays_stale = False


def _is_sorted(keys: np.ndarray) -> bool:
    return len(keys) < 2 or bool(np.all(keys[:-1] <= keys[1:]))


def _in_sorted(base: np.ndarray, key: int) -> bool:
    # The array's own method: np.searchsorted() passes through a dispatching wrapper first, and
    # this is on every single check's path (bench/README.md, "One key looked up by the array's
    # own method").
    i = int(base.searchsorted(np.uint64(key)))
    return i < len(base) and int(base[i]) == key


def _member_sorted(base: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    # Searching in key order walks the array once instead of jumping across all of it:
    # about four times faster against ten million keys than unsorted probes.
    if len(base) == 0:
        return np.zeros(len(ordered), dtype=bool)
    positions = np.searchsorted(base, ordered)
    positions[positions == len(base)] = 0
    return base[positions] == ordered


# Below this many keys the array stays in the CPU's caches and a plain binary search is as quick.
_BUCKETED_FROM = 1 << 16
_KEYS_PER_BUCKET = 32


class _Buckets:
    """Where each run of keys that share their top bits begins in a sorted array, so that a lookup
    searches its own bucket (16 to 32 keys, a few cache lines) rather than the whole array.

    A binary search over ten million keys (80 MB) misses the caches at most of its 23 steps: under
    load, beside the HTTP client, np.searchsorted took 450-620 ns a key, most of a bulk check's
    time. Keys are 64-bit hashes, so the buckets are even; searching within them, all keys at once,
    takes 40-100 ns a key (bench/README.md). 8 bytes a bucket: 4.2 MB for ten million keys, built
    with the array (63 ms for ten million, where the array is built or rebuilt anyway: at start-up,
    and when changes are folded in, itself a copy of the whole array).
    """

    def __init__(self, base: np.ndarray):
        bits = max(1, (len(base) // _KEYS_PER_BUCKET).bit_length())
        self.shift = np.uint64(64 - bits)
        offsets = np.empty((1 << bits) + 1, dtype=np.int64)
        offsets[0], offsets[-1] = 0, len(base)
        offsets[1:-1] = np.searchsorted(base, np.arange(1, 1 << bits, dtype=np.uint64) << self.shift)
        self.offsets = offsets
        self.steps = int(np.diff(offsets).max()).bit_length()  # halvings to search the fullest bucket

    @classmethod
    def of(cls, base: np.ndarray) -> "_Buckets | None":
        return cls(base) if len(base) >= _BUCKETED_FROM else None

    def member(self, base: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Which of `keys` (uint64, in any order; sorted is kinder to the caches) are in `base`."""
        # Each key's lower bound, all keys at once, by halving a window from its bucket's start
        # wide enough for the fullest bucket. Past a bucket's end lie only larger keys (the next
        # buckets'), so the window may run over it; past the array's end, probes read its last key.
        position = self.offsets[(keys >> self.shift).astype(np.intp)]
        last = len(base) - 1
        step = (1 << self.steps) >> 1
        while step:
            probe = base[np.minimum(position + (step - 1), last)]
            np.add(position, step, out=position, where=probe < keys)
            step >>= 1
        return base[np.minimum(position, last)] == keys


_NO_TIMES = np.empty(0, dtype=np.int64)


@dataclass
class ScopeRows:
    """One scope's keys as stored: lasting (no end), hard (counts for transactional mail) and
    paused (only pauses hold them), with each pause's end in milliseconds since the epoch."""

    lasting: np.ndarray = field(default_factory=lambda: _EMPTY)
    hard: np.ndarray = field(default_factory=lambda: _EMPTY)
    paused: np.ndarray = field(default_factory=lambda: _EMPTY)
    paused_until: np.ndarray = field(default_factory=lambda: _NO_TIMES)

    @staticmethod
    def of_rows(lasting: dict[str, np.ndarray], hard: list[tuple[str, int]],
                paused: list[tuple[str, int, str]]) -> dict[Scope, "ScopeRows"]:
        """From a store's reads: lasting keys by stored topic (sorted, unsigned), (topic, signed
        key) of hard rows, (topic, signed key, until) of paused rows."""
        out: dict[Scope, ScopeRows] = {Scope.of_stored(t): ScopeRows(lasting=keys) for t, keys in lasting.items()}
        hard_by: dict[str, list[int]] = {}
        for topic, key in hard:
            hard_by.setdefault(topic, []).append(key)
        for topic, keys in hard_by.items():
            out.setdefault(Scope.of_stored(topic), ScopeRows()).hard = np.sort(
                np.array(keys, dtype=np.int64).view(np.uint64))
        paused_by: dict[str, list[tuple[int, int]]] = {}
        for topic, key, until in paused:
            paused_by.setdefault(topic, []).append((key, milliseconds(until)))
        for topic, pairs in paused_by.items():
            rows = out.setdefault(Scope.of_stored(topic), ScopeRows())
            rows.paused = np.array([k for k, _ in pairs], dtype=np.int64).view(np.uint64)
            rows.paused_until = np.array([u for _, u in pairs], dtype=np.int64)
        return out


# Keys changed since the pauses were sorted, at least, before a bulk check sorts them again.
_SORTED_AGAIN_AFTER = 4096


class Paused:
    """Keys only pauses hold, with each one's end (ms): a dict for single checks, sorted arrays
    (made when a bulk check needs them) for batches, and the keys changed since they were sorted.

    Sorted again at each change, 200,000 pauses cost every bulk check after one 21-28 ms of the
    loop, 1,000,000 of them 113-119 ms (a probing helper's): the changes are now looked up in the
    batch by themselves, until there are many."""

    def __init__(self, keys: np.ndarray = _EMPTY, until: np.ndarray = _NO_TIMES):
        self.ends: dict[int, int] = dict(zip(np.asarray(keys, dtype=np.uint64).tolist(),
                                             np.asarray(until, dtype=np.int64).tolist()))
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._changed: set[int] = set()  # keys set or discarded since _arrays were sorted

    def __bool__(self) -> bool:
        return bool(self.ends)

    def set(self, key: int, until: int) -> None:
        self.ends[key] = until
        self._note_change(key)

    def discard(self, key: int) -> None:
        if self.ends.pop(key, None) is not None:
            self._note_change(key)

    def _note_change(self, key: int) -> None:
        if self._arrays is not None:
            self._changed.add(key)
            if len(self._changed) > max(_SORTED_AGAIN_AFTER, len(self.ends) // 16):
                self._arrays, self._changed = None, set()

    def holds(self, key: int, now: int) -> bool:
        return self.ends.get(key, 0) > now

    def holds_sorted(self, ordered: np.ndarray, now: int) -> np.ndarray:
        keys, ends = self._sorted()
        if len(keys) == 0:
            held = np.zeros(len(ordered), dtype=bool)
        else:
            positions = np.searchsorted(keys, ordered)
            positions[positions == len(keys)] = 0
            held = (keys[positions] == ordered) & (ends[positions] > now)
        if self._changed and len(ordered):
            changed = np.fromiter(self._changed, dtype=np.uint64, count=len(self._changed))
            first = np.searchsorted(ordered, changed)
            inside = first < len(ordered)
            changed, first = changed[inside], first[inside]
            found = ordered[first] == changed
            ends_after = np.searchsorted(ordered, changed[found], side="right")  # the batch may repeat a key
            for key, at, end in zip(changed[found].tolist(), first[found].tolist(), ends_after.tolist()):
                held[at:end] = self.ends.get(key, 0) > now
        return held

    def arrays(self, now: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(sorted keys, their ends); with `now`, only the pauses that still hold then."""
        if self._changed:
            self._arrays, self._changed = None, set()
        keys, ends = self._sorted()
        if now is None:
            return keys, ends
        holding = ends > now
        return keys[holding], ends[holding]

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """The arrays as last sorted (the keys changed since are in _changed)."""
        if self._arrays is None:
            keys = np.fromiter(self.ends.keys(), dtype=np.uint64, count=len(self.ends))
            ends = np.fromiter(self.ends.values(), dtype=np.int64, count=len(self.ends))
            order = np.argsort(keys)
            self._arrays, self._changed = (keys[order], ends[order]), set()
        return self._arrays


class SuppressionIndex:
    """Every scope's KeySets; an address is suppressed for topic T when in all emails or in T.

    Checks take `now` (ms since the epoch) for pauses; promotional checks count every key,
    transactional ones only the hard keys for all emails."""

    def __init__(self, keys_by_scope: dict[Scope, np.ndarray] | None = None,
                 rows: dict[Scope, ScopeRows] | None = None):
        self._sets: dict[Scope, KeySet] = {
            scope: KeySet(keys) for scope, keys in (keys_by_scope or {}).items()
        }
        self._hard: dict[Scope, KeySet] = {}
        self._paused: dict[Scope, Paused] = {}
        for scope, stored in (rows or {}).items():
            if len(stored.lasting):
                self._sets[scope] = KeySet(stored.lasting)
            if len(stored.hard):
                self._hard[scope] = KeySet(stored.hard)
            if len(stored.paused):
                self._paused[scope] = Paused(stored.paused, stored.paused_until)

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values()) + sum(len(p.ends) for p in self._paused.values())

    def arrays(self) -> dict[Scope, np.ndarray]:
        """Each scope's sorted lasting keys."""
        return {scope: keys.sorted_keys() for scope, keys in self._sets.items()}

    def rows(self, now: int) -> dict[Scope, ScopeRows]:
        """Everything, for a snapshot; pauses ended by `now` are left out."""
        out: dict[Scope, ScopeRows] = {scope: ScopeRows(lasting=keys.sorted_keys()) for scope, keys in self._sets.items()}
        for scope, keys in self._hard.items():
            out.setdefault(scope, ScopeRows()).hard = keys.sorted_keys()
        for scope, paused in self._paused.items():
            keys, ends = paused.arrays(now)
            if len(keys):
                rows = out.setdefault(scope, ScopeRows())
                rows.paused, rows.paused_until = keys, ends
        return out

    def size_of(self, scope: Scope) -> int:
        keys = self._sets.get(scope)
        return len(keys) if keys is not None else 0

    def add(self, scope: Scope, key: int) -> None:
        self.set_state(scope, key, PERMANENT)

    def discard(self, scope: Scope, key: int) -> None:
        self.set_state(scope, key, NOT_SUPPRESSED)

    def set_state(self, scope: Scope, key: int, state: str) -> None:
        """Make a key's standing for a scope `state` (suppression/claims.py)."""
        lasting = state in (PERMANENT, HARD)
        if lasting:
            self._sets.setdefault(scope, KeySet()).add(key)
        elif scope in self._sets:
            self._sets[scope].discard(key)
        if state == HARD:
            self._hard.setdefault(scope, KeySet()).add(key)
        elif scope in self._hard:
            self._hard[scope].discard(key)
        if state and not lasting:
            self._paused.setdefault(scope, Paused()).set(key, milliseconds(state))
        elif scope in self._paused:
            self._paused[scope].discard(key)

    def contains(self, key: int, scope: Scope, now: int = 0, transactional: bool = False) -> bool:
        """Suppressed for all emails, or for the scope's topic (transactional: hard for all emails)."""
        if transactional:
            hard = self._hard.get(ALL_EMAILS)
            return hard is not None and key in hard
        for name in (ALL_EMAILS, scope) if scope.topic is not None else (ALL_EMAILS,):
            keys = self._sets.get(name)
            if keys is not None and key in keys:
                return True
            paused = self._paused.get(name)
            if paused and paused.holds(key, now):
                return True
        return False

    def contains_many(self, keys: np.ndarray, scope: Scope, now: int = 0, transactional: bool = False) -> np.ndarray:
        """A boolean mask: which of `keys` are suppressed for all emails or for the scope's topic
        (transactional: which are hard for all emails)."""
        order = np.argsort(keys)  # sorted once for every scope's search
        ordered = keys[order]
        in_order = np.zeros(len(keys), dtype=bool)
        if transactional:
            hard = self._hard.get(ALL_EMAILS)
            if hard is not None:
                in_order |= hard.contains_sorted(ordered)
        else:
            for name in (ALL_EMAILS, scope) if scope.topic is not None else (ALL_EMAILS,):
                scoped = self._sets.get(name)
                if scoped is not None:
                    in_order |= scoped.contains_sorted(ordered)
                paused = self._paused.get(name)
                if paused:
                    in_order |= paused.holds_sorted(ordered, now)
        found = np.empty(len(keys), dtype=bool)
        found[order] = in_order
        return found
