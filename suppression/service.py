"""The door: the operations people and programs perform on the suppression list.

Check, suppress, lift, import, the change feed. What it holds is elsewhere, each in the one
object that knows: the live index (suppression/index/live.py), the review desk
(suppression/review.py), a person's rights and retention (suppression/rights.py), the API keys
(suppression/keyring.py), the links it hands out (suppression/links.py), the counts
(suppression/stats.py). Callers that only read the store ask `service.store` by the store's own
names; its contract is written on the Protocol (suppression/store/__init__.py).

Reads of "is it suppressed?" go to the live index; the database is asked only for the details
of an address the index holds, and a check waits for them a bounded time
(suppression/details.py). Every write hands the change it made to the live index before its
answer, so a check after it sees it. Whatever the database does, a check answers from memory.
"""

import asyncio
import dataclasses
import json
import time
from datetime import datetime, timedelta, timezone
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

import numpy as np

from suppression.addresses import (
    clean_forms,
    clean_lines_where,
    forms_within,
    is_clean_block,
    line_form,
    lines_of_block,
    normalise_address,
    DOMAIN_PREFIX,
    normalise_entry,
    text_form,
)
from suppression.campaigns import campaign_id, sent_count
from suppression.changesignal import SIGNAL_NAME, ChangeSignal
from suppression.config import Settings
from suppression.csv_import import read_import_rows
from suppression.datadir import secure_data_dir
from suppression.errors import BadUndo, InvalidValue, StoreUnavailable, UnknownTopic
from suppression.erasure import ErasureKeys, is_record
from suppression.claims import check_purpose, parse_until, state_of
from suppression.details import Details
from suppression.index.live import LiveIndex
from suppression.index.snapshot import SNAPSHOT_NAME
from suppression.instance_lock import InstanceLock
from suppression.keyring import KeyRing
from suppression.links import Links
from suppression.records import suppression_record
from suppression.returning import OWN_REASON, OWN_SOURCES, RETURN_ACTOR, RETURN_SOURCE
from suppression.review import Review, ReviewState, page_cursor
from suppression.rights import Rights
from suppression.stats import Statistics
from suppression.model import ALL_EMAILS, Actor, Change, Reason, Scope, Source, Suppression, utc_iso
from suppression.store import Store, SuppressionStore
from suppression.tokens import mint_undo, verify_undo

# Addresses are read between two looks at the loop for about this long: a non-ASCII one costs
# 10 µs to validate, or a millisecond when its domain (an IDN) is new, so a turn is measured by
# the clock after each, not by a count.
_TURN_SECONDS = 0.004
_SLICE = 4096  # at most this many in one turn, however cheap


async def _let_others_run() -> None:
    await asyncio.sleep(0)


async def _in_turns(items: list, form: Callable[[object], bytes], match: Callable[[list[bytes]], np.ndarray]):
    """(slice, match(its forms)) over `items`, each slice's forms made until _TURN_SECONDS have
    passed (forms_within looks at the clock after each item), with the loop let go after each. A
    line costs from a microsecond to over one millisecond (a new international domain): slices
    sized by the speed of the one before grew over cheap lines, and costly ones after them held
    everyone's answers (4,096: 1.4 s; 64, three bulk checks at once: 113-120 ms at p99); capped at
    16, a million cheap non-ASCII addresses took half as long again."""
    start = 0
    while start < len(items):
        forms = forms_within(items, start, min(len(items), start + _SLICE), form, time.perf_counter() + _TURN_SECONDS)
        yield items[start:start + len(forms)], match(forms)
        start += len(forms)
        await _let_others_run()


# `block`: never mail this address, receipts included (counts for transactional mail, as bounces
# and complaints do); `pause`: a person's own pause from the preference centre.
REASONS = tuple(reason.value for reason in Reason if reason is not Reason.ERASURE)  # an erasure's is its own
MAX_CHANGES_PAGE = 10_000


def check_reason(reason: str) -> str:
    """A reason the domain knows, or InvalidValue."""
    if reason not in REASONS:
        raise InvalidValue(f"unknown reason {reason[:64]!r} (one of: {', '.join(REASONS)})")
    return reason


