"""The store: what the service asks of one, written once here (the Protocol `Store`), and the two
that implement it: the embedded SQLite file (sqlite.py, SuppressionStore) and a shared
PostgreSQL database (postgresql.py, PostgresStore). Only the service
(SuppressionService.of_settings) makes one, and nothing else holds one. The implementations say
"see Store" rather than repeat what is written here.

What holds for every method:

- Unavailable: any method may raise StoreUnavailable (an HTTP 503 or an SMTP 451 with the
  reason, never a traceback): the file or the server cannot be read or written now. Writes are
  then refused until one succeeds again (`write_problem` says why meanwhile).
- Durable: a write returns once committed (SQLite: fsynced, synchronous=FULL; PostgreSQL: its
  commit), so a check started after it returns sees it, in this process and (through `signal`)
  in every other. A write that raises has written nothing.
- Ordered: a write that logs a change returns its id (None: it changed nothing), so the service
  puts it into the index without reading it back; ids are handed out and committed in one order,
  so a follower reading "after my cursor" never skips one committed late.
- Scopes cross this door as `Scope`; each store keeps its own spelling of one in its columns
  (rows.py). Timestamps are ISO 8601 UTC strings (model.utc_iso).

The package, by what it holds: sql.py the statements both dialects share, named, written once;
sqlite_sql.py and pg_sql.py only what each spells differently; dialect.py the one place they are
translated; rows.py row mapping; steps.py and writes.py the write transactions, once for both;
the parts (suppressions.py, changelog.py, messages.py, erasing.py, keys.py, webhooks.py) each
kind of data, once for both; sqlite.py with its one writer (sqlite_writer.py, which runs it in a
process of its own: sqlite_child.py, sqlite_fork_server.py; sqlite_import.py); postgresql.py
with its group writer (group_writer.py), instances (pg_instances.py), bulk reads and COPY
(pg_bulk.py) and driver errors (pg_connection.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    # The Protocol's types alone. The SQLite writer's process imports this package too, through
    # sqlite_child.py, and needs none of them: with them, its fork server took 0.19-0.28 s and
    # 46 MB to start, every program that writes paying it; without, 0.09 s and 24 MB.
    import numpy as np

    from suppression.apikeys import ApiKey
    from suppression.index import ScopeRows
    from suppression.mail_shares import StoredMail
    from suppression.model import Change, Claim, ImportRow, Outcome, Placed, Scope, StoredMessage, Suppression, Traces
    from suppression.outbox import Backlog, Event, Receiver


class ChangeWord(Protocol):
    """How far the change log has got, as this process knows it without a query."""

    def read(self) -> int:
        """The newest change a check in this process must see."""

    def heard(self) -> int:
        """The newest change another instance announced (NOTIFY) that this process has heard of;
        0 where there are no other instances."""


class Store(Protocol):
    # The newest change a check in this process must see: one this process or the CLI
    # acknowledged (CONTRACT §8), waited for up to a second. Other instances' changes are
    # `heard()`: a check waits for them only OTHER_WRITES_SECONDS, so a database that does not
    # answer (a restart, a failover) never holds a check.
    signal: ChangeWord | None
    # Bytes of raw received mail kept now (read at open, kept up to date by this process's
    # writes; on PostgreSQL counted again now and then, as other instances store mail too).
    stored_mail_bytes: int
    # False from a failure to reach the database until it answers again: a check then asks it
    # nothing (its details are left out) rather than wait for a reconnect.
    reachable: bool

    # -- life cycle, and the other processes sharing the store
    async def open(self) -> None:
        """Connect, and bring the schema up to date (MIGRATIONS, applied by position; a database
        newer than this program is refused with StoreUnavailable). Before any other method."""
    async def close(self) -> None:
        """Let queued writes finish (their callers were promised an answer), then let go. On
        PostgreSQL the CLI first waits (a few seconds at most) until every live instance has
        followed its last change; an instance removes its row."""
    async def join(self) -> None:
        """As a serving instance: follow the other processes' writes and tell them how far this
        one's index has got (PostgreSQL: LISTEN, a heartbeat row; SQLite: nothing to do)."""
    def note_followed(self, cursor: int) -> None:
        """The index has applied every change up to `cursor` (PostgreSQL tells the other
        processes at the next heartbeat; SQLite's shared word says it already)."""
    async def reset_signal(self) -> None:
        """Set `signal` to the database's newest change (at a server's start)."""
    def announce_writes(self) -> None:
        """Wake whoever waits in wait_for_writes: something may have been written."""
    async def wait_for_writes(self, timeout: float) -> None:
        """Return after the next group of writes by any process (or announce_writes), or after
        `timeout` seconds, whichever comes first. Never raises."""
    @property
    def write_problem(self) -> str | None:
        """Why writes are refused now (the disk full, the file read-only, the server away); None:
        they are not."""
    async def ping(self) -> bool:
        """Whether the database answers a read now; never raises."""
    def budget_lock(self) -> AbstractAsyncContextManager[None]:
        """Held while a batch's budgets are counted and what they allowed is settled, so that two
        instances reading a flood at once cannot each grant the whole budget: on PostgreSQL one
        instance at a time (an advisory lock of a transaction, waited for up to 30 s, else
        StoreUnavailable); the SQLite file has one process."""

    # -- suppressions (the claims on them, suppression/claims.py) and the change log
    async def suppress(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                       detail: str | None = None) -> tuple[Suppression, int | None]:
        """claim() without campaign or end: (the suppression as it stands, the change id or None)."""
    async def claim(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                    detail: str | None = None, campaign: str | None = None, until: str | None = None) -> Placed:
        """Record one party's claim on (email, scope) unless the same one (reason, source, end)
        stands already, and make the suppressions row what the claims add up to, in one
        transaction. Each new claim logs a `suppress` change carrying it and the scope's
        standing after it (`state`); a repeat logs nothing (change id None)."""
    async def unsuppress(self, email: str, scope: Scope, source: str, actor: str,
                         only_own_made_at: str | None = None) -> int | None:
        """Lift claims on (email, scope): every one (an admin), or with `only_own_made_at` only the
        opt-out the click at that time made (an undo): never a bounce, complaint, block or
        another's entry made since. Logs `unsuppress` when no claim holding now is left, else
        `lift` (the address stays suppressed); the change's id, or None if nothing was lifted."""
    async def lift_own_opt_outs(self, email: str, reason: str, sources: tuple[str, ...], made_before: str,
                                source: str, actor: str, detail: str | None = None) -> list[tuple[Scope, int]]:
        """Lift, in one transaction, every claim on `email` (as stored) with this reason, one of these
        sources and made at or before `made_before` (a person's confirmed "coming back"): never a
        bounce, complaint, block or another's entry, which keep the address suppressed. Each scope
        whose claims changed logs one change (`unsuppress` if none is left, else `lift`; `source`,
        `actor`, `detail`); the (scope, change id) of each, all emails first. What counts as a
        person's own is suppression/returning.py's to say, not the store's."""
    async def count_return_request(self, inbox: str, day: str) -> int:
        """Count one request to come back from `inbox` (a keyed hash) on `day` (UTC date); how
        many that day, this one included. Committed when it returns."""
    async def prune_return_requests(self, before_day: str) -> int:
        """Forget the counts of days before `before_day`; how many rows went."""
    async def return_requests_of(self, inbox: str) -> list[tuple[str, int]]:
        """(day, count) of an inbox's requests to come back still kept, oldest first."""
    async def claims_of(self, email: str, free_within: float | None = None) -> list[Claim]:
        """Every claim standing on one address, by scope then age (`free_within`: see below)."""
    async def import_rows(self, rows: Iterable[ImportRow], actor: str) -> int:
        """Add every row not suppressed already, in one transaction; how many were added. `rows`
        may raise BadImport part way: then nothing is written. An import only adds: existing
        suppressions keep their reason and time, and take a claim only where it adds something
        (a lasting one where only pauses hold, a hard one where none is). The first occurrence of
        an address in the rows wins. Its changes are counted in daily_changes like any other
        (SQLite: by the import's own statements; PostgreSQL: by the change log's statement trigger)."""
    # `free_within`: for a check's read, the seconds to wait for a free connection at most (a
    # shared store's pool): it does not queue behind writes, nor pile up while the database is away.
    async def suppressions_of(self, email: str, free_within: float | None = None) -> list[Suppression]:
        """Every suppression of one address (as stored: canonical, or a keyed hash once erased),
        "all emails" first, then by topic."""
    def iter_suppressions(self, batch: int = 10_000) -> AsyncIterator[Suppression]:
        """All suppressions in address order, then topic, read `batch` at a time (an export): no
        more than a batch in memory."""
    async def count(self) -> int:
        """How many suppressions (rows: one per address and scope)."""
    async def domain_entries(self) -> list[tuple[str, Scope, bool]]:
        """(entry, scope, hard) of every "*@DOMAIN" suppression."""
    async def changes_after(self, after: int, limit: int) -> list[Change]:
        """Up to `limit` changes with ids after `after`, oldest first (the feed): none is skipped,
        as ids are committed in order."""
    async def changes_of(self, email: str) -> list[Change]:
        """Every change logged for one address (as stored), oldest first."""
    async def index_changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, Scope, str]]:
        """(id, action, email, scope, standing after it) of changes after a cursor: what keeps the index in step."""
    async def change_counts_after(self, after: int) -> list[tuple[str, str, int, int]]:
        """(action, source, how many, the newest id) of the changes logged after a cursor, by
        whichever process wrote them: what suppression_changes_total counts."""
    async def newest_change(self) -> int:
        """The id of the newest change logged; 0 if none is."""
    async def identity(self) -> tuple[str, int]:
        """(this database's id, the id of its newest change): which database an index snapshot is of."""
    async def load_index_keys(self) -> tuple[int, dict[Scope, np.ndarray]]:
        """Every scope's keys suppressed with no end (sorted, as unsigned 64-bit) and the change id
        they reflect; scopes with none are left out."""
    async def load_index(self) -> tuple[int, dict[Scope, ScopeRows]]:
        """Every scope's lasting, hard and paused keys, and the change id they reflect, read at one moment."""

    # -- campaigns and statistics (counts only: no address is read)
    async def record_sent(self, campaign: str, sent: int) -> None:
        """Set how many a campaign was sent to (a repeat sets the same number again)."""
    async def daily_counts(self, first: str, last: str, by: tuple[str, ...]) -> list[tuple]:
        """(*values of the `by` columns of daily_changes, created, lifted) summed over the days
        `first` to `last` (YYYY-MM-DD, both included)."""
    async def campaign_counts(self, first: str, last: str, after_last: str) -> list[tuple[str, int, int, int | None]]:
        """(campaign, created, lifted, sent or None) for the days `first` to `last`, and a row of
        zeros for each campaign whose sent count was first recorded from `first` to before `after_last`."""
    async def desk_days(self, days: list[tuple[str, str, str]]) -> list[tuple[str, int, int, int]]:
        """For each (day, the next day, overdue-before timestamp): (day, messages put before a
        person that came that day, settled by a person that day, overdue at the day's end)."""

    # -- erasure and retention
    async def erase(self, email: str, record: str, key: int, digest_keys: dict[str, int], traces: Traces,
                    scrub: Callable[[str | None], str | None], actor: str) -> tuple[list[Scope], int, int]:
        """Replace every trace of a canonical address by its keyed hash `record`, in one
        transaction: its suppressions (kept, under `key`; one for all emails if it had none), its
        audit trail (pseudonymised, the person's own words about why removed, and an `erase`
        change naming the cursors replaced), the messages `traces` found (raw text and own words
        removed, every other column passed through `scrub`; one not yet read goes before a
        person), and the replies and rate-limit rows it found (deleted; pseudonymised). SQLite
        then empties its write-ahead log (truncate_journal). Returns (scopes suppressed, the
        erase change's id, bytes of raw mail removed)."""
    async def scrub_messages(self, ids: list[int], scrub: Callable[[str | None], str | None]) -> int:
        """As erase does to its messages, for messages that came during its search; bytes removed."""
    async def truncate_journal(self, attempts: int = 50) -> bool:
        """Leave what writes replaced in no journal: SQLite checkpoints and empties its write-ahead
        log (readers may hold it up: tried `attempts` times); PostgreSQL leaves its WAL to the
        server (docs/privacy.md). True once done; False (logged) if it could not be now."""
    async def remove_raw_before(self, before: str) -> tuple[int, int]:
        """Remove the raw text and own words of settled messages (not pending, not under review)
        received before a time; (messages, bytes) removed."""
    async def erased_subject_rows(self) -> list[tuple[str, int, int, int]]:
        """(record, keyed index key, keyed sha256 key, keyed md5 key) of every erased address, the
        keys as unsigned 64-bit."""
    async def erased_digest_rows(self) -> list[tuple[Scope, int, int, str]]:
        """(scope, keyed sha256 key, keyed md5 key, standing) of every erased address's
        suppressions; the standing as suppression/claims.py spells it (a pause's end, hard, lasting)."""
    async def message_page(self, after: int, max_bytes: int) -> list[tuple[int, bytes | None, tuple]]:
        """The messages after an id, oldest first, as (id, raw or None, (*SCRUBBED columns, words)):
        at least one, and more while their raw text stays within max_bytes; [] past the newest."""
    async def messages_by_id(self, ids: list[int]) -> list[StoredMessage]:
        """Those messages (with their raw text while kept), oldest first."""
    async def sender_request_keys(self) -> list[str]:
        """Every distinct sender the per-sender limit has rows for."""
    async def reply_keys(self) -> list[str]:
        """Every distinct address a confirmation was sent to."""
    async def replies_to(self, keys: list[str]) -> list[tuple[str, str]]:
        """(day, sent_at) of every confirmation sent to any of these reply keys."""
    async def sender_counts_of(self, senders: list[str]) -> list[tuple[str, int, int]]:
        """(at, message id, addresses) of the per-sender limit's rows for any of these senders."""

    # -- received mail
    async def add_message(self, raw: bytes, mail_from: str, rcpt_to: list[str],
                          settled: tuple[str, list[str]] | None = None, origin: str | None = None,
                          network: str | None = None) -> int:
        """Keep a received message; the returned id is committed when this returns.

        `settled` (status, reasons) keeps it as already handled: mail that is never read.
        `origin` names where it was read from (a mailbox): a message of a known origin is not
        stored again, and the id of the one kept is returned. `network` is the client network
        it came from (ratelimit.client_network), counted by unproven_budget.
        """
    async def pending_messages(self, limit: int, skip: list[int] | None = None,
                               first: list[int] | None = None) -> list[tuple[int, bytes, str]]:
        """(id, raw, envelope sender) of up to `limit` messages not yet read: those of `first`
        still unread, in that order (suppression/turns.py), then the oldest others; never those in
        `skip` (being read elsewhere: suppression/slow_mail.py). On
        PostgreSQL they are claimed for this instance: another live instance's are skipped, a
        stopped one's taken over, so each message is read by one."""
    async def settle_message(self, message_id: int, outcome: Outcome, keys: list[tuple[str, int]],
                             reason: str | None, source: str, actor: str,
                             counted: tuple[str, int] | None = None, campaign: str | None = None) -> int | None:
        """Record what reading a pending message decided, and in the same transaction suppress
        the (address, key) pairs for `reason` if any (made through the link of `campaign` if its
        token named one) and count (sender, addresses) against its sender; the last new change's
        id. Conflict if it is no longer pending (an erasure took its text while it was read):
        nothing is written. On PostgreSQL, None and nothing written if another instance has
        taken it over meanwhile."""
    async def resolve_message(self, message_id: int, status: str, keys: list[tuple[str, int]], scope: Scope,
                              reason: str, source: str, actor: str, note: str | None) -> int | None:
        """Settle a message under review as `status` (resolved or dismissed) by a person,
        suppressing the (address, key) pairs in `scope`, in one transaction; the last new
        change's id. NotFound if there is no such message, Conflict if it is not under review: a
        second resolve changes nothing."""
    async def review_state(self, due_before: str) -> tuple[int, int, str | None]:
        """(messages under review, how many of them came before `due_before` (overdue), when the
        oldest came or None)."""
    async def sender_requests_since(self, sender: str, since: str) -> int:
        """How many addresses `sender`'s honoured requests naming others have named since a time."""
    async def stored_mail(self) -> StoredMail:
        """Raw mail kept now: in all, per client network and per envelope sender (for the shares
        of max_stored_mail_bytes; see suppression/mail_shares.py)."""
    async def unproven_budget(self, since: str, message_ids: list[int], per_network: int,
                              overall: int) -> tuple[dict[int, str | None], dict[str, int], int]:
        """For a batch of messages: (the client network each came over, by id; the requests
        settled since a time whose proof was none from each of those networks; and from all
        networks), each count up to `per_network` or `overall`: a count at its bound means at
        least that many. Once a batch, not once a message: with the budget lifted, a count reads
        the hour's honoured requests."""
    async def list_messages(self, status: str | None, after: int, limit: int) -> list[StoredMessage]:
        """Up to `limit` messages with ids after `after` (of `status` only, if given), oldest
        first, without their raw text."""
    async def get_message(self, message_id: int) -> StoredMessage | None:
        """One message with its raw text while kept; None if there is no such message."""
    async def claim_reply(self, email: str, day: str) -> bool:
        """Record that `email` is sent a confirmation on `day` (UTC date); False, and nothing
        written, if it was already that day. Committed when it returns."""

    # -- API keys
    async def add_api_key(self, key: ApiKey) -> None:
        """Keep a new key (its hash only). Conflict if a key of that name exists (revoked or not)."""
    async def find_api_key(self, key_id: str) -> ApiKey | None:
        """The key of that id unless it is revoked; None otherwise."""
    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]:
        """(name, scope, created_at, revoked_at) of every key, oldest first; never the hashes."""
    async def revoke_api_key(self, name: str) -> bool:
        """Revoke the key of that name; False if there is none not revoked already."""

    # -- webhooks (the outbox of migration 9: events are appended by triggers, in the
    # transaction of what they report)
    async def sync_receivers(self, urls: list[str]) -> tuple[list[str], list[str]]:
        """Make the configured receivers the kept ones: a new one starts after the newest event
        (it gets what happens from now on; a replay gives it older ones); one no longer configured
        is forgotten. Returns (added, removed). Writes nothing when they are already so (a
        read-only database still starts)."""
    async def receiver(self, url: str) -> Receiver | None:
        """A receiver's progress; None if it is not kept."""
    async def lead_receiver(self, url: str) -> bool:
        """Whether this process delivers to a receiver now: SQLite's one instance always does; on
        PostgreSQL one live instance at a time takes the lead, and a stopped one's passes on."""
    async def backlog(self, cursor: int) -> Backlog:
        """How many events are kept after `cursor`, and when the oldest of them happened."""
    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Up to `limit` events after `seq` in order, each with the change or message it names as
        it is now (an erasure since has replaced the address already)."""
    async def save_delivery(self, url: str, generation: int, cursor: int, attempts: int = 0,
                            failing_since: str | None = None, next_attempt_at: str | None = None,
                            last_error: str | None = None, disabled_reason: str | None = None) -> bool:
        """Save a receiver's progress (disabled with a reason, or enabled with None); False,
        nothing saved, if a replay has happened meanwhile (its generation moved on)."""
    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver:
        """Deliver again every event after `from_seq` (None: from where it is), enabled and with
        its retries reset, as a new generation. NotFound if the receiver is not kept;
        InvalidValue if `from_seq` is past the newest event or events after it are no longer
        all kept."""
    async def prune_events(self, before: str) -> int:
        """Remove events older than `before` that every enabled receiver has had; how many."""


def __getattr__(name: str):
    # Each store loads its driver only when asked for: psycopg for PostgreSQL; for SQLite,
    # aiosqlite and NumPy, which the writer's own process (sqlite_child.py) never needs.
    if name == "SuppressionStore":
        from suppression.store.sqlite import SuppressionStore

        return SuppressionStore
    if name == "PostgresStore":
        from suppression.store.postgresql import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChangeWord", "PostgresStore", "Store", "SuppressionStore"]
