"""The operations people and programs perform on the suppression list.

Reads of "is it suppressed?" go to the in-memory index; the database is asked only for the
details of an address the index holds, and a check waits for them a bounded time
(DETAILS_WAIT_SECONDS). The index follows the change log in order, so it sees writes made by
other processes (the admin CLI, other instances) too, within FOLLOW_SECONDS; a check waits for
the index only when a write acknowledged here or by the CLI is known to be newer, and then at
most READ_YOUR_WRITES_SECONDS. Whatever the database does, a check answers from memory.
"""

import asyncio
import dataclasses
import functools
from operator import itemgetter
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from collections.abc import AsyncIterator, Callable, Iterable
from collections import Counter
from dataclasses import dataclass

import numpy as np

from suppression.addresses import (
    HASHES,
    hashed_key,
    key_of_canonical,
    clean_forms,
    clean_lines_where,
    forms_of_lines,
    forms_of_texts,
    is_clean_block,
    lines_of_block,
    keys_of_forms,
    keys_of_hashed_block,
    normalise_address,
    DOMAIN_PREFIX,
    domain_entry,
    normalise_entry,
    sender_key,
    unicode_form,
)
from suppression.apikeys import SCOPES, ApiKey, RecentKeys, mint_api_key, split_api_key
from suppression.background import cancel_and_wait
from suppression.campaigns import campaign_id, sent_count
from suppression.config import Settings
from suppression.csv_import import read_import_rows
from suppression.errors import BadUndo, InvalidValue, NotFound, StoreUnavailable, UnknownTopic
from suppression import rights
from suppression.erasure import ErasureKeys, is_record
from suppression.inbound.mentions import Person
from suppression.claims import (
    HARD, HARD_REASONS, PERMANENT, check_purpose, parse_until, shown,
)
from suppression.index.keys import SuppressionIndex
from suppression.instance_lock import InstanceLock
from suppression.links import UnsubscribeLink, mint_link
from suppression.outbox import KEEP_DELIVERED_DAYS, Backlog, Event, Receiver
from suppression.records import event_record, suppression_record
from suppression.returning import (
    KEEP_COUNTS_DAYS, OWN_REASON, OWN_SOURCES, RETURN_ACTOR, RETURN_SOURCE, is_own_opt_out,
)
from suppression.stats import Statistics
from suppression.index.snapshot import SNAPSHOT_NAME, load_snapshot, save_snapshot
from suppression.mail_shares import StoredMail
from suppression.model import (
    ALL_EMAILS, Change, Claim, Scope, StoredMessage, Suppression, seconds_since, signed64, utc_iso,
)
from suppression.store import Store, SuppressionStore
from suppression.subject_search import find_traces
from suppression.tokens import LinkClaim, mint_undo, read_claim, verify_undo

log = logging.getLogger(__name__)

INBOX_STATUSES = (
    "pending", "request", "automatic", "bounce", "complaint", "review", "resolved", "dismissed", "postmaster",
)
RESOLVE_ACTIONS = ("suppress", "dismiss")
MAX_NOTE_CHARS = 2000
# Addresses read between two looks at the loop: a non-ASCII one costs up to ~10 µs to validate,
# so a slice is a few milliseconds however long the caller's list is.
_SLICE = 500


async def _let_others_run() -> None:
    await asyncio.sleep(0)


_REASON_OF_REPORT = {"delivery-status": "bounce", "feedback-report": "complaint"}
# `block`: never mail this address, receipts included (counts for transactional mail, as bounces
# and complaints do); `pause`: a person's own pause from the preference centre.
REASONS = ("unsubscribe", "complaint", "bounce", "manual", "import", "block", "pause")
SOURCES = ("link", "one-click", "email", "api", "cli", "import")
RETENTION_EVERY_SECONDS = 3600
FOLLOW_SECONDS = 0.1  # how soon writes by other processes (the CLI) reach checks
# The longest a check waits for the index to take in a write acknowledged here or by the CLI
# (read-your-writes); past it, it answers from the index as it is (counted: behind_writes).
READ_YOUR_WRITES_SECONDS = 1.0
# The longest a check waits for a change another instance announced (it answers within ms when
# the database does; a restart or failover must not hold checks).
OTHER_WRITES_SECONDS = 0.05
# The longest a check of a suppressed address waits for the database's details (reason, source,
# since); past it, or while the database is known to be away, it answers from memory without them.
DETAILS_WAIT_SECONDS = 0.05
MAX_CHANGES_PAGE = 10_000
_KEY_CACHE_SECONDS = 30.0  # how long a revoked key may still be honoured
_FOLLOW_BATCH = 20_000
# Past this many changes since the snapshot, reading the rows is quicker than replaying.
_REPLAY_LIMIT = 1_000_000
# Past this many changes behind (or a tenth of the list), the index is read afresh from the rows.
_REBUILD_GAP = 100_000


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
                matched = dataclasses.replace(matched, reason="manual", source="api")
            body.update(suppression_record(matched))
            if matched.until is not None:
                body["until"] = matched.until
        if self.details_unavailable:
            body["details_unavailable"] = True
        return body


ERASURE_SOURCE = "erasure"  # the source (and reason) of the suppression an erasure makes of an unsuppressed address

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
class ReviewState:
    open: int
    overdue: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class Subject:
    """Everything held about one address."""

    email: str
    suppressions: list[Suppression]
    history: list[Change]
    messages: list[StoredMessage]
    replies: list[tuple[str, str]]  # (day, sent at) of confirmations sent to it
    sender_counts: list[tuple[str, int, int]]  # (at, message id, addresses) against its daily limit
    return_requests: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # (day, count) of asking to come back
    recipients: list[dict] = dataclasses.field(default_factory=list)  # who was sent the address (rights.py)
    purposes: list[dict] = dataclasses.field(default_factory=list)
    retention: list[dict] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Health:
    writable: bool
    review: ReviewState


@dataclass
class ImportReport:
    rows: int = 0  # suppressions read from the file
    added: int = 0  # of which new; the rest were suppressed already
    erased: int = 0  # erased entries (keyed hashes from an export), left as they are


