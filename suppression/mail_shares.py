"""Fair shares of the room kept for raw mail (`[smtp] max_stored_mail_bytes`).

Without shares, whoever sends the most fills the room on purpose (rotating envelope senders
defeat the per-sender hourly limits), and afterwards real requests and real bounces get 452
until retention frees space. So:

- one client network (IPv4 /24, IPv6 /56) may hold at most `stored_mail_percent_per_network`
  of the room, and one envelope sender (+tags folded) `stored_mail_percent_per_sender`;
- the last `stored_mail_percent_reserved` of the room takes only mail that proves itself: a
  token of ours in its first bytes (a mailto's subject, a reply naming our Message-ID, a
  bounce or complaint quoting the headers of mail we sent), verified, not merely matched.

The figures are what is stored now: counted from the database at start and every few minutes
(other instances and retention change them too), and added to as this process stores mail.
Between counts, mail removed is still counted: the shares err on the side of refusing, and the
sending MTA retries a 452.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from suppression.addresses import sender_key
from suppression.config import SmtpSettings
from suppression.errors import BadToken
from suppression.tokens import token_candidates

# How far into a message a token is looked for: headers, and the start of a report's parts.
# A constant bound, whatever the message's size: this runs before the message is stored.
PROOF_WINDOW_BYTES = 32 * 1024


def carries_our_token(raw: bytes, read_token: Callable[[str], object]) -> bool:
    """Whether the first PROOF_WINDOW_BYTES of a message hold a token we signed."""
    # Latin-1 maps each byte to one character: a token (ASCII) is found where it is in the bytes.
    for candidate in token_candidates(raw[:PROOF_WINDOW_BYTES].decode("latin-1")):
        try:
            read_token(candidate)
            return True
        except BadToken:
            continue
    return False


@dataclass(frozen=True)
class StoredMail:
    """Raw mail kept now: in all, and (name, bytes) rows per client network and per envelope
    sender as it was given (MailShares.recount folds them by sender_key)."""
    total: int
    by_network: list[tuple[str, int]]
    by_sender: list[tuple[str, int]]


_YIELD_EVERY = 1000  # senders folded between giving the interpreter's lock to the loop


class MailShares:
    def __init__(self, settings: SmtpSettings):
        room = settings.max_stored_mail_bytes
        self.room = room
        self.open_room = room - room * settings.stored_mail_percent_reserved // 100
        self.per_network = room * settings.stored_mail_percent_per_network // 100
        self.per_sender = room * settings.stored_mail_percent_per_sender // 100
        self.by_network: Counter[str] = Counter()
        self.by_sender: Counter[str] = Counter()

    def recount(self, stored: StoredMail) -> None:
        """Count from what is kept (in a thread: a stranger may have stored mail from a million
        senders, 1.5 µs each to fold, and a fold on the loop held every check 467 ms at 300,000).
        The counts are swapped in whole: what record() added to the old ones while the rows were
        read and folded is counted again at the next recount."""
        by_network = Counter({network: int(size) for network, size in stored.by_network})
        by_sender: Counter[str] = Counter()
        for n, (sender, size) in enumerate(stored.by_sender, 1):
            by_sender[sender_key(sender)] += int(size)
            if n % _YIELD_EVERY == 0:
                # The loop waits for the interpreter's lock while this thread holds it: give it
                # up now and then, so checks are answered between (longest hold of the loop at
                # 300,000 senders 48-63 ms before, 24-44 ms after, tests/test_intake_trail.py).
                time.sleep(0)
        self.by_network, self.by_sender = by_network, by_sender

    def refusal(self, size: int, total: int, network: str | None, mail_from: str, proven: bool) -> str | None:
        """Why a message of `size` bytes may not be stored now, or None. `total` is all mail kept."""
        if total + size > self.room:
            return f"the raw mail kept has reached max_stored_mail_bytes ({self.room})"
        if proven:
            return None
        if total + size > self.open_room:
            return "the room left for raw mail is kept for mail that carries our token"
        if network and self.by_network[network] + size > self.per_network:
            return "the raw mail kept from this client network has reached its share"
        sender = sender_key(mail_from)
        if sender and self.by_sender[sender] + size > self.per_sender:
            return "the raw mail kept from this sender has reached its share"
        return None

    def record(self, size: int, network: str | None, mail_from: str) -> None:
        if network:
            self.by_network[network] += size
        sender = sender_key(mail_from)
        if sender:
            self.by_sender[sender] += size
