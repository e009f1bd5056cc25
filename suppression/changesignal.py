"""A shared word that tells every process of one data_dir how far the change log has got.

After each commit the store's writer (in the service or the CLI) raises it to the newest
change id, under a lock, before anyone is answered; a check compares it with what its index
has followed, which costs a read of mapped memory, not a query. So a check that starts after
a write was acknowledged, in any process, sees that write (CONTRACT §8).
"""

import fcntl
import mmap
import os
import struct
from collections.abc import Callable
from pathlib import Path

from suppression.datadir import FILE_MODE

SIGNAL_NAME = "changes.signal"
_WORD = struct.Struct("<Q")


class ChangeSignal:
    def __init__(self, path: Path):
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            if os.fstat(fd).st_size < _WORD.size:
                os.ftruncate(fd, _WORD.size)
            self._map = mmap.mmap(fd, _WORD.size)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def read(self) -> int:
        return _WORD.unpack_from(self._map, 0)[0]

    def heard(self) -> int:
        return 0  # one SQLite file, one instance: every writer publishes to the word itself

    def publish(self, newest: int) -> None:
        """Raise the word to `newest` (never lower it: another process may be further)."""
        with self._locked():
            if newest > self.read():
                _WORD.pack_into(self._map, 0, newest)

    def reset(self, newest: Callable[[], int]) -> None:
        """Set the word to what the database holds (a restored backup may be behind the word);
        `newest` is read while the lock is held, so no writer's raise is lost."""
        with self._locked():
            _WORD.pack_into(self._map, 0, newest())

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)

    def _locked(self):
        return _FileLock(self._fd)


class _FileLock:
    def __init__(self, fd: int):
        self.fd = fd

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class FollowedSignal:
    """The same word for a store shared over the network (PostgreSQL): kept in this process and
    raised by its own commits only. The CLI waits until every instance has followed its change
    before it exits; other instances' changes reach the index by the follower, within a second.

    An instance of several processes ([http] workers) also shares the word of its data_dir, as
    on SQLite: a write one of them acknowledged is seen by the next check on any of them."""

    def __init__(self):
        self._newest = 0
        self._heard = 0
        self._shared: ChangeSignal | None = None

    def share(self, word: ChangeSignal) -> None:
        self._shared = word

    def read(self) -> int:
        return self._newest if self._shared is None else max(self._newest, self._shared.read())

    def heard(self) -> int:
        return self._heard

    def hear(self, newest: int) -> None:
        """Another instance committed up to `newest` (its NOTIFY)."""
        self._heard = max(self._heard, newest)

    def raise_to(self, newest: int) -> None:
        self._newest = max(self._newest, newest)
        if self._shared is not None:
            self._shared.publish(newest)

    def reset(self, newest: int) -> None:
        self._newest = newest
        if self._shared is not None:
            self._shared.reset(lambda: newest)

    def close(self) -> None:
        if self._shared is not None:
            self._shared.close()
            self._shared = None
