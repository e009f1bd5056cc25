"""The one door's shape: what the service asks of a store. Two implement it, the embedded SQLite
file (suppression/store.py) and a shared PostgreSQL database (suppression/pg_store.py); only the
service (SuppressionService.of_settings) makes one, and nothing else holds one.

Every method may raise StoreUnavailable (an HTTP 503 or an SMTP 451 with the reason); a write
returns once committed, and returns the id of the change it logged (None: it changed nothing),
so the service puts it into the index without reading it back. Scopes cross this door as
`Scope`; each store keeps its own spelling of one in its columns (suppression/rows.py).
"""

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

import numpy as np

from suppression.apikeys import ApiKey
from suppression.index import ScopeRows
from suppression.mail_shares import StoredMail
from suppression.model import Change, Claim, ImportRow, Outcome, Placed, Scope, StoredMessage, Suppression, Traces
from suppression.outbox import Backlog, Event, Receiver


class ChangeWord(Protocol):
    """How far the change log has got, as this process knows it without a query."""

    def read(self) -> int: ...

    def heard(self) -> int:
        """The newest change another instance announced (NOTIFY) that this process has heard of;
        0 where there are no other instances."""


class Store(Protocol):
    # The newest change a check in this process must see: one this process or the CLI
    # acknowledged (CONTRACT §8), waited for up to a second. Other instances' changes are
    # `heard()`: a check waits for them only OTHER_WRITES_SECONDS, so a database that does not
    # answer (a restart, a failover) never holds a check.
    signal: ChangeWord | None
    stored_mail_bytes: int
    # False from a failure to reach the database until it answers again: a check then asks it
    # nothing (its details are left out) rather than wait for a reconnect.
    reachable: bool

    # -- life cycle, and the other processes sharing the store
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def join(self) -> None: ...
    def note_followed(self, cursor: int) -> None: ...
    async def reset_signal(self) -> None: ...
    def announce_writes(self) -> None: ...
    async def wait_for_writes(self, timeout: float) -> None: ...
    @property
    def write_problem(self) -> str | None: ...
    async def ping(self) -> bool: ...

    # -- suppressions (the claims on them, suppression/claims.py) and the change log
    async def suppress(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                       detail: str | None = None) -> tuple[Suppression, int | None]:
        """claim() without campaign or end: (the suppression as it stands, the change id or None)."""
    async def claim(self, email: str, key: int, scope: Scope, reason: str, source: str, actor: str,
                    detail: str | None = None, campaign: str | None = None, until: str | None = None) -> Placed:
        """Record one party's claim on (email, scope) unless the same one (reason, source, end)
        stands already, and make the suppressions row what the claims add up to. Each new claim
        logs a `suppress` change carrying it and the scope's standing after it (`state`)."""
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
        """Add every row not suppressed already, in one transaction; how many were added. Its
        changes are counted in daily_changes like any other (SQLite: by the import's own
        statements; PostgreSQL: by the change log's statement trigger)."""
    # `free_within`: for a check's read, the seconds to wait for a free connection at most (a
    # shared store's pool): it does not queue behind writes, nor pile up while the database is away.
    async def suppressions_of(self, email: str, free_within: float | None = None) -> list[Suppression]: ...
    def iter_suppressions(self, batch: int = 10_000) -> AsyncIterator[Suppression]: ...
    async def count(self) -> int: ...
    async def domain_entries(self) -> list[tuple[str, Scope, bool]]:
        """(entry, scope, hard) of every "*@DOMAIN" suppression."""
    async def changes_after(self, after: int, limit: int) -> list[Change]: ...
    async def changes_of(self, email: str) -> list[Change]: ...
    async def index_changes_after(self, after: int, limit: int) -> list[tuple[int, str, str, Scope, str]]:
        """(id, action, email, scope, standing after it) of changes after a cursor: what keeps the index in step."""
    async def change_counts_after(self, after: int) -> list[tuple[str, str, int, int]]:
        """(action, source, how many, the newest id) of the changes logged after a cursor, by
        whichever process wrote them: what suppression_changes_total counts."""
    async def newest_change(self) -> int: ...
    async def identity(self) -> tuple[str, int]: ...
    async def load_index_keys(self) -> tuple[int, dict[Scope, np.ndarray]]: ...
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
        audit trail (pseudonymised, and an `erase` change naming the cursors replaced), the
        messages `traces` found (raw text and own words removed, every other column passed through
        `scrub`), and the replies and rate-limit rows it found (deleted; pseudonymised). Returns
        (scopes suppressed, the erase change's id, bytes of raw mail removed)."""
    async def scrub_messages(self, ids: list[int], scrub: Callable[[str | None], str | None]) -> int:
        """As erase does to its messages, for messages that came during its search; bytes removed."""
    async def truncate_journal(self, attempts: int = 50) -> bool: ...
    async def remove_raw_before(self, before: str) -> tuple[int, int]: ...
    async def erased_subject_rows(self) -> list[tuple[str, int, int, int]]: ...
    async def erased_digest_rows(self) -> list[tuple[Scope, int, int]]: ...
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
        it came from (ratelimit.client_network), counted by unproven_requests_since.
        """
    async def pending_messages(self, limit: int) -> list[tuple[int, bytes, str]]: ...
    async def settle_message(self, message_id: int, outcome: Outcome, keys: list[tuple[str, int]],
                             reason: str | None, source: str, actor: str,
                             counted: tuple[str, int] | None = None, campaign: str | None = None) -> int | None:
        """Record what reading a pending message decided (and suppress what it names, made through
        the link of `campaign` if its token named one, and count it against its sender); the last
        new change's id. Conflict if it is no longer pending (an
        erasure took its text while it was read): nothing is written."""
    async def resolve_message(self, message_id: int, status: str, keys: list[tuple[str, int]], scope: Scope,
                              reason: str, source: str, actor: str, note: str | None) -> int | None: ...
    async def review_state(self, due_before: str) -> tuple[int, int, str | None]: ...
    async def sender_requests_since(self, sender: str, since: str) -> int: ...
    async def stored_mail(self) -> StoredMail:
        """Raw mail kept now: in all, per client network and per envelope sender (for the shares
        of max_stored_mail_bytes; see suppression/mail_shares.py)."""
    async def unproven_requests_since(self, since: str, message_id: int) -> tuple[str | None, int, int]:
        """(the client network message `message_id` came over, requests settled since a time whose
        proof was none from that network, and from all networks)."""
    async def list_messages(self, status: str | None, after: int, limit: int) -> list[StoredMessage]: ...
    async def get_message(self, message_id: int) -> StoredMessage | None: ...
    async def claim_reply(self, email: str, day: str) -> bool: ...

    # -- API keys
    async def add_api_key(self, key: ApiKey) -> None: ...
    async def find_api_key(self, key_id: str) -> ApiKey | None: ...
    async def list_api_keys(self) -> list[tuple[str, str, str, str | None]]: ...
    async def revoke_api_key(self, name: str) -> bool: ...

    # -- webhooks
    async def sync_receivers(self, urls: list[str]) -> tuple[list[str], list[str]]: ...
    async def receiver(self, url: str) -> Receiver | None: ...
    async def lead_receiver(self, url: str) -> bool: ...
    async def backlog(self, cursor: int) -> Backlog: ...
    async def events_after(self, seq: int, limit: int) -> list[Event]: ...
    async def save_delivery(self, url: str, generation: int, cursor: int, attempts: int = 0,
                            failing_since: str | None = None, next_attempt_at: str | None = None,
                            last_error: str | None = None, disabled_reason: str | None = None) -> bool: ...
    async def replay_receiver(self, url: str, from_seq: int | None) -> Receiver: ...
    async def prune_events(self, before: str) -> int: ...
