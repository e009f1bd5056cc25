"""What a person's own words say, weighed once: the same words always weigh the same.

Requests repeat their words ("unsubscribe", "Please remove me"), and weighing them (the phrases
found, the judge's score, the words that turn them down or doubt them) is pure: it depends on
the words and the judge alone. So a reader keeps the last few hundred weighings of each judge.
Over a flood of the same words, weighing was 140 of a message's 220 µs, and the reading fell
behind the mail: 250 to visible (p50) went from 5.1-5.5 s to 2.8-3.1 s (bench/README.md). Long
words are weighed each time: they seldom repeat, and the memo stays small.
"""

import functools
import weakref
from dataclasses import dataclass

from suppression.inbound.intent import Intent, doubts_in, find_intent, negated_across, turned_down
from suppression.inbound.judge import Judge

MEMO_SIZE = 512  # weighings kept a judge
MEMO_CHARS = 2000  # the longest words kept: the corpus's requests are at most about 1,100


@dataclass(frozen=True)
class Weighing:
    text: str  # the own words weighed: the subject and the body joined
    intent: Intent
    probability: float  # the judge's, that the words ask to unsubscribe
    negated_across: bool  # a subject that negates what asks at the body's start
    turned_down: bool  # a subject that asks, and a few words under it that turn it down

    @functools.cached_property
    def doubts(self) -> tuple[str, ...]:
        """Words that take a request back or deny it: asked only of what would be a request."""
        return tuple(doubts_in(self.text))


def joined(own_subject: str, body: str) -> tuple[str, bool]:
    """The own words read (the subject and the body), and whether the subject is all of them."""
    return f"{own_subject}\n{body}".strip(), not body


def weigh(own_subject: str, body: str, judge: Judge) -> Weighing:
    """The weighing of a sender's own subject and body by `judge`; remembered for short words."""
    if len(own_subject) + len(body) > MEMO_CHARS:
        return _weighed(own_subject, body, judge)
    memo = _memos.setdefault(judge, {})
    key = (own_subject, body)
    found = memo.pop(key, None)
    if found is None:
        found = _weighed(own_subject, body, judge)
        if len(memo) >= MEMO_SIZE:
            del memo[next(iter(memo))]  # the least lately used: each one used moves to the end
    memo[key] = found
    return found


def _weighed(own_subject: str, body: str, judge: Judge) -> Weighing:
    text, subject_only = joined(own_subject, body)
    intent = find_intent(text)
    return Weighing(text, intent, judge.probability(text, intent, subject_only), negated_across(own_subject, body),
                    turned_down(own_subject, body))


# A judge's memo ends with it: tests and training weigh with many judges, each of 4 MB.
_memos: "weakref.WeakKeyDictionary[Judge, dict[tuple[str, str], Weighing]]" = weakref.WeakKeyDictionary()
