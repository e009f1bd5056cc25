"""What a person's own words say, weighed once: the same words always weigh the same.

Requests repeat their words ("unsubscribe", "Please remove me"), and weighing them (the phrases
found, the judge's score, whether the subject turns the body down or negates it) is pure: it
depends on the words and the judge alone. So a reader keeps the last few hundred weighings of
each judge. Over a flood of the same words, this was 120 of a message's 220 µs, and the reading
fell behind the mail: 250 to visible (p50) went from 5.1-5.2 s to 3.1-3.4 s (bench/README.md).
Long words are weighed each time, as they seldom repeat.

The memo is keyed by a digest of the words, but a weighing holds the phrases found, which may
name someone ("Remove Jane Doe from the list"): it is kept MEMO_SECONDS after its last use at
most (a reader looks after each batch it reads), and a reader forgets them all once it has had
nothing to read for as long: an erasure leaves nothing of anyone's words in a reader's memory
for longer.
"""

import hashlib
import threading
import time
import weakref
from dataclasses import dataclass

from suppression.inbound.intent import Intent, find_intent, negated_across, turned_down
from suppression.inbound.judge import Judge

MEMO_SIZE = 512  # weighings kept a judge
MEMO_CHARS = 2000  # the longest words kept: the corpus's requests are at most about 1,100
MEMO_SECONDS = 60.0


@dataclass(frozen=True)
class Weighing:
    intent: Intent  # the phrases found: that ask, that are negated, that want the mail
    probability: float  # the judge's, that the words ask to unsubscribe
    negated_across: bool  # a subject that negates what asks at the body's start
    turned_down: bool  # a subject that asks, and a few words under it that turn it down


def joined(own_subject: str, body: str) -> tuple[str, bool]:
    """The own words read (the subject and the body), and whether the subject is all of them."""
    return f"{own_subject}\n{body}".strip(), not body


def weigh(own_subject: str, body: str, judge: Judge) -> Weighing:
    """The weighing of a sender's own subject and body by `judge`; remembered for short words."""
    expire()
    if len(own_subject) + len(body) > MEMO_CHARS:
        return _weighed(own_subject, body, judge)
    # Lone surrogates are text some charsets decode to: they go into the digest as they are.
    key = hashlib.blake2b(f"{len(own_subject)}:{own_subject}{body}".encode("utf-8", "surrogatepass"),
                          digest_size=16).digest()
    with _lock:  # classify_message is anyone's to call from threads; the reader's child has one
        memo = _memos.setdefault(judge, {})
        _, found = memo.pop(key, (None, None))
    if found is None:
        found = _weighed(own_subject, body, judge)
    with _lock:
        memo[key] = (time.monotonic(), found)
        while len(memo) > MEMO_SIZE:
            del memo[next(iter(memo))]  # the least lately used
    return found


def expire() -> None:
    """Forget the weighings not used for MEMO_SECONDS (a reader, after each batch it reads)."""
    oldest = time.monotonic() - MEMO_SECONDS
    with _lock:
        for memo in _memos.values():
            # In the order of their last use: those past their time are at the front.
            while memo and next(iter(memo.values()))[0] < oldest:
                del memo[next(iter(memo))]


def forget() -> None:
    """Forget every weighing (a reader with nothing to read for MEMO_SECONDS)."""
    with _lock:
        _memos.clear()


def _weighed(own_subject: str, body: str, judge: Judge) -> Weighing:
    text, subject_only = joined(own_subject, body)
    intent = find_intent(text)
    return Weighing(intent, judge.probability(text, intent, subject_only), negated_across(own_subject, body),
                    turned_down(own_subject, body))


_lock = threading.Lock()
# A judge's memo ends with it: tests and training weigh with many judges, each of 4 MB.
_memos: "weakref.WeakKeyDictionary[Judge, dict[bytes, tuple[float, Weighing]]]" = weakref.WeakKeyDictionary()
