"""A person's rights over what is held about them, and the retention the service keeps to.

Access (GDPR Art. 15): everything held about one address, found in every spelling, with what an
export tells besides the data (why each kind is held, to whom it went, how long it is kept);
the history that proves each opt-out. Erasure (Art. 17): every trace becomes a keyed hash and
the opt-out stays. Retention: raw mail, delivered webhook events and daily counts of asking to
come back are dropped when their time is up.
"""

import asyncio
import bisect
import dataclasses
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from suppression.addresses import normalise_address, unicode_form
from suppression.aside import aside
from suppression.background import cancel_and_wait
from suppression.config import Settings
from suppression.erasure import is_record
from suppression.errors import StoreUnavailable
from suppression.index.live import LiveIndex
from suppression.model import Change, Scope, StoredMessage, Suppression, utc_iso
from suppression.outbox import KEEP_DELIVERED_DAYS
from suppression.returning import KEEP_COUNTS_DAYS, return_inbox
from suppression.store import Store

log = logging.getLogger(__name__)

RETENTION_EVERY_SECONDS = 3600

# The events that name an address; review.opened masks it and subject.erased carries only the keyed hash.
_NAMING_EVENTS = ("suppression.created", "suppression.removed")

PURPOSES = (
    {"data": "suppressions", "purpose": "to send no mail the person asked not to get (their opt-out, a bounce,"
                                        " a complaint or an administrator's entry), for as long as mail is sent"},
    {"data": "history", "purpose": "to prove when, how and by whom each opt-out was made or lifted"},
    {"data": "messages", "purpose": "to read and carry out requests sent by email, and to let a person decide"
                                    " those the service could not"},
    {"data": "replies", "purpose": "to confirm an honoured request by email at most once a day"},
    {"data": "rate_limits", "purpose": "to limit how many other people's addresses one sender may unsubscribe"
                                       " in a day (protection against abuse)"},
    {"data": "come_back_requests", "purpose": "to limit how many confirmations to come back an address is sent"
                                              " in a day (kept as a keyed hash, never the address)"},
)


def retention(settings: Settings) -> list[dict]:
    days = settings.retention.raw_message_days
    return [
        {"data": "suppressions", "kept": "while they apply; after an erasure only as a keyed hash, so that the"
                                         " opt-out is still honoured"},
        {"data": "history", "kept": "for as long as the list is kept (the proof of each opt-out); after an"
                                    " erasure without the address"},
        {"data": "messages", "kept": f"raw text: {days} days after the message came once it is settled, and while"
                                     " a person has still to decide it; what was decided: until erased"},
        {"data": "replies", "kept": "until erased"},
        {"data": "rate_limits", "kept": "until erased (counted for 24 hours)"},
        {"data": "come_back_requests", "kept": f"{KEEP_COUNTS_DAYS} days"},
    ]


def recipients(settings: Settings, has_history: bool, has_replies: bool) -> list[dict]:
    """Who was (or will be) sent this person's address: each webhook receiver given the events
    that name it, when the person has a history, and the outbound relay that carried replies
    (confirmations of a request, or of asking to come back)."""
    found = []
    if has_history:
        for receiver in settings.webhooks:
            events = [e for e in _NAMING_EVENTS if receiver.wants(e)]
            if events:
                found.append({"kind": "webhook", "receiver": receiver.label, "events": events})
    if has_replies:
        found.append({"kind": "mail relay", "receiver": f"{settings.reply.relay_host}:{settings.reply.relay_port}",
                      "events": ["confirmation replies"]})
    return found


@dataclasses.dataclass(frozen=True)
class Subject:
    """Everything held about one address."""

    email: str
    suppressions: list[Suppression]
    history: list[Change]
    messages: list[StoredMessage]
    replies: list[tuple[str, str]]  # (day, sent at) of confirmations sent to it
    sender_counts: list[tuple[str, int, int]]  # (at, message id, addresses) against its daily limit
    # (day, count) of asking to come back
    return_requests: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    recipients: list[dict] = dataclasses.field(default_factory=list)  # who was sent the address
    purposes: list[dict] = dataclasses.field(default_factory=list)
    retention: list[dict] = dataclasses.field(default_factory=list)