@dataclass(frozen=True)
class CheckResult:
    email: str
    scope: Scope
    suppressed: bool
    matched: Suppression | None  # the suppression that applies; "all emails" wins
    purpose: str = "promotional"
    details_unavailable: bool = False  # suppressed, from memory: the database did not answer in time

    def as_dict(self, reveal_erasure: bool = True) -> dict:
        """What a check says, as the API and the CLI print it. Without `reveal_erasure` (any key
        but an admin's), a suppression an erasure made reads as what it is to a sender, an
        administrator's entry by hand: that the person asked to be forgotten is not theirs to know.
        A suppression that only pauses hold has `until` (when it ends); one with no end has none."""
        body = {"email": self.email, "topic": self.scope.topic, "suppressed": self.suppressed}
        if self.purpose != "promotional":
            body["purpose"] = self.purpose
        if self.matched is not None:
            matched = self.matched
            if matched.source == ERASURE_SOURCE and not reveal_erasure:
                matched = dataclasses.replace(matched, reason=Reason.MANUAL, source=Source.API)
            body.update(suppression_record(matched))
            if matched.until is not None:
                body["until"] = matched.until
        if self.details_unavailable:
            body["details_unavailable"] = True
        return body


ERASURE_SOURCE = Source.ERASURE  # the source (and reason) of the suppression an erasure makes of an unsuppressed address

LEAVING_REASONS = ("too-many", "not-relevant", "never-signed-up", "other")
MAX_LEAVING_TEXT = 500
MAX_UNDO = 16  # undo tokens in one request: one a scope


@dataclass(frozen=True)
class Leaving:
    """Why a person unsubscribes, if they say: one of LEAVING_REASONS, and free text."""

    reason: str | None = None
    text: str = ""

    @classmethod
    def of(cls, reason, text) -> "Leaving | None":
        reason = reason if reason in LEAVING_REASONS else None
        text = " ".join(str(text or "").split())[:MAX_LEAVING_TEXT]
        return cls(reason, text) if reason or text else None

    def as_detail(self) -> dict:
        return {k: v for k, v in (("why", self.reason), ("why_text", self.text)) if v}


@dataclass(frozen=True)
class Health:
    writable: bool
    review: ReviewState


@dataclass
class ImportReport:
    rows: int = 0  # suppressions read from the file
    added: int = 0  # of which new; the rest were suppressed already
    erased: int = 0  # erased addresses, or their keyed hashes from an export: left as they are

    def count_erased(self, line: int) -> None:
        self.erased += 1



