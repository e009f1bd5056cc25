"""Counting events per key in a sliding window, in memory, with bounded size."""

import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most `limit` events per key in any `seconds`; older events are forgotten."""

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def allows(self, key: str) -> bool:
        """Whether one more event for `key` stays within the limit (records nothing)."""
        events = self._events.get(key)
        if events is None:
            return True
        self._forget_old(events, self._clock())
        return len(events) < self.limit

    def record(self, key: str) -> None:
        now = self._clock()
        events = self._events.setdefault(key, deque())
        self._forget_old(events, now)
        events.append(now)
        if len(events) > self.limit:
            events.popleft()  # never more than `limit` kept per key
        if len(self._events) > 10_000:
            self._sweep(now)

    def _forget_old(self, events: deque[float], now: float) -> None:
        while events and events[0] <= now - self.seconds:
            events.popleft()

    def _sweep(self, now: float) -> None:
        # Many one-off keys (a spammer's random senders) must not grow the table for ever.
        for key in list(self._events):
            self._forget_old(self._events[key], now)
            if not self._events[key]:
                del self._events[key]