class SuppressionService:
    """Build with settings and a store; start() before use and stop() after."""

    def __init__(self, settings: Settings, store: Store, signing_keys: tuple[str, ...] = ()):
        self.settings = settings
        self.store = store
        self.signing_keys = signing_keys  # newest first
        # Counts only, read from the database's daily rollup: callers that only read go there.
        self.statistics = Statistics(store, settings.review.due_hours)
        self.index: SuppressionIndex | None = None
        self._cursor = 0  # the last change id the index reflects
        self._seen_signal = -1  # the shared change word when the index last caught up with it
        self._catching_up: asyncio.Task | None = None  # the index following a write a check must see
        self._catching_up_to = 0
        # Checks answered from memory without waiting longer: "behind_writes" (the index had not
        # taken in an acknowledged write within READ_YOUR_WRITES_SECONDS), "behind_other_instances"
        # (nor another instance's announced change within OTHER_WRITES_SECONDS), "without_details".
        self.answered_early: Counter[str] = Counter()
        self._follow_lock = asyncio.Lock()
        self._follower: asyncio.Task | None = None
        self._retention: asyncio.Task | None = None
        self._api_keys = RecentKeys()
        self._rereading: dict[str, asyncio.Task] = {}  # key ids being read again beside the answers
        self._snapshot_path = settings.service.data_dir / SNAPSHOT_NAME
        self._snapshotting: asyncio.Task | None = None
        self._database_id = ""
        self._hashed: dict[str, SuppressionIndex] = {}  # digests of the list, for partners (built on first use)
        self.erasure: ErasureKeys | None = None  # read from data_dir at start
        self._instance_lock: InstanceLock | None = None  # a serving instance's hold on its SQLite data_dir
        # Erased addresses: record ("erased:...") -> (keyed index key, keyed sha256 key, keyed md5 key).
        self._erased: dict[str, tuple[int, int, int]] = {}
        self._erased_keys: set[int] = set()
        # Changes logged since start, by anyone (this process, the CLI, another instance): (action, source) -> count.
        self._change_counts: Counter[tuple[str, str]] = Counter()
        self._counted_to = 0
        # The "*@DOMAIN" entries by scope, as bytes of the domain: a few thousand at most, so a bulk
        # check looks each line's domain up in a set rather than a second hashed lookup.
        self._domains: dict[Scope, set[bytes]] = {}
        # Per scope asked for (with all emails' entries): its domains, the width of the endings
        # compared first, and those endings; made on the first bulk check after a change.
        self._domain_endings: dict[tuple[Scope, bool], tuple[set[bytes], int, set[bytes]]] = {}
        # The "*@DOMAIN" entries that count for transactional mail (a block, say), by scope.
        self._hard_domains: dict[Scope, set[bytes]] = {}
        # What time it is: checks compare pauses' ends with it (tests give their own clock).
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    @classmethod
    def of_settings(cls, settings: Settings, signing_keys: tuple[str, ...] = ()) -> "SuppressionService":
        """The service on the store the settings name: the one place a store is chosen and made
        ([store] url empty: the SQLite file in data_dir; a postgresql:// URL: that database)."""
        if settings.store.url:
            from suppression.store.postgresql import PostgresStore  # psycopg is loaded only when used
            return cls(settings, PostgresStore(settings.store.url, settings.store.pool_size), signing_keys)
        return cls(settings, SuppressionStore(settings.database_path), signing_keys)

    async def start(self, with_index: bool = True) -> None:
        """Open the store; with_index loads the index and follows the change log (servers)."""
        if with_index and not self.settings.store.url:
            self._instance_lock = InstanceLock(self.settings.service.data_dir)
            self._instance_lock.take()
        await self.store.open()
        self.erasure = await asyncio.to_thread(ErasureKeys.of_settings, self.settings)
        await self._load_erased()
        await self._load_domains()
        if with_index:
            await self.store.reset_signal()  # a database restored from a backup may be behind it
            await self._load_index()
            self._counted_to = self._cursor
            self.store.note_followed(self._cursor)
            await self.store.join()  # shared stores: heard of the others' writes, and heard from
            self._follower = asyncio.create_task(self._follow(), name="index-follower")
            self._retention = asyncio.create_task(self._keep_retention(), name="retention")

    async def _load_index(self) -> None:
        """From the snapshot and the changes since, if it fits this database; else from the rows."""
        started = time.monotonic()
        database_id, newest = await self.store.identity()
        self._database_id = database_id
        snapshot = await asyncio.to_thread(load_snapshot, self._snapshot_path, database_id, newest)
        if snapshot is not None and newest - snapshot[0] <= _REPLAY_LIMIT:
            self._cursor, keys = snapshot
            source = "snapshot"
        else:
            self._cursor, keys = await self.store.load_index()
            source = "rows"
        self.index = SuppressionIndex(rows=keys)
        await self.follow_changes()  # what happened since the snapshot
        log.info("index loaded from %s: %d suppressions in %.2f s", source, len(self.index), time.monotonic() - started)
        if source == "rows":
            # So the next start is quick even if this process is killed.
            self._snapshotting = asyncio.create_task(self._save_snapshot())

    async def _save_snapshot(self) -> None:
        if self.index is None:
            return
        arrays, cursor = self.index.rows(self._now_ms()), self._cursor
        try:
            await asyncio.to_thread(save_snapshot, self._snapshot_path, self._database_id, cursor, arrays)
        except OSError as exc:
            log.warning("could not write the index snapshot (start-up will read the rows): %s", exc)

    async def stop(self) -> None:
        try:
            await self._stop()
        finally:
            if self._instance_lock is not None:
                self._instance_lock.release()

    async def _stop(self) -> None:
        for task in list(self._rereading.values()):
            await cancel_and_wait(task)
        await cancel_and_wait(self._catching_up)
        await cancel_and_wait(self._follower)
        await cancel_and_wait(self._retention)
        self._follower = self._retention = None
        if self._snapshotting is not None:
            await self._snapshotting
        if self.index is not None:
            try:
                await self.follow_changes()
            except Exception:
                # The snapshot is consistent at whatever change it has reached.
                log.warning("could not read the last changes before saving the index snapshot")
            await self._save_snapshot()
        await self.store.close()

    # -- vocabulary ---------------------------------------------------------------------

    def known_scope(self, scope: Scope) -> Scope:
        """The scope, if it is all emails or a configured topic; else UnknownTopic."""
        if scope.topic is not None and scope.topic not in self.settings.topics:
            known = ", ".join(self.settings.topics) or "none"
            raise UnknownTopic(f"unknown topic {scope.topic[:64]!r} (known topics: {known})")
        return scope

    def _now(self) -> str:
        return utc_iso(self.clock())

    def _now_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

    def until_of(self, value) -> str:
        """An `until` an admin gave, as stored (ISO 8601, in the future); InvalidValue otherwise."""
        return parse_until(value, self.clock())

    @staticmethod
    def check_reason(reason: str) -> str:
        """A reason the domain knows, or InvalidValue."""
        if reason not in REASONS:
            raise InvalidValue(f"unknown reason {reason[:64]!r} (one of: {', '.join(REASONS)})")
        return reason

    # -- checks -------------------------------------------------------------------------

    async def see_writes(self) -> None:
        """Bring the index up to every write acknowledged so far by this process or the CLI (the
        store's signal: a read of memory, no query, when there is none). Every check starts with
        it; it waits at most READ_YOUR_WRITES_SECONDS, then the check answers with what the index
        holds (counted), so a database that does not answer never holds a check for longer."""
        if self.index is None:
            return
        published = self.store.signal.read()
        own = published > self._cursor and published != self._seen_signal
        heard = self.store.signal.heard()
        others = heard > self._cursor and heard > self._seen_signal
        if not (own or others):
            return
        newest = max(published, heard) if others else published
        catching_up = self._catch_up_to(newest)
        await asyncio.wait({catching_up}, timeout=READ_YOUR_WRITES_SECONDS if own else OTHER_WRITES_SECONDS)
        if catching_up.done() and not catching_up.cancelled():
            failure = catching_up.exception()
            if failure is not None and not isinstance(failure, StoreUnavailable):
                raise failure
        if self._cursor < newest and newest > self._seen_signal:
            self.answered_early["behind_writes" if own else "behind_other_instances"] += 1

    def _catch_up_to(self, published: int) -> asyncio.Task:
        """The index following the log up to `published`, in a task of its own: a check that stops
        waiting for it does not stop it, and checks arriving meanwhile share it."""
        task = self._catching_up
        if task is None or task.done() or self._catching_up_to < published:
            task = asyncio.create_task(self._catch_up(published), name="index-catch-up")
            task.add_done_callback(_retrieve)
            self._catching_up, self._catching_up_to = task, published
        return task

    async def _catch_up(self, published: int) -> None:
        await self.follow_changes(upto=published)
        self._seen_signal = max(self._seen_signal, published)
        self.store.note_followed(self._cursor)

    async def check(self, text: str, scope: Scope = ALL_EMAILS, purpose: str | None = None) -> CheckResult:
        """Whether one address is suppressed for a topic (or for all emails), for mail of a
        purpose: promotional (every claim counts) or transactional (only bounces, complaints
        and blocks without end, of any scope)."""
        await self.see_writes()
        purpose = check_purpose(purpose)
        transactional = purpose == "transactional"
        email = normalise_address(text)
        scope = self.known_scope(scope)
        stored, key = self._stored(email)
        domain = domain_entry(email)
        if self.index is None:  # the CLI: the database is the only source
            own, of_domain = await self._claims(stored, domain)
        elif not (self.index.contains(key, scope, self._now_ms(), transactional)
                  or self._domain_suppressed(email, scope, transactional)):
            return CheckResult(email, scope, False, None, purpose)
        else:
            details = await self._details_soon(stored, domain)
            if details is None:
                self.answered_early["without_details"] += 1
                return CheckResult(email, scope, True, None, purpose, details_unavailable=True)
            own, of_domain = details
        now = self._now()
        matched = None
        # All emails first, the address's own before its domain's; then the topic.
        for claims in ([c for c in own if c.scope == ALL_EMAILS], [c for c in of_domain if c.scope == ALL_EMAILS],
                       [c for c in own if c.scope == scope], [c for c in of_domain if c.scope == scope]):
            counted = [c for c in claims if _counts(c, now, transactional)]
            if counted:
                matched = _suppression_of(counted, [c for c in own + of_domain
                                                    if c.scope in (ALL_EMAILS, scope) and _counts(c, now, False)])
                break
        if matched is None and transactional:
            hard = [c for c in own + of_domain if _counts(c, now, True)]
            matched = _suppression_of(hard, hard) if hard else None
        return CheckResult(email, scope, matched is not None, matched, purpose)

    async def _claims(self, stored: str, domain: str, free_within: float | None = None) -> tuple[list, list]:
        """The address's own claims and its domain's, from the database."""
        own = await self.store.claims_of(stored, free_within)
        of_domain = await self.store.claims_of(domain, free_within) if self._domains else []
        return own, of_domain

    async def _details_soon(self, stored: str, domain: str) -> tuple[list, list] | None:
        """The claims if the database gives them within DETAILS_WAIT_SECONDS; None if it does not,
        or is known to be away (then it is not asked: a restart must not pile up waiting reads)."""
        if not self.store.reachable:
            return None
        # Nor does it queue for a connection behind writes: a busy pool is a missing detail, and
        # reads a check gave up on do not pile up in the pool's queue.
        reading = asyncio.create_task(self._claims(stored, domain, DETAILS_WAIT_SECONDS), name="check-details")
        reading.add_done_callback(_retrieve)
        await asyncio.wait({reading}, timeout=DETAILS_WAIT_SECONDS)
        if not reading.done() or reading.cancelled() or isinstance(reading.exception(), StoreUnavailable):
            return None  # a late read finishes (or fails) on its own; nobody waits for it
        return reading.result()

    async def suppressed_texts(self, texts: list[str], scope: Scope, purpose: str | None = None) -> list[str]:
        """The given strings that are suppressed addresses (for mail of `purpose`), as given, in input order."""
        scope = self.known_scope(scope)
        transactional = check_purpose(purpose) == "transactional"
        found: list[str] = []
        for start in range(0, len(texts), _SLICE):
            part = texts[start:start + _SLICE]
            found.extend(part[i] for i in np.flatnonzero(self._matching(forms_of_texts(part), scope, transactional)))
            await _let_others_run()
        return found

    async def suppressed_block(self, block: bytes, scope: Scope, purpose: str | None = None) -> bytes:
        """The suppressed lines of a block of whole lines, as given, each ending in a newline."""
        scope = self.known_scope(scope)
        transactional = check_purpose(purpose) == "transactional"
        if is_clean_block(block):  # the common case, one vectorised pass (no \r to strip)
            count = block.count(b"\n") + (bool(block) and not block.endswith(b"\n"))
            return clean_lines_where(block, self._matching(clean_forms(block, count), scope, transactional))
        lines, hits = lines_of_block(block), []
        for start in range(0, len(lines), _SLICE):
            part = lines[start:start + _SLICE]
            hits.extend(part[i] for i in np.flatnonzero(self._matching(forms_of_lines(part), scope, transactional)))
            await _let_others_run()
        if not hits:
            return b""
        return b"\n".join([line.rstrip(b"\r") for line in hits]) + b"\n"

    def _matching(self, forms: list[bytes], scope: Scope, transactional: bool = False) -> np.ndarray:
        """Which lookup forms are suppressed: by their key, or, once anyone was erased, their keyed key."""
        index, now = self._index(), self._now_ms()
        mask = index.contains_many(keys_of_forms(forms), scope, now, transactional)
        if self._domains:
            mask |= self._domain_matches(forms, scope, transactional)
        if self._erased:
            mask |= index.contains_many(self.erasure.index_keys(forms), scope, now, transactional)
        return mask

    async def suppressed_hashed_block(self, block: bytes, algorithm: str, scope: Scope,
                                      purpose: str | None = None) -> bytes:
        """The lines of a block of hex digests (HASHES) of canonical addresses that are suppressed, as given."""
        transactional = check_purpose(purpose) == "transactional"
        index = await self._hashed_index(algorithm)
        lines, keys, valid = keys_of_hashed_block(block, algorithm)
        scope, now = self.known_scope(scope), self._now_ms()
        mask = index.contains_many(keys, scope, now, transactional)
        if self._erased:
            keyed = np.fromiter(
                (self.erasure.digest_key(algorithm, bytes.fromhex(lines[i].strip().decode())) if ok else 0
                 for i, ok in enumerate(valid)), dtype=np.uint64, count=len(lines))
            mask |= index.contains_many(keyed, scope, now, transactional)
        hits = np.flatnonzero(mask & valid)
        if len(hits) == 0:
            return b""
        return b"\n".join([lines[i].rstrip(b"\r") for i in hits]) + b"\n"

    async def _hashed_index(self, algorithm: str) -> SuppressionIndex:
        """The index of the list's digests, built from the rows on first use and kept in step after."""
        if algorithm not in HASHES:
            raise InvalidValue(f"unknown hash {algorithm[:16]!r} (one of: {', '.join(HASHES)})")
        async with self._follow_lock:
            if algorithm not in self._hashed:
                hashed = SuppressionIndex()
                async for row in self.store.iter_suppressions():
                    # Partners send digests of addresses: neither erased records nor domain entries match one.
                    if not is_record(row.email) and not row.email.startswith(DOMAIN_PREFIX):
                        hashed.set_state(row.scope, hashed_key(row.email, algorithm), _state_of(row))
                for scope, sha256_key, md5_key in await self.store.erased_digest_rows():
                    hashed.add(scope, sha256_key if algorithm == "sha256" else md5_key)
                self._hashed[algorithm] = hashed
        return self._hashed[algorithm]

    def _index(self) -> SuppressionIndex:
        if self.index is None:
            raise RuntimeError("bulk checks need the index: start(with_index=True)")
        return self.index

    def list_size(self) -> int:
        return len(self.index) if self.index is not None else 0

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
        reason = self.check_reason(reason or "manual")
        if until is not None and email.startswith(DOMAIN_PREFIX):
            raise InvalidValue("a \"*@DOMAIN\" entry cannot be paused: leave `until` out")
        campaign = campaign_id(campaign) if campaign is not None else None
        stored, key = self._stored(email)
        detail = json.dumps(why.as_detail(), ensure_ascii=False) if why is not None else None
        placed = await self.store.claim(stored, key, scope, reason, source, actor, detail, campaign, until)
        if placed.change_id is not None:
            await self._note_own(placed.change_id, _state_of(placed.suppression), stored, scope)
        return dataclasses.replace(placed.suppression, email=email), placed.created

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
        stored, key = self._stored(email)
        campaign = campaign_id(campaign) if campaign is not None else None
        placed = await self.store.claim(stored, key, ALL_EMAILS, "pause", source, actor, None, campaign, until)
        if placed.change_id is not None:
            await self._note_own(placed.change_id, _state_of(placed.suppression), stored, ALL_EMAILS)
        return until, mint_undo(self._keys(), email, ALL_EMAILS, placed.claim.since)

    async def paused_until(self, text: str) -> str | None:
        """When an address's pause of all emails ends, if only pauses hold it now."""
        now = self._now()
        for row in await self.store.suppressions_of(self._stored(normalise_address(text))[0]):
            if row.scope == ALL_EMAILS and row.until is not None and row.until > now:
                return row.until
        return None

    async def unsuppress(self, text: str, scope: Scope, source: str, actor: str) -> tuple[str, bool]:
        """Lift every claim on an address (or a "*@DOMAIN" entry) for one scope (an admin may);
        return it and whether one was lifted."""
        email = normalise_entry(text)
        stored, scope = self._stored(email)[0], self.known_scope(scope)
        change_id = await self.store.unsuppress(stored, scope, source, actor)
        if change_id is not None:
            await self.follow_changes(upto=change_id)
        return email, change_id is not None

    def mint_undo(self, suppression: Suppression) -> str:
        """The undo a confirmation page offers for a suppression it has just made."""
        return mint_undo(self._keys(), suppression.email, suppression.scope, suppression.since)

    async def undo(self, text: str, undo_tokens: list[str], actor: str) -> list[Scope]:
        """Lift the suppressions undo tokens name, those still that recipient's own; BadUndo if any
        token is not one this address's unsubscribe handed out. The scopes lifted."""
        email = normalise_address(text)
        if not undo_tokens:
            raise BadUndo("there is nothing to undo")
        named = [verify_undo(self._keys(), token, email) for token in undo_tokens[:MAX_UNDO]]
        stored, lifted = self._stored(email)[0], []
        for scope, made_at in named:
            change_id = await self.store.unsuppress(stored, scope, "link", actor, only_own_made_at=made_at)
            if change_id is not None:
                await self.follow_changes(upto=change_id)
                lifted.append(scope)
        return lifted

    # -- coming back (suppression/returning.py) ------------------------------------------

    async def own_opt_outs(self, text: str) -> list[Suppression]:
        """The claims of an address that the person may lift by coming back (as suppressions: scope,
        reason, source, since); none once it is erased."""
        stored = self._stored(normalise_address(text))[0]
        if is_record(stored):
            return []
        own = [Suppression(c.email, c.scope, c.reason, c.source, c.since, c.until)
               for c in await self.store.claims_of(stored)]
        return [row for row in own if is_own_opt_out(row)]

    async def lift_own_opt_outs(self, text: str, made_before: str, campaign: str | None = None) -> list[Scope]:
        """Lift this address's own opt-outs (returning.is_own_opt_out) made at or before
        `made_before`, and nothing else: never a bounce, a complaint, an admin's entry or an
        erased address's. Each lift is an unsuppress in the change log (source "return", actor
        "confirmation", the campaign in its detail): the history, the feed and webhooks show it.
        The scopes lifted, all emails first.

        The one place that lifts what a person may lift: the store removes only the person's own
        claims (suppression/claims.py); another's keep the address suppressed, and a scope they
        still hold logs `lift` rather than `unsuppress`."""
        stored = self._stored(normalise_address(text))[0]
        if is_record(stored):
            return []  # erased: kept suppressed for good, whatever it was for
        detail = json.dumps({"campaign": campaign}) if campaign else None
        lifted = await self.store.lift_own_opt_outs(
            stored, OWN_REASON, OWN_SOURCES, made_before, RETURN_SOURCE, RETURN_ACTOR, detail)
        if lifted:
            await self.follow_changes(upto=max(change_id for _, change_id in lifted))
        return [scope for scope, _ in lifted]

    async def count_return_request(self, text: str, day: str) -> int:
        """Count a request to come back on a UTC day; how many that inbox made that day, this one
        included. Per inbox (jane+1@ and jane+2@ are one), by keyed hash: the count never holds an address."""
        return await self.store.count_return_request(self._return_inbox(normalise_address(text)), day)

    def _return_inbox(self, email: str) -> str:
        """How the counts of asking to come back name an inbox: a keyed hash, never the address."""
        return self.erasure.keyed_hash("return:" + sender_key(email))

    async def changes(self, after: str | None, limit: int) -> tuple[list[Change], str]:
        """A page of the change log after a cursor, and the cursor to ask for next."""
        position = _cursor(after)
        if not 1 <= limit <= MAX_CHANGES_PAGE:
            raise InvalidValue(f"limit must be from 1 to {MAX_CHANGES_PAGE}")
        page = await self.store.changes_after(position, limit)
        return page, str(page[-1].id if page else position)

    async def subject(self, text: str) -> "Subject":
        """Everything held about one address (the right of access): an empty record if nothing is.
        Its mail is found as an erasure would find it, in every spelling and encoding."""
        email = normalise_address(text)
        stored = self._stored(email)[0]  # after an erasure, only its keyed hash is held
        traces = await find_traces(self.store, (stored,) if is_record(stored) else _spellings(email))
        history = _with_pause_ends(await self.store.changes_of(stored), self._now())
        replies = await self.store.replies_to(list(traces.replies))
        return_requests = await self.store.return_requests_of(self._return_inbox(email))
        return Subject(
            email=email,
            suppressions=await self.store.suppressions_of(stored),
            history=history,
            messages=await self.store.messages_by_id(list(traces.messages)),
            replies=replies,
            sender_counts=await self.store.sender_counts_of(list(traces.senders)),
            return_requests=return_requests,
            recipients=rights.recipients(self.settings, bool(history), bool(replies or return_requests)),
            purposes=list(rights.PURPOSES),
            retention=rights.retention(self.settings),
        )

    async def history(self, text: str, reveal_erasure: bool = True) -> tuple[str, list[Change]]:
        """Every change to one address's suppressions, oldest first: what proves each opt-out.
        Without `reveal_erasure` (any key but an admin's), an erased address has no history, as
        one never seen: a guessed address must not lead to its keyed hash, nor say it was erased.
        A pause that has ended shows its end (action `expire`, at its `until`, no cursor: nothing
        was written then, and the change feed has no such entry)."""
        email = normalise_address(text)
        stored = self._stored(email)[0]
        if is_record(stored) and not reveal_erasure:
            return email, []
        return email, _with_pause_ends(await self.store.changes_of(stored), self._now())

    async def change_counts(self) -> Counter[tuple[str, str]]:
        """How many changes of each (action, source) were logged since this process started,
        whoever wrote them: one grouped read of the new part of the log, when metrics are scraped."""
        rows = await self.store.change_counts_after(self._counted_to)
        for action, source, count, newest in rows:
            self._change_counts[action, source] += count
            self._counted_to = max(self._counted_to, newest)
        return self._change_counts

    async def follow_changes(self, upto: int | None = None) -> None:
        """Apply every change logged since the index's cursor, in order.

        With `upto`, return at once if the index is there already: concurrent writers
        then share one read of the log instead of one each.
        """
        if self.index is None:
            return
        async with self._follow_lock:
            if upto is not None and self._cursor >= upto:
                return
            if upto is None:
                upto = await self.store.newest_change()
            while True:
                if upto - self._cursor > max(_REBUILD_GAP, len(self.index) // 10):
                    # A big import: reading every row's stored key (0.5 µs a row) beats replaying
                    # each change (5 µs), and leaves the index in the shape of a fresh start.
                    await self._reload_from_rows()
                    return
                batch = await self.store.index_changes_after(self._cursor, _FOLLOW_BATCH)
                for change_id, action, email, scope, state in batch:
                    if change_id <= self._cursor:
                        continue  # read with the rows already, after an erasure in this batch
                    if action == "erase":
                        # An address became its keyed hash: its rows are read afresh (erasures are rare).
                        await self._reload_from_rows()
                        self._cursor = max(self._cursor, change_id)
                        continue
                    self._apply_change(change_id, state, email, scope)
                if len(batch) < _FOLLOW_BATCH:
                    return
                upto = max(upto, await self.store.newest_change())  # a big write may have landed meanwhile

    def _apply_change(self, change_id: int, state: str, email: str, scope: Scope) -> None:
        """Put the standing one change of the log left (suppression/claims.py) into the index."""
        if email.startswith(DOMAIN_PREFIX):
            # Matched by the domain sets, never by key: kept out of the index, whose set of
            # keys added since its last rebuild every bulk lookup pays for.
            self._note_domain(state, email, scope)
        else:
            key, digests = self._keys_of_stored(email)
            self.index.set_state(scope, key, state)
            for algorithm, hashed in self._hashed.items():
                hashed.set_state(scope, digests[algorithm], state)
        self._cursor = max(self._cursor, change_id)

    async def _note_own(self, change_id: int, state: str, email: str, scope: Scope) -> None:
        """Put this process's own acknowledged change into the index before answering. When it
        is the next one in the log (as it is, unless another process wrote meanwhile), from what
        was written, without reading it back; else by following the log up to it."""
        # Ids are consecutive: any other writer's change would lie between the cursor and this one.
        if self.index is not None and change_id == self._cursor + 1 and not self._follow_lock.locked():
            self._apply_change(change_id, state, email, scope)
            return
        await self.follow_changes(upto=change_id)

    # -- erasure ----------------------------------------------------------------------------

    async def erase(self, text: str, actor: str) -> tuple[str, bool]:
        """Forget an address but keep its opt-out (the right to erasure): every trace becomes its
        keyed hash, in the database and its journal, the mail and the snapshot; it stays
        suppressed for what it was (for all emails if it was not). Mail is searched for the
        person in every spelling and encoding (suppression/subject_search.py), in a child process.
        Returns (address, suppressed)."""
        email = normalise_address(text)
        forms = _spellings(email)
        record = self.erasure.record(email)
        scrub = functools.partial(Person(forms).scrub, record=record)
        digests = self.erasure.digest_keys(email)
        traces = await find_traces(self.store, forms)
        scopes, change_id, _ = await self.store.erase(
            email, record, self.erasure.index_key(email), digests, traces, scrub, actor,
        )
        # Mail stored while the search ran: searched and scrubbed too before the answer.
        late = await find_traces(self.store, forms, after=traces.searched_to, with_keys=False)
        if late.messages:
            await self.store.scrub_messages(list(late.messages), scrub)
        self._erased[record] = (self.erasure.index_key(email), digests["sha256"], digests["md5"])
        self._erased_keys.add(self.erasure.index_key(email))
        await self.follow_changes(upto=change_id)
        if self.index is not None:
            await self._save_snapshot()  # the one on disk still holds the address's plain key
        log.info("erased one address at the request of %s: kept as a keyed hash, suppressed for %d scope(s);"
                 " %d message(s), %d reply row(s) and %d rate-limit key(s) scrubbed", actor, len(scopes),
                 len(traces.messages) + len(late.messages), len(traces.replies), len(traces.senders))
        return email, bool(scopes)

    def _stored(self, email: str) -> tuple[str, int]:
        """How an address is kept and looked up: itself and its key, or if it was erased, its keyed hash and keyed key."""
        if self._erased:
            keyed = self.erasure.index_key(email)
            if keyed in self._erased_keys:
                return self.erasure.record(email), keyed
        return email, key_of_canonical(email)

    def stored_keys(self, addresses) -> list[tuple[str, int]]:
        """(stored form, key) of each address, as suppressing them would store it."""
        return [self._stored(address) for address in addresses]

    def _erased_as_records(self, rows):
        """Import rows, those of erased addresses as their keyed hash: an import never brings one back."""
        for row in rows:
            if self._erased:
                stored, key = self._stored(row.email)
                if stored != row.email:
                    row = dataclasses.replace(row, email=stored, key=signed64(key))
            yield row

    def _keys_of_stored(self, stored: str) -> tuple[int, dict[str, int]]:
        """The index key and digest keys of a stored address or erased record."""
        if is_record(stored):
            key, sha256_key, md5_key = self._erased.get(stored, (0, 0, 0))
            return key, {"sha256": sha256_key, "md5": md5_key}
        return key_of_canonical(stored), {name: hashed_key(stored, name) for name in self._hashed}

    async def _load_domains(self) -> None:
        self._domains, self._hard_domains = {}, {}
        self._domain_endings.clear()
        for entry, scope, hard in await self.store.domain_entries():
            self._note_domain(HARD if hard else PERMANENT, entry, scope)

    def _note_domain(self, state: str, entry: str, scope: Scope) -> None:
        # Domain entries have no pauses (refused in suppress): lasting, hard or gone.
        self._domain_endings.clear()
        domain = entry[len(DOMAIN_PREFIX):].encode("utf-8")
        for domains, holds in ((self._domains.setdefault(scope, set()), bool(state)),
                               (self._hard_domains.setdefault(scope, set()), state == HARD)):
            if holds:
                domains.add(domain)
            else:
                domains.discard(domain)

    def _domain_matches(self, forms: list[bytes], scope: Scope, transactional: bool = False) -> np.ndarray:
        """Which lookup forms are at a "*@DOMAIN" entry's domain, for all emails or the scope's topic.

        Each form's last few bytes are looked up first (one C-level pass, 70 ns a line against
        165 for cutting out every domain); only the lines whose ending some entry shares are
        cut and compared exactly. That keeps the bulk check over 1M/s with 10,000 entries."""
        mask = np.zeros(len(forms), dtype=bool)
        asked = (scope, transactional)
        if asked not in self._domain_endings:
            if transactional:
                domains = set().union(*self._hard_domains.values())
            else:
                domains = self._domains.get(ALL_EMAILS, set()) | self._domains.get(scope, set())
            width = min(16, min(map(len, domains), default=1))
            self._domain_endings[asked] = (domains, width, {domain[-width:] for domain in domains})
        domains, width, endings = self._domain_endings[asked]
        if not domains:
            return mask
        candidates = np.fromiter(map(endings.__contains__, map(itemgetter(slice(-width, None)), forms)),
                                 dtype=bool, count=len(forms))
        for i in np.flatnonzero(candidates):
            form = forms[i]
            at = form.find(b"@")
            # One "@", after a local part: a line that is a bare domain, or no address, is not one.
            mask[i] = at > 0 and form.rfind(b"@") == at and form[at + 1:] in domains
        return mask

    def _domain_suppressed(self, email: str, scope: Scope, transactional: bool = False) -> bool:
        domain = email.rpartition("@")[2].encode("utf-8")
        if transactional:
            return any(domain in domains for domains in self._hard_domains.values())
        return domain in self._domains.get(ALL_EMAILS, ()) or domain in self._domains.get(scope, ())

    async def _load_erased(self) -> None:
        rows = await self.store.erased_subject_rows()
        self._erased = {record: (key, sha, md5) for record, key, sha, md5 in rows}
        self._erased_keys = {key for key, _, _ in self._erased.values()}

    async def _reload_from_rows(self) -> None:
        await self._load_erased()
        await self._load_domains()
        self._cursor, keys = await self.store.load_index()
        self.index = SuppressionIndex(rows=keys)
        self._hashed.clear()  # rebuilt on the next hashed check

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

    async def _follow(self) -> None:
        failing = False  # said once when it starts and once when it ends, not ten times a second
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            try:
                before = self._cursor
                await self.follow_changes()  # the newest change, whoever wrote it
                self.store.note_followed(self._cursor)
                if self._cursor != before:
                    self.store.announce_writes()  # another process (the CLI) wrote: wake the outbox
            except StoreUnavailable as exc:
                if not failing:
                    log.warning("cannot read the change log now; checks are answered from memory meanwhile: %s", exc)
                failing = True
                continue
            except Exception:
                # A locked or busy database now is no reason to stop following for good.
                log.exception("could not read the change log; will try again")
                continue
            if failing:
                log.info("the change log can be read again")
                failing = False

    # -- webhooks -----------------------------------------------------------------------------

    async def sync_receivers(self, urls: list[str]) -> None:
        """Keep the configured receivers' progress, and only theirs."""
        added, removed = await self.store.sync_receivers(urls)
        if added:
            log.info("webhooks: %d new receiver(s) start with the events from now on", len(added))
        if removed:
            log.info("webhooks: %d receiver(s) no longer configured are forgotten", len(removed))

    async def receiver(self, url: str) -> Receiver | None:
        return await self.store.receiver(url)

    async def lead_receiver(self, url: str) -> bool:
        """Whether this instance delivers to a receiver now (of several sharing a database, one does)."""
        return await self.store.lead_receiver(url)

    async def webhook_backlog(self, cursor: int) -> Backlog:
        return await self.store.backlog(cursor)

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        return await self.store.events_after(seq, limit)

    async def save_delivery(self, url: str, generation: int, cursor: int, **state) -> bool:
        return await self.store.save_delivery(url, generation, cursor, **state)

    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver:
        return await self.store.replay_receiver(url, from_seq)

    async def wait_for_writes(self, timeout: float) -> None:
        """Return after the next write (this process's, or the CLI's once followed), or after `timeout`."""
        await self.store.wait_for_writes(timeout)

    def event_body(self, event: Event) -> dict:
        """What a receiver is sent for an event."""
        due = self._due_after(event.message[1]) if event.message is not None else None
        return event_record(event, due, self.settings.service.base_url.rstrip("/") + "/admin/")

    @property
    def database_id(self) -> str:
        return self._database_id

    # -- received mail --------------------------------------------------------------------

    async def stored_mail(self) -> StoredMail:
        """Raw mail kept now, in all, per client network and per sender (the shares of the room)."""
        return await self.store.stored_mail()

    @property
    def stored_mail_bytes(self) -> int:
        """Raw received mail kept, in bytes."""
        return self.store.stored_mail_bytes

    async def pending_messages(self, limit: int) -> list[tuple[int, bytes, str]]:
        """(id, raw, envelope sender) of stored messages not yet handled, oldest first."""
        return await self.store.pending_messages(limit)

    async def settle_message(self, message_id: int, outcome, keys, reason: str | None, counted,
                             campaign: str | None = None) -> None:
        """Record what handling a message decided, and suppress what it names (made through the
        link of `campaign`, if its token named one), in one write."""
        change_id = await self.store.settle_message(
            message_id, outcome, keys, reason, "email", f"email:{message_id}", counted, campaign,
        )
        if change_id is not None:
            await self.follow_changes(upto=change_id)

    async def unproven_requests_since(self, since: str, message_id: int) -> tuple[str | None, int, int]:
        """(the network a message came over, requests honoured on the sender's word alone from it
        since a time, and from all networks)."""
        return await self.store.unproven_requests_since(since, message_id)

    async def sender_requests_since(self, sender: str, since: str) -> int:
        """How many addresses of other people a sender's honoured requests have named since a time."""
        return await self.store.sender_requests_since(sender, since)

    async def claim_reply(self, email: str, day: str) -> bool:
        """Note that `email` is answered on `day`; False if it was already that day."""
        return await self.store.claim_reply(email, day)

    @property
    def writable(self) -> bool:
        """Whether the database takes writes now."""
        return self.store.write_problem is None

    async def store_message(
        self, raw: bytes, mail_from: str, rcpt_to: list[str], settled: tuple[str, list[str]] | None = None,
        origin: str | None = None, network: str | None = None,
    ) -> int:
        """Keep a received message durably (settled: as already handled; origin: once per origin); its id."""
        return await self.store.add_message(raw, mail_from, rcpt_to, settled, origin, network)

    async def resolve(
        self, message_id: int, action: str, actor: str, emails: list[str] | None = None,
        scope: Scope = ALL_EMAILS, note: str | None = None,
    ) -> StoredMessage:
        """A person's decision on a message under review: suppress (the given addresses, else those
        the reader found, else the sender) or dismiss with a note. Everything is checked before
        anything is written, and it is written in one transaction; NotFound, Conflict if settled."""
        if action not in RESOLVE_ACTIONS:
            raise InvalidValue(f"unknown action {str(action)[:32]!r} (one of: {', '.join(RESOLVE_ACTIONS)})")
        if note is not None and len(note) > MAX_NOTE_CHARS:
            raise InvalidValue(f"a note is at most {MAX_NOTE_CHARS} characters")
        message = await self.inbox_message(message_id)
        if action == "dismiss":
            if emails or not scope.everything:
                raise InvalidValue("a dismissal suppresses nothing: give no emails or topic")
            if not (note or "").strip():
                raise InvalidValue("say why in a note when dismissing")
            await self.store.resolve_message(message_id, "dismissed", [], ALL_EMAILS, "", "", actor, note)
            return await self.inbox_message(message_id)
        scope = self.known_scope(scope)
        if emails is not None:
            if not emails:
                raise InvalidValue("`emails` must name at least one address (or be left out)")
            addresses = list(dict.fromkeys(normalise_address(e) for e in emails))
        else:
            addresses = list(message.found) or [normalise_address(message.sender or message.mail_from)]
        keys = self.stored_keys(addresses)
        reason = _REASON_OF_REPORT.get(message.report, "unsubscribe")  # what the reader found, not a parse here
        change_id = await self.store.resolve_message(
            message_id, "resolved", keys, scope, reason, f"email:{message_id}", actor, note,
        )
        if change_id is not None:
            await self.follow_changes(upto=change_id)
        return await self.inbox_message(message_id)

    async def review_state(self) -> "ReviewState":
        """The messages a person must decide: how many, how many overdue, the oldest's age."""
        now = datetime.now(timezone.utc)
        due_before = utc_iso(now - timedelta(hours=self.settings.review.due_hours))
        open_, overdue, oldest = await self.store.review_state(due_before)
        return ReviewState(open_, overdue, seconds_since(oldest, now) if oldest else 0.0)

    async def health(self) -> "Health | None":
        """Whether the database answers (None: it does not), takes writes, and how the desk stands."""
        if not await self.store.ping():
            return None
        try:
            review = await self.review_state()
        except StoreUnavailable:
            return None
        return Health(self.writable, review)

    def due(self, message: StoredMessage) -> str:
        """When a person must have decided a message: its arrival plus [review] due_hours."""
        return self._due_after(message.received_at)

    def _due_after(self, received_at: str) -> str:
        return utc_iso(datetime.fromisoformat(received_at) + timedelta(hours=self.settings.review.due_hours))

    async def inbox(self, status: str | None, after: str | None, limit: int) -> tuple[list[StoredMessage], str]:
        """A page of received mail, optionally of one status, and the cursor to ask for next."""
        if status is not None and status not in INBOX_STATUSES:
            raise InvalidValue(f"unknown status {status[:32]!r} (one of: {', '.join(INBOX_STATUSES)})")
        position = _cursor(after)
        if not 1 <= limit <= MAX_CHANGES_PAGE:
            raise InvalidValue(f"limit must be from 1 to {MAX_CHANGES_PAGE}")
        page = await self.store.list_messages(status, position, limit)
        return page, str(page[-1].id if page else position)

    async def inbox_message(self, message_id: int) -> StoredMessage:
        found = await self.store.get_message(message_id)
        if found is None:
            raise NotFound(f"no received message {message_id}")
        return found

    # -- links --------------------------------------------------------------------------

    def mint_link(self, text: str, scope: Scope = ALL_EMAILS, campaign: str | None = None) -> UnsubscribeLink:
        """The unsubscribe link and header values for one recipient and scope (and campaign)."""
        email = normalise_address(text)
        return mint_link(
            email, self.known_scope(scope),
            base_url=self.settings.service.base_url,
            secret_keys=self._keys(),
            request_address=self.settings.smtp.request_addresses[0],
            campaign=campaign_id(campaign) if campaign is not None else None,
        )

    async def record_sent(self, campaign: str, sent) -> tuple[str, int]:
        """Note how many a campaign was sent to (set, not added: repeating it changes nothing)."""
        campaign, sent = campaign_id(campaign), sent_count(sent)
        await self.store.record_sent(campaign, sent)
        return campaign, sent

    def read_link(self, token: str) -> LinkClaim:
        """Who and what a link's token names; BadToken if it is not one of ours."""
        return read_claim(self._keys(), token, self.max_age_seconds, self.settings.topics)

    @property
    def max_age_seconds(self) -> int | None:
        days = self.settings.signing.max_age_days
        return days * 86400 if days else None

    async def suppressed_scopes(self, email: str) -> set[Scope]:
        """The scopes an address is suppressed for now."""
        now = self._now()
        return {row.scope for row in await self.store.suppressions_of(email) if row.until is None or row.until > now}

    def _keys(self) -> tuple[str, ...]:
        if not self.signing_keys:
            raise RuntimeError("links need signing keys: pass signing_keys to the service")
        return self.signing_keys

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
            self.check_reason(reason)
        report = ImportReport()

        def on_erased(line: int) -> None:
            report.erased += 1

        rows = self._erased_as_records(read_import_rows(lines, self.settings.topics, reason, on_invalid, on_erased))
        report.added = await self.store.import_rows(_counted(rows, report, on_progress), actor)
        await self.follow_changes()
        return report

    async def export(self) -> AsyncIterator[Suppression]:
        """Every suppression that holds now (a pause that has ended is left out)."""
        now = self._now()
        async for row in self.store.iter_suppressions():
            if row.until is None or row.until > now:
                yield row

    # -- API keys -----------------------------------------------------------------------

    async def create_api_key(self, name: str, scope: str) -> str:
        """Create a key and return it in full: the only time it is ever shown."""
        name = name.strip()
        if not name or len(name) > 100:
            raise InvalidValue("a key name must be 1 to 100 characters")
        if scope not in SCOPES:
            raise InvalidValue(f"unknown scope {scope!r} (one of: {', '.join(SCOPES)})")
        full, key_id, secret_hash = mint_api_key()
        await self.store.add_api_key(ApiKey(key_id, name, scope, secret_hash))
        return full

    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]:
        """(name, scope, created_at, revoked_at) of every key; never the hashes."""
        return await self.store.list_api_keys()

    async def revoke_api_key(self, name: str) -> None:
        if not await self.store.revoke_api_key(name):
            raise NotFound(f"no active API key named {name!r}")
        self._api_keys.forget_name(name)  # revoked here: refused from the next request on

    async def api_key_by_id(self, key_id: str) -> ApiKey | None:
        """The active (not revoked) key with this id; read afresh each time."""
        return await self.store.find_api_key(key_id)

    def _reread_key(self, key_id: str) -> None:
        if key_id in self._rereading:
            return
        task = asyncio.create_task(self._reread(key_id), name="api-key-reread")
        self._rereading[key_id] = task
        task.add_done_callback(lambda _: self._rereading.pop(key_id, None))

    async def _reread(self, key_id: str) -> None:
        try:
            key = await self.store.find_api_key(key_id)
        except StoreUnavailable:
            return  # the cached key goes on serving; read again at its next use
        if key is None:  # revoked or gone: refused from the next request on
            self._api_keys.forget(key_id)
        else:
            self._api_keys.put(key, time.monotonic())

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The key a bearer token names, if it is one of ours and not revoked."""
        now = time.monotonic()
        recent = self._api_keys.recent(presented, now - _KEY_CACHE_SECONDS)
        if recent is not None:
            return recent  # this exact key verified against a row read moments ago
        parts = split_api_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        read_at = self._api_keys.read_at(key_id)
        if read_at is None:
            key = await self.store.find_api_key(key_id)
            if key is None:
                return None
            self._api_keys.put(key, now)
        elif now - read_at >= _KEY_CACHE_SECONDS:
            # Read again beside the answer, not before it: a check must not wait on the
            # database (a restart, a failover); a revoked key is refused once it is read.
            self._reread_key(key_id)
        return self._api_keys.verified(key_id, secret, presented)


_PROGRESS_EVERY = 100_000


def _retrieve(task: asyncio.Task) -> None:
    """A task a check stopped waiting for: its outcome is read here, so an error is logged once
    (a database away is expected and said by the follower) rather than as "never retrieved"."""
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None and not isinstance(failure, StoreUnavailable):
        log.error("%s failed", task.get_name(), exc_info=failure)


def _counts(claim: Claim, now: str, transactional: bool) -> bool:
    """Whether a claim holds at `now` for mail of a purpose (transactional: hard claims only)."""
    if transactional:
        return claim.until is None and claim.reason in HARD_REASONS
    return claim.until is None or claim.until > now


def _suppression_of(claims: list[Claim], holding: list[Claim]) -> Suppression:
    """What a check names: the first of `claims` to show, ending when every claim `holding` the
    address (in the scopes asked about) has ended, or never."""
    first = shown(claims)
    until = None if any(c.until is None for c in holding) else max((c.until for c in holding), default=None)
    hard = any(c.until is None and c.reason in HARD_REASONS for c in holding)
    return Suppression(first.email, first.scope, first.reason, first.source, first.since, until, hard)


def _with_pause_ends(changes: list[Change], now: str) -> list[Change]:
    """The changes, with the end of each pause that ran out by `now` (not lifted before) among them."""
    ends = []
    for i, change in enumerate(changes):
        if change.action != "suppress" or change.until is None or change.until > now:
            continue
        lifted = any(later.action == "unsuppress" and later.scope == change.scope and later.at < change.until
                     for later in changes[i + 1:])
        if not lifted:
            ends.append(Change(0, change.until, "expire", change.email, change.scope, change.reason, change.source,
                               "clock", None, change.campaign, change.until, None))
    if not ends:
        return changes
    return sorted(changes + ends, key=lambda c: (c.at, c.id == 0, c.id))


def _state_of(row: Suppression) -> str:
    """The standing a suppressions row stands for (suppression/claims.py)."""
    if row.until is not None:
        return row.until
    return HARD if row.hard else PERMANENT


def _counted(rows, report: ImportReport, on_progress: Callable[[int], None] | None):
    for row in rows:
        report.rows += 1
        if on_progress is not None and report.rows % _PROGRESS_EVERY == 0:
            on_progress(report.rows)
        yield row


def _spellings(email: str) -> tuple[str, ...]:
    """A canonical address and its Unicode-domain form: what mentions.Person folds further."""
    return tuple(dict.fromkeys([email, unicode_form(email)]))


def _cursor(after: str | None) -> int:
    try:
        position = int(after) if after not in (None, "") else 0
    except ValueError:
        raise InvalidValue("the cursor must be a value of `next` from an earlier page") from None
    if not 0 <= position < 2**63:  # SQLite's integers; past them no change or message can be
        raise InvalidValue("the cursor must be a value of `next` from an earlier page")
    return position