class SuppressionService:
    """Build with settings and a store; start() before use and stop() after."""

    def __init__(self, settings: Settings, store: Store, signing_keys: tuple[str, ...] = ()):
        self.settings = settings
        self.store = store
        self.signing_keys = signing_keys  # newest first
        # What time it is: checks compare pauses' ends with it (tests give their own clock).
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        now = lambda: self.clock()  # noqa: E731 -- the parts see a clock a test sets later
        self.live = LiveIndex(store, settings.service.data_dir / SNAPSHOT_NAME, now)
        self.review = Review(settings, store, self.live, self.known_scope)
        self.rights = Rights(settings, store, self.live, now, signing_keys)
        self.api_keys = KeyRing(store)
        self.details = Details(store, self.live)
        self.links = Links(settings, signing_keys, self.known_scope)
        # Counts only, read from the database's daily rollup: callers that only read go there.
        self.statistics = Statistics(store, settings.review.due_hours)
        self._instance_lock: InstanceLock | None = None  # a serving instance's hold on its SQLite data_dir

    @classmethod
    def of_settings(cls, settings: Settings, signing_keys: tuple[str, ...] = ()) -> "SuppressionService":
        """The service on the store the settings name: the one place a store is chosen and made
        ([store] url empty: the SQLite file in data_dir; a postgresql:// URL: that database)."""
        if settings.store.url:
            from suppression.store.postgresql import PostgresStore  # psycopg is loaded only when used
            return cls(settings, PostgresStore(settings.store.url, settings.store.pool_size), signing_keys)
        return cls(settings, SuppressionStore(settings.database_path), signing_keys)

    async def start(self, with_index: bool = True, worker: bool = False, shared: bool = False) -> None:
        """Open the store; with_index loads the index and follows the change log (servers). `shared`:
        one of an instance's processes ([http] workers, which share a snapshot and a change word);
        a `worker`, not the first of them, takes no lock, runs no retention, writes no snapshot."""
        if with_index and not worker:
            # data_dir holds the index's snapshot on either store and, on SQLite, the instance's lock.
            await asyncio.to_thread(secure_data_dir, self.settings.service.data_dir)
            if not self.settings.store.url:
                self._instance_lock = InstanceLock(self.settings.service.data_dir)
                self._instance_lock.take()
        if with_index and shared and self.settings.store.url:  # the word SQLite's processes share
            self.store.signal.share(ChangeSignal(self.settings.service.data_dir / SIGNAL_NAME))
        await self.store.open()
        await self.live.open(await asyncio.to_thread(ErasureKeys.of_settings, self.settings))
        if with_index:
            await self.live.start(keeps_snapshot=not worker, mapped=shared)
            self.statistics.count_changes_after(self.live.cursor)
            if not worker:
                self.rights.start()

    async def stop(self) -> None:
        try:
            await self.api_keys.stop()
            await self.rights.stop()
            await self.live.stop()
            await self.store.close()
        finally:
            if self._instance_lock is not None:
                self._instance_lock.release()

    # -- vocabulary ---------------------------------------------------------------------

    def known_scope(self, scope: Scope) -> Scope:
        """The scope, if it is all emails or a configured topic; else UnknownTopic."""
        if scope.topic is not None and scope.topic not in self.settings.topics:
            known = ", ".join(self.settings.topics) or "none"
            raise UnknownTopic(f"unknown topic {scope.topic[:64]!r} (known topics: {known})")
        return scope

    def _now(self) -> str:
        return utc_iso(self.clock())

    def until_of(self, value) -> str:
        """An `until` an admin gave, as stored (ISO 8601, in the future); InvalidValue otherwise."""
        return parse_until(value, self.clock())

    # -- checks -------------------------------------------------------------------------

    async def check(self, text: str, scope: Scope = ALL_EMAILS, purpose: str | None = None) -> CheckResult:
        """Whether one address is suppressed for a topic (or for all emails), for mail of a
        purpose: promotional (every claim counts) or transactional (only bounces, complaints
        and blocks without end, for all emails)."""
        await self.live.see_writes()
        listed = self._by_index(text, scope, purpose)
        if not listed.suppressed:
            return listed
        decided = await self.details.decide(listed.email, listed.scope, self._now(), listed.purpose == "transactional")
        if decided is None:  # the database did not answer in time: suppressed, from memory
            return dataclasses.replace(listed, details_unavailable=True)
        return dataclasses.replace(listed, suppressed=decided[0], matched=decided[1])

    def answer_from_memory(self, text: str, scope: Scope = ALL_EMAILS, purpose: str | None = None) -> CheckResult | None:
        """check()'s answer when the index gives it at once: it has followed every write
        acknowledged, and the address is not on it. None: check() must be awaited."""
        if not self.live.up_to_date():
            return None
        listed = self._by_index(text, scope, purpose)
        return None if listed.suppressed else listed

    def _by_index(self, text: str, scope: Scope, purpose: str | None) -> CheckResult:
        """Checked against the index alone: suppressed means on it (or no index: the CLI), details unread."""
        purpose = check_purpose(purpose)
        email, scope = normalise_address(text), self.known_scope(scope)
        key = self.live.erased.stored(email)[1]
        on_it = self.live.index is None or self.live.contains(email, key, scope, purpose == "transactional")
        return CheckResult(email, scope, on_it, None, purpose)

    async def suppressed_texts(self, texts: list[str], scope: Scope, purpose: str | None = None) -> list[str]:
        """The given strings that are suppressed addresses (for mail of `purpose`), as given, in input order."""
        scope = self.known_scope(scope)
        transactional = check_purpose(purpose) == "transactional"
        found: list[str] = []
        async for part, mask in _in_turns(texts, text_form, lambda forms: self.live.matching(forms, scope, transactional)):
            found.extend(part[i] for i in np.flatnonzero(mask))
        return found

    async def suppressed_block(self, block: bytes, scope: Scope, purpose: str | None = None) -> bytes:
        """The suppressed lines of a block of whole lines, as given, each ending in a newline."""
        scope = self.known_scope(scope)
        transactional = check_purpose(purpose) == "transactional"
        if is_clean_block(block):  # the common case, one vectorised pass (no \r to strip)
            count = block.count(b"\n") + (bool(block) and not block.endswith(b"\n"))
            return clean_lines_where(block, self.live.matching(clean_forms(block, count), scope, transactional))
        hits = []
        async for part, mask in _in_turns(lines_of_block(block), line_form,
                                          lambda forms: self.live.matching(forms, scope, transactional)):
            hits.extend(part[i] for i in np.flatnonzero(mask))
        if not hits:
            return b""
        return b"\n".join([line.rstrip(b"\r") for line in hits]) + b"\n"

    async def suppressed_hashed_block(self, block: bytes, algorithm: str, scope: Scope,
                                      purpose: str | None = None) -> bytes:
        """The lines of a block of hex digests (HASHES) of canonical addresses that are suppressed, as given."""
        transactional = check_purpose(purpose) == "transactional"
        lines, mask = await self.live.matching_digests(block, algorithm, self.known_scope(scope), transactional)
        hits = np.flatnonzero(mask)
        if len(hits) == 0:
            return b""
        return b"\n".join([lines[i].rstrip(b"\r") for i in hits]) + b"\n"

    # -- changes ------------------------------------------------------------------------

    async def suppress(
        self, text: str, scope: Scope, reason: str, source: str, actor: str, why: "Leaving | None" = None,
        campaign: str | None = None, until: str | None = None,
    ) -> tuple[Suppression, bool]:
        """Record a claim that an address, or with "*@DOMAIN" every address at that domain, not
        be mailed (the same claim twice is one); return the suppression as it stands and whether
        the scope became suppressed by it. `why`, the person's optional answer to "why are you
        leaving?", goes into the audit trail; `campaign` names the send the link came from;
        `until` (stored form, see until_of) makes the claim a pause that ends then."""
        email = normalise_entry(text)
        scope = self.known_scope(scope)
        reason = check_reason(reason or Reason.MANUAL)
        if until is not None and email.startswith(DOMAIN_PREFIX):
            raise InvalidValue("a \"*@DOMAIN\" entry cannot be paused: leave `until` out")
        campaign = campaign_id(campaign) if campaign is not None else None
        stored, key = self.live.erased.stored(email)
        detail = json.dumps(why.as_detail(), ensure_ascii=False) if why is not None else None
        placed = await self.store.claim(stored, key, scope, reason, source, actor, detail, campaign, until)
        await self.live.took(placed.change_id, (state_of(placed.suppression), stored, scope))
        return placed.suppression if stored == email else dataclasses.replace(placed.suppression, email=email), placed.created

    async def pause(self, text: str, days: int, source: str, actor: str,
                    campaign: str | None = None) -> tuple[str, str]:
        """A person's pause of all emails for `days` (one of [preferences] pause_days): suppressed
        until then, then not, with no write (`campaign`: of the link it was made through). (until,
        the undo for it)."""
        if days not in self.settings.preferences.pause_days:
            offered = ", ".join(str(d) for d in self.settings.preferences.pause_days) or "none"
            raise InvalidValue(f"a pause is for one of these numbers of days: {offered}")
        email = normalise_address(text)
        until = utc_iso(self.clock() + timedelta(days=days))
        stored, key = self.live.erased.stored(email)
        campaign = campaign_id(campaign) if campaign is not None else None
        placed = await self.store.claim(stored, key, ALL_EMAILS, Reason.PAUSE, source, actor, None, campaign, until)
        await self.live.took(placed.change_id, (state_of(placed.suppression), stored, ALL_EMAILS))
        return until, mint_undo(self.links.keys(), email, ALL_EMAILS, placed.claim.since)

    async def paused_until(self, text: str) -> str | None:
        """When an address's pause of all emails ends, if only pauses hold it now."""
        now = self._now()
        for row in await self.store.suppressions_of(self.live.erased.stored(normalise_address(text))[0]):
            if row.scope == ALL_EMAILS and row.until is not None and row.until > now:
                return row.until
        return None

    async def unsuppress(self, text: str, scope: Scope, source: str, actor: str) -> tuple[str, bool]:
        """Lift every claim on an address (or a "*@DOMAIN" entry) for one scope (an admin may);
        return it and whether one was lifted."""
        email = normalise_entry(text)
        stored, scope = self.live.erased.stored(email)[0], self.known_scope(scope)
        change_id = await self.store.unsuppress(stored, scope, source, actor)
        await self.live.took(change_id)
        return email, change_id is not None

    async def undo(self, text: str, undo_tokens: list[str], actor: str) -> list[Scope]:
        """Lift the suppressions undo tokens name, those still that recipient's own; BadUndo if any
        token is not one this address's unsubscribe handed out. The scopes lifted."""
        email = normalise_address(text)
        if not undo_tokens:
            raise BadUndo("there is nothing to undo")
        named = [verify_undo(self.links.keys(), token, email) for token in undo_tokens[:MAX_UNDO]]
        stored, lifted = self.live.erased.stored(email)[0], []
        for scope, made_at in () if is_record(stored) else named:  # erased since the click: for good
            change_id = await self.store.unsuppress(stored, scope, Source.LINK, actor, only_own_made_at=made_at)
            if change_id is not None:
                await self.live.took(change_id)
                lifted.append(scope)
        return lifted

    async def lift_own_opt_outs(self, text: str, made_before: str, campaign: str | None = None) -> list[Scope]:
        """Lift this address's own opt-outs (returning.is_own_opt_out) made at or before
        `made_before`, and nothing else: never a bounce, a complaint, an admin's entry or an
        erased address's. Each lift is an unsuppress in the change log (source "return", actor
        "confirmation", the campaign in its detail): the history, the feed and webhooks show it.
        The scopes lifted, all emails first.

        The one place that lifts what a person may lift (coming back, suppression/returning.py):
        the store removes only the person's own claims (suppression/claims.py); another's keep
        the address suppressed, and a scope they still hold logs `lift` rather than `unsuppress`."""
        stored = self.live.erased.stored(normalise_address(text))[0]
        if is_record(stored):
            return []  # erased: kept suppressed for good, whatever it was for
        detail = json.dumps({"campaign": campaign}) if campaign else None
        lifted = await self.store.lift_own_opt_outs(
            stored, OWN_REASON, OWN_SOURCES, made_before, RETURN_SOURCE, RETURN_ACTOR, detail)
        if lifted:
            await self.live.took(max(change_id for _, change_id in lifted))
        return [scope for scope, _ in lifted]

    async def settle_message(self, message_id: int, outcome, keys, reason: str | None, counted,
                             campaign: str | None = None) -> None:
        """Record what handling a received message decided, and suppress what it names (made
        through the link of `campaign`, if its token named one), in one write."""
        change_id = await self.store.settle_message(
            message_id, outcome, keys, reason, Source.EMAIL, Actor.of_message(message_id), counted, campaign,
        )
        await self.live.took(change_id)

    async def changes(self, after: str | None, limit: int) -> tuple[list[Change], str]:
        """A page of the change log after a cursor, and the cursor to ask for next."""
        position = page_cursor(after)
        if not 1 <= limit <= MAX_CHANGES_PAGE:
            raise InvalidValue(f"limit must be from 1 to {MAX_CHANGES_PAGE}")
        page = await self.store.changes_after(position, limit)
        return page, str(page[-1].id if page else position)

    # -- import and export --------------------------------------------------------------

    async def import_lines(
        self,
        lines: Iterable[str],
        actor: str,
        reason: str | None = None,
        on_invalid: Callable[[int, str, str], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> ImportReport:
        """Import a CSV file's lines in one transaction: all of it or, on a bad line, nothing."""
        if reason is not None:
            check_reason(reason)
        report = ImportReport()

        rows = self.live.erased.not_erased(
            read_import_rows(lines, self.settings.topics, reason, on_invalid, report.count_erased), report.count_erased)
        report.added = await self.store.import_rows(_counted(rows, report, on_progress), actor)
        await self.live.follow_changes()
        return report

    async def export(self) -> AsyncIterator[Suppression]:
        """Every suppression that holds now (a pause that has ended is left out)."""
        now = self._now()
        async for row in self.store.iter_suppressions():
            if row.until is None or row.until > now:
                yield row

    # -- what a person's page shows, and campaigns ------------------------------------

    async def suppressed_scopes(self, text: str) -> set[Scope]:
        """The scopes an address is suppressed for now (an erased one's as its record holds them)."""
        now, stored = self._now(), self.live.erased.stored(normalise_address(text))[0]
        return {row.scope for row in await self.store.suppressions_of(stored) if row.until is None or row.until > now}

    async def record_sent(self, campaign: str, sent) -> tuple[str, int]:
        """Note how many a campaign was sent to (set, not added: repeating it changes nothing)."""
        campaign, sent = campaign_id(campaign), sent_count(sent)
        await self.store.record_sent(campaign, sent)
        return campaign, sent

    # -- health ---------------------------------------------------------------------------

    async def health(self) -> "Health | None":
        """Whether the database answers (None: it does not), takes writes, and how the desk stands."""
        if not await self.store.ping():
            return None
        try:
            review = await self.review.review_state()
        except StoreUnavailable:
            return None
        return Health(self.store.write_problem is None, review)


_PROGRESS_EVERY = 100_000


def _counted(rows, report: ImportReport, on_progress: Callable[[int], None] | None):
    for row in rows:
        report.rows += 1
        if on_progress is not None and report.rows % _PROGRESS_EVERY == 0:
            on_progress(report.rows)
        yield row
