"""The webhook outbox's domain: events as read from it, each receiver's progress, and when to
try a failing receiver again. Nothing here speaks HTTP (handlers/webhooks.py delivers)."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from suppression.model import Change

KEEP_DELIVERED_DAYS = 7  # events every receiver has had are kept this long, for replays


@dataclass(frozen=True)
class Event:
    """One row of the outbox, with what it names read at the time of asking."""

    seq: int  # its place in the order every receiver gets events in (the replay cursor)
    type: str
    at: str
    change: Change | None = None  # suppression.* and subject.erased
    message: tuple[int, str, list[str]] | None = None  # review.opened: (id, received_at, reasons)
    uid: str | None = None  # random, made with the event: its webhook-id (None: an event from before)


@dataclass(frozen=True)
class Receiver:
    """A receiver's progress as kept in the database."""

    url: str
    cursor: int  # the last event it has had (or did not want)
    generation: int  # bumped by a replay: progress saved for an older one is not applied
    added_at: str
    attempts: int = 0  # failed attempts at the event after cursor
    failing_since: str | None = None
    next_attempt_at: str | None = None
    last_error: str | None = None
    disabled_at: str | None = None
    disabled_reason: str | None = None


@dataclass(frozen=True)
class Backlog:
    """How far behind a receiver is: events after its cursor, and when the oldest of them came."""

    events: int
    oldest_at: str | None


def retry_delay(attempts: int, first: float, longest: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure in a row: doubling from `first`, never
    over `longest`, with jitter so that receivers failing together do not retry together."""
    ceiling = min(longest, first * 2 ** min(attempts - 1, 62))
    return ceiling * (rng or random).uniform(0.5, 1.0)


def next_attempt(now: datetime, attempts: int, first: float, longest: float) -> datetime:
    return now + timedelta(seconds=retry_delay(attempts, first, longest))
