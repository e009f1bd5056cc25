"""Counting events per key over a sliding window, in memory of a fixed bound; and the network a
client, or a message a relay handed over, comes from, which the counts of strangers key on."""

import ipaddress
import itertools
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


# The client a relay saw, as it writes it at the end of its Received header's first line:
# "from HELO (name [192.0.2.1])" (Postfix, Sendmail; "[IPv6:2001:db8::1]"). The HELO before it is
# the sender's to write, brackets and all, so the literal read is the last one of that line.
_CLIENT_AT_END = re.compile(rb"\[(?:IPv6:)?([0-9A-Fa-f:.]{2,45})\]\)?\s*$", re.IGNORECASE)
_HEADERS_READ = 64 * 1024  # the relays' Received headers are at the top; a longer head is not read further
_HOPS_READ = 8  # relays in a row, at most
_RECEIVED = re.compile(rb"^received:([^\n]*)", re.IGNORECASE | re.MULTILINE)


def sending_network(peer, raw: bytes, relays: "list[ipaddress._BaseNetwork]") -> str | None:
    """The network a message came from (client_network): its client's; for a client among
    `relays` (mail servers that relay mail here), the client the relays' own Received headers
    name, from the top, that is not itself a relay. Below that header they are anyone's to
    write, and are not read. A header that names no client this way counts the mail for the
    relay's own network; a message with no Received header at all (not relayed, written here)
    for none (the overall budgets still apply)."""
    if not from_relay(peer, relays):
        return client_network(peer)
    hop, seen = _address_of(peer), False
    for first_line in _received_first_lines(raw[:_HEADERS_READ]):
        seen = True
        found = _CLIENT_AT_END.search(first_line)
        sender = _address_of(found.group(1).decode("ascii")) if found else None
        if sender is None:
            return client_network(str(hop))
        if not any(sender in relay for relay in relays):
            return client_network(str(sender))
        hop = sender
    return client_network(str(hop)) if seen else None


def from_relay(peer, relays: "list[ipaddress._BaseNetwork]") -> bool:
    """Whether a client is one of `relays`: mail servers that relay mail here."""
    address = _address_of(peer)
    return address is not None and any(address in relay for relay in relays)


def _address_of(peer) -> "ipaddress.IPv4Address | ipaddress.IPv6Address | None":
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    try:
        address = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _received_first_lines(head: bytes):
    """The first line of each Received header from the top (at most _HOPS_READ), up to the body:
    found by the pattern's own scan, not a Python loop over every header line."""
    ends = [at for at in (head.find(b"\n\n"), head.find(b"\n\r\n")) if at >= 0]
    head = head[:min(ends)] if ends else head
    for found in itertools.islice(_RECEIVED.finditer(head), _HOPS_READ):
        yield found.group(1).rstrip(b"\r")
