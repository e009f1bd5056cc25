"""Counting events per key over a sliding window, in memory of a fixed bound."""

import ipaddress
import time
from collections.abc import Callable

_MAX_KEYS = 50_000  # about 10 MB; past it the least recently seen keys are forgotten


class SlidingWindow:
    """At most about `limit` events per key in any `seconds`.

    Each key keeps two counts, this window's and the previous one's, and the previous count
    is weighted by how much of it still lies inside the sliding span: a few bytes a key
    however many events, rather than one timestamp an event.
    """

    def __init__(self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = _MAX_KEYS):
        self.limit = limit
        self.seconds = seconds
        self._clock = clock
        self._max_keys = max_keys
        self._counts: dict[str, tuple[int, int, int]] = {}  # key: (window number, count, previous count)

    def allows(self, key: str, amount: int = 1) -> bool:
        """Whether `amount` more (events, or bytes) for `key` stay within the limit (records nothing)."""
        return self._estimate(key, self._clock()) < self.limit - amount + 1

    def record(self, key: str, amount: int = 1) -> None:
        now = self._clock()
        window = int(now // self.seconds)
        number, count, previous = self._counts.pop(key, (window, 0, 0))
        if number != window:
            previous, count = (count if number == window - 1 else 0), 0
        self._counts[key] = (window, count + amount, previous)  # re-inserted: most recent last
        if len(self._counts) > self._max_keys:
            del self._counts[next(iter(self._counts))]

    def _estimate(self, key: str, now: float) -> float:
        if key not in self._counts:
            return 0.0
        number, count, previous = self._counts[key]
        window = int(now // self.seconds)
        if number < window - 1:
            return 0.0
        if number == window - 1:
            previous, count = count, 0
        elapsed = (now % self.seconds) / self.seconds
        return count + previous * (1 - elapsed)


def client_network(peer) -> str | None:
    """The network a client connects from, as one sender controls it: an IPv4 /24 or an IPv6
    /56 (an ISP's customer gets a /48 to /64; one host picks any address in it). None if the
    peer is no IP address (a Unix socket, a test)."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 56
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
