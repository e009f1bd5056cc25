"""Counting events per key over a sliding window, in memory of a fixed bound."""

import ipaddress
import re
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
    address = _address_of(peer)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 56
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


# The first IP literal of a Received header's "from" clause (RFC 5321 4.4: "from" domain, then
# in parentheses the TCP-info the receiving server saw, "[192.0.2.1]" or "[IPv6:2001:db8::1]").
_RECEIVED_FROM = re.compile(rb"^\s*from\s[^\[]{0,1000}?\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]", re.IGNORECASE)
_HEADERS_READ = 64 * 1024  # the topmost Received is near the top; a longer head is not read further


def sending_network(peer, raw: bytes, relays: "list[ipaddress._BaseNetwork]") -> str | None:
    """The network a message came from (client_network): its client's; for a client among
    `relays` (mail servers that relay mail here), the first one its Received headers name, from
    the top, that is not itself a relay; None if they name none (the overall budgets still
    apply). A relay's header is above the one it received: below the last relay's, they are
    anyone's to write, and only the first of those is read."""
    address = _address_of(peer)
    if address is None or not any(address in relay for relay in relays):
        return client_network(peer)
    for received in _received_headers(raw[:_HEADERS_READ]):
        found = _RECEIVED_FROM.match(received)
        sender = _address_of(found.group(1).decode("ascii")) if found else None
        if sender is None:
            return None
        if not any(sender in relay for relay in relays):
            return client_network(str(sender))
    return None


def _address_of(peer) -> "ipaddress.IPv4Address | ipaddress.IPv6Address | None":
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _received_headers(head: bytes):
    """The values of the Received headers, from the top (continuation lines joined), up to the body."""
    lines = head.split(b"\n")
    for number, line in enumerate(lines):
        if not line.strip():
            return  # the end of the headers
        if line[:9].lower() == b"received:":
            value = [line[9:]]
            for more in lines[number + 1:]:
                if more[:1] not in (b" ", b"\t"):
                    break
                value.append(more)
            yield b" ".join(part.strip() for part in value)