class Rights:
    """Access, history, erasure and retention, on the store, with the live index (how an
    address is stored, and what an erasure must change in memory). `clock` is the service's;
    `signing_keys` read the tokens of ours that mail may hold (each names an address)."""

    def __init__(self, settings: Settings, store: Store, live: LiveIndex, clock: Callable[[], datetime],
                 signing_keys: tuple[str, ...] = ()):
        self.settings = settings
        self.signing_keys = signing_keys
        self.store = store
        self.live = live
        self.clock = clock
        self._retention: asyncio.Task | None = None

    def start(self) -> None:
        self._retention = asyncio.create_task(self._keep_retention(), name="retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._retention)
        self._retention = None

    def _now(self) -> str:
        return utc_iso(self.clock())

    async def subject(self, text: str) -> Subject:
        """Everything held about one address (the right of access): an empty record if nothing is.
        Its mail is found as an erasure would find it, in every spelling and encoding."""
        from suppression.subject_search import find_traces  # the reader's modules: not in a worker's memory

        email = normalise_address(text)
        stored = self.live.erased.stored(email)[0]  # after an erasure, only its keyed hash is held
        traces = await find_traces(self.store, (stored,) if is_record(stored) else spellings(email),
                                   signing_keys=self.signing_keys)
        history = await self._with_pause_ends(await self.store.changes_of(stored))
        replies = await self.store.replies_to(list(traces.replies))
        return_requests = await self.store.return_requests_of(return_inbox(self.live.erased.keys, email))
        return Subject(
            email=email,
            suppressions=await self.store.suppressions_of(stored),
            history=history,
            messages=await self.store.messages_by_id(list(traces.messages)),
            replies=replies,
            sender_counts=await self.store.sender_counts_of(list(traces.senders)),
            return_requests=return_requests,
            recipients=recipients(self.settings, bool(history), bool(replies or return_requests)),
            purposes=list(PURPOSES),
            retention=retention(self.settings),
        )

    async def history(self, text: str, reveal_erasure: bool = True) -> tuple[str, list[Change]]:
        """Every change to one address's suppressions, oldest first: what proves each opt-out.
        Without `reveal_erasure` (any key but an admin's), an erased address has no history, as
        one never seen: a guessed address must not lead to its keyed hash, nor say it was erased.
        A pause that has ended shows its end (action `expire`, at its `until`, no cursor: nothing
        was written then, and the change feed has no such entry)."""
        email = normalise_address(text)
        stored = self.live.erased.stored(email)[0]
        if is_record(stored) and not reveal_erasure:
            return email, []
        return email, await self._with_pause_ends(await self.store.changes_of(stored))

    async def _with_pause_ends(self, changes: list[Change]) -> list[Change]:
        return await aside(changes, functools.partial(with_pause_ends, now=self._now()))

    async def erase(self, text: str, actor: str) -> tuple[str, bool]:
        """Forget an address but keep its opt-out (the right to erasure): every trace becomes its
        keyed hash, in the database and its journal, the mail and the snapshot; it stays
        suppressed for what it was (for all emails if it was not). Mail is searched for the
        person in every spelling and encoding (suppression/subject_search.py), in a child process.
        Returns (address, suppressed)."""
        from suppression.inbound.mentions import Person  # the reader's modules: not in a worker's memory
        from suppression.subject_search import find_traces

        email = normalise_address(text)
        forms = spellings(email)
        keys = self.live.erased.keys
        record = keys.record(email)
        scrub = functools.partial(Person(forms, self.signing_keys).scrub, record=record)
        digests = keys.digest_keys(email)
        traces = await find_traces(self.store, forms, signing_keys=self.signing_keys)
        scopes, change_id, _ = await self.store.erase(
            email, record, keys.index_key(email), digests, traces, scrub, actor,
        )
        # Mail stored while the search ran: searched and scrubbed too before the answer.
        late = await find_traces(self.store, forms, after=traces.searched_to, with_keys=False,
                                 signing_keys=self.signing_keys)
        if late.messages:
            await self.store.scrub_messages(list(late.messages), scrub)
        self.live.erased.add(email, digests)
        await self.live.follow_changes(upto=change_id)
        await self.live.save_snapshot()  # the one on disk still holds the address's plain key
        log.info("erased one address at the request of %s: kept as a keyed hash, suppressed for %d scope(s);"
                 " %d message(s), %d reply row(s) and %d rate-limit key(s) scrubbed", actor, len(scopes),
                 len(traces.messages) + len(late.messages), len(traces.replies), len(traces.senders))
        return email, bool(scopes)

    async def apply_retention(self) -> int:
        """Remove the raw text of settled messages older than [retention] raw_message_days; how many."""
        days = self.settings.retention.raw_message_days
        before = utc_iso(datetime.now(timezone.utc) - timedelta(days=days))
        count, size = await self.store.remove_raw_before(before)
        if count:
            log.info("retention: removed the raw text of %d settled message(s) received before %s (%d bytes);"
                     " their outcomes stay", count, before, size)
        return count

    async def forget_return_counts(self) -> int:
        """Drop the daily counts of requests to come back (suppression/returning.py) of days gone by."""
        before = datetime.now(timezone.utc) - timedelta(days=KEEP_COUNTS_DAYS)
        return await self.store.prune_return_requests(before.date().isoformat())

    async def prune_events(self) -> int:
        """Forget webhook events every enabled receiver had more than KEEP_DELIVERED_DAYS ago."""
        before = utc_iso(datetime.now(timezone.utc) - timedelta(days=KEEP_DELIVERED_DAYS))
        return await self.store.prune_events(before)

    async def _keep_retention(self) -> None:
        while True:
            try:
                await self.apply_retention()
                await self.prune_events()
                await self.forget_return_counts()
            except StoreUnavailable as exc:
                log.warning("retention could not run now, will try again: %s", exc)
            await asyncio.sleep(RETENTION_EVERY_SECONDS)


def with_pause_ends(changes: list[Change], now: str) -> list[Change]:
    """The changes, with the end of each pause that ran out by `now` (not lifted before) among them."""
    lifted_before = _first_lift_after(changes)
    ends = []
    for i, change in enumerate(changes):
        if change.action != "suppress" or change.until is None or change.until > now:
            continue
        first_lift = lifted_before(i, change.scope)
        if first_lift is None or first_lift >= change.until:
            ends.append(Change(0, change.until, "expire", change.email, change.scope, change.reason, change.source,
                               "clock", None, change.campaign, change.until, None))
    if not ends:
        return changes
    return sorted(changes + ends, key=lambda c: (c.at, c.id == 0, c.id))


def _first_lift_after(changes: list[Change]) -> Callable[[int, Scope], str | None]:
    """(i, scope) -> the earliest time of an unsuppress of `scope` later in `changes` than the
    i-th, or None. Each pause asked of every later change made a history of N pauses cost the
    square of N (6,000 of them held the loop 603-706 ms); this is read once, with a search each."""
    lifts: dict[Scope, tuple[list[int], list[str]]] = {}
    for i, change in enumerate(changes):
        if change.action == "unsuppress":
            places, times = lifts.setdefault(change.scope, ([], []))
            places.append(i)
            times.append(change.at)
    for _, times in lifts.values():  # each the earliest of itself and every time after it
        for k in range(len(times) - 2, -1, -1):
            times[k] = min(times[k], times[k + 1])

    def first_after(i: int, scope: Scope) -> str | None:
        places, times = lifts.get(scope, ((), ()))
        k = bisect.bisect_right(places, i)
        return times[k] if k < len(times) else None
    return first_after


def spellings(email: str) -> tuple[str, ...]:
    """A canonical address and its Unicode-domain form: what mentions.Person folds further."""
    return tuple(dict.fromkeys([email, unicode_form(email)]))
