"""Whose stored mail is read next, and how much of it a round reads.

Read oldest first, one network's flood (a stranger's hundreds of messages from one client
network, each just under the reader's limits and 0.2 s to read) held every other request
behind it: 100 such messages delayed an honest request from another network 24 s, 250 of them
60 s (a probing helper's), where people are promised 5 s. So:

- `UnreadMail`: each round of the intake first takes the oldest unread message of every client
  network with mail waiting, one each, the networks in turn, in up to three quarters of the
  round; then the oldest of all, as before (which also reads mail stored before a restart or by
  another instance, whose network this process does not hold). A flood delays another
  network's request by one message, not by the flood.
- `Pace`: a round's batch is as long as about a second of reading, measured on the last one
  (50 at most, as before; 8 the first time): a batch is settled once it is read, so a batch of
  slow messages held the first of them until the last was read.

Only what this process stored is in turn; what it knows of the rest is the database's order.
"""

import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager


class UnreadMail:
    """The messages this process stored and has not read yet: when each came, in order, and by
    client network (None: none known) whose turn it is."""

    def __init__(self) -> None:
        self._since: dict[int, float] = {}  # message id -> when it was stored (loop time), in order
        self._waiting: OrderedDict[str | None, deque[int]] = OrderedDict()
        self._rounds = 0

    def add(self, message_id: int, network: str | None, at: float) -> None:
        if message_id not in self._since:
            self._since[message_id] = at
            self._waiting.setdefault(network, deque()).append(message_id)

    def discard(self, message_id: int) -> None:
        """It was read (in its turn, as the oldest of all, or set aside)."""
        self._since.pop(message_id, None)

    def clear(self) -> None:
        self._since.clear()
        self._waiting.clear()

    def __len__(self) -> int:
        return len(self._since)

    def oldest_since(self) -> float:
        """When the oldest of them was stored; only while there is one."""
        return next(iter(self._since.values()))

    def trail(self, now: float, last_stored: float, quiet: float, trail: float) -> float:
        """How long reading should still wait while mail keeps arriving (0: read now): until none
        has come for `quiet` seconds, but never once the oldest unread has waited `trail`."""
        if not self._since:
            return 0.0
        waited = now - self.oldest_since()
        if now - last_stored >= quiet or waited >= trail:
            return 0.0
        return min(quiet, trail - waited)

    def turns_in(self, size: int) -> list[int]:
        """The messages whose turn it is in the next round of `size`: at most three in four of
        it, so that the oldest of all are read in every round too (mail stored before a restart,
        or claimed by an instance that stopped, which no turn names: 60 networks waiting held
        them for good); in a round of one, every other round."""
        self._rounds += 1
        return self.take(size - max(1, size // 4) if size > 1 else self._rounds % 2)

    def not_pending(self, taken: list[int], read: list[int]) -> None:
        """Of the messages `taken` for a round, those the database did not give to `read` are
        read already (by another instance, or settled another way): not waiting any more."""
        for message_id in set(taken).difference(read):
            self.discard(message_id)

    def take(self, limit: int) -> list[int]:
        """The oldest unread message of each network in turn, one each and at most `limit`; a
        network served goes to the back of the line. Constant work a message, however many
        networks wait: those read by another way are let go as they come to the front."""
        taken: list[int] = []
        for _ in range(min(limit, len(self._waiting))):
            network, waiting = next(iter(self._waiting.items()))
            while waiting and waiting[0] not in self._since:
                waiting.popleft()
            if waiting:
                taken.append(waiting.popleft())
            if waiting:
                self._waiting.move_to_end(network)
            else:
                del self._waiting[network]
        return taken


class Pace:
    """How many messages the next round reads: as many as the last round read in `seconds`,
    between 1 and `most`; `first` before any was read (how long mail takes is not known yet:
    a first round of 50 slow messages held the request stored during it 10 s)."""

    def __init__(self, most: int, seconds: float = 1.0, first: int = 8) -> None:
        self.most, self.seconds, self.size = most, seconds, min(first, most)

    def read(self, count: int, seconds: float) -> None:
        """A round read `count` messages in `seconds`."""
        if count:
            self.size = max(1, min(self.most, int(count * self.seconds / max(seconds, 1e-6))))

    @contextmanager
    def timed(self, count: int) -> Iterator[None]:
        """The reading of a round of `count` messages (a round that fails says nothing)."""
        started = time.monotonic()
        yield
        self.read(count, time.monotonic() - started)
