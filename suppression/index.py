"""The in-memory index that answers "is this address suppressed?" without the database.

Each scope (all emails, or one topic) holds the 64-bit keys of its suppressed addresses
(suppression/addresses.py) in a sorted numpy array, 8 bytes an address, plus two small sets
of keys added and removed since the array was last rebuilt. Lookups of a whole batch are
one vectorised binary search.

Two addresses share a key with probability about n / 2**64 (5e-13 for ten million): such an
address would read as suppressed, the safe direction for a suppression list.
"""

import numpy as np

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
        found = _member_sorted(self._base, ordered)
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
        self._added, self._removed = set(), set()
        self._added_array = self._removed_array = _EMPTY
        self._arrays_stale = False


def _is_sorted(keys: np.ndarray) -> bool:
    return len(keys) < 2 or bool(np.all(keys[:-1] <= keys[1:]))


def _in_sorted(base: np.ndarray, key: int) -> bool:
    i = int(np.searchsorted(base, np.uint64(key)))
    return i < len(base) and int(base[i]) == key


def _member_sorted(base: np.ndarray, ordered: np.ndarray) -> np.ndarray:
    # Searching in key order walks the array once instead of jumping across all of it:
    # about four times faster against ten million keys than unsorted probes.
    if len(base) == 0:
        return np.zeros(len(ordered), dtype=bool)
    positions = np.searchsorted(base, ordered)
    positions[positions == len(base)] = 0
    return base[positions] == ordered


class SuppressionIndex:
    """Every scope's KeySet; an address is suppressed for topic T when in all emails or in T."""

    def __init__(self, keys_by_scope: dict[Scope, np.ndarray] | None = None):
        self._sets: dict[Scope, KeySet] = {
            scope: KeySet(keys) for scope, keys in (keys_by_scope or {}).items()
        }

    def __len__(self) -> int:
        return sum(len(s) for s in self._sets.values())

    def arrays(self) -> dict[Scope, np.ndarray]:
        """Each scope's sorted keys, for a snapshot."""
        return {scope: keys.sorted_keys() for scope, keys in self._sets.items()}

    def size_of(self, scope: Scope) -> int:
        keys = self._sets.get(scope)
        return len(keys) if keys is not None else 0

    def add(self, scope: Scope, key: int) -> None:
        self._sets.setdefault(scope, KeySet()).add(key)

    def discard(self, scope: Scope, key: int) -> None:
        keys = self._sets.get(scope)
        if keys is not None:
            keys.discard(key)

    def contains(self, key: int, scope: Scope) -> bool:
        """Suppressed for all emails, or for the scope's topic."""
        everything = self._sets.get(ALL_EMAILS)
        if everything is not None and key in everything:
            return True
        if scope.topic is None:
            return False
        scoped = self._sets.get(scope)
        return scoped is not None and key in scoped

    def contains_many(self, keys: np.ndarray, scope: Scope) -> np.ndarray:
        """A boolean mask: which of `keys` are suppressed for all emails or for the scope's topic."""
        order = np.argsort(keys)  # sorted once for every scope's search
        ordered = keys[order]
        in_order = np.zeros(len(keys), dtype=bool)
        for name in (ALL_EMAILS, scope) if scope.topic is not None else (ALL_EMAILS,):
            scoped = self._sets.get(name)
            if scoped is not None:
                in_order |= scoped.contains_sorted(ordered)
        found = np.empty(len(keys), dtype=bool)
        found[order] = in_order
        return found
