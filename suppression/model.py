"""The domain's model of what is kept: suppressions, changes and received messages, as the
store returns them and the handlers serialise them (suppression/records.py)."""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import ClassVar, NamedTuple

ALL_NAME = "all"  # the name of "all emails" on pages and in a suppression record's `scope`


class Scope(NamedTuple):
    """What a suppression covers: all emails (`topic` None) or one topic. The one spelling of
    "all emails" inside the service; each edge has its own, converted here and only here: the
    database's topic column keeps "" (`of_stored`, `stored`); the API, the CLI and a CSV's
    topic cell a missing, null or empty topic (`of_topic`, `topic`); pages and a suppression
    record's `scope` field "all" (`named`, `name`). A tuple, so that the index's per-check
    lookups by scope hash in C."""

    topic: str | None = None

    @classmethod
    def of_topic(cls, topic: str | None) -> "Scope":
        return ALL_EMAILS if not topic else cls(topic)

    @classmethod
    def of_stored(cls, text: str) -> "Scope":
        return ALL_EMAILS if text == "" else cls(text)

    @classmethod
    def named(cls, name: str) -> "Scope":
        return ALL_EMAILS if name == ALL_NAME else cls.of_topic(name)

    @property
    def everything(self) -> bool:
        return self.topic is None

    @property
    def stored(self) -> str:
        return "" if self.topic is None else self.topic

    @property
    def name(self) -> str:
        return ALL_NAME if self.topic is None else self.topic


ALL_EMAILS = Scope(None)


# The service's words, one spelling each. Each is a StrEnum: a member is the very string that is
# stored, returned and compared, so the database, the API and the contract see the same text.


class Status(StrEnum):
    """Where a received message stands (the inbox's `status`): waiting to be read, what the
    reader decided, or how a person ended it at the review desk."""

    PENDING = "pending"  # stored, not yet read
    REQUEST = "request"  # a request, honoured by the reader
    AUTOMATIC = "automatic"  # an auto-reply or other automatic mail: nothing to do
    BOUNCE = "bounce"  # a bounce; the recipients it proves ours are suppressed
    COMPLAINT = "complaint"  # a spam complaint (ARF); likewise
    REVIEW = "review"  # a person must decide
    RESOLVED = "resolved"  # decided at the desk: suppressions made
    DISMISSED = "dismissed"  # decided at the desk: nothing to do
    POSTMASTER = "postmaster"  # mail for postmaster, kept, never a request


class Reason(StrEnum):
    """Why an address is suppressed (a claim's and a change's `reason`)."""

    UNSUBSCRIBE = "unsubscribe"  # the person's own opt-out
    COMPLAINT = "complaint"
    BOUNCE = "bounce"
    MANUAL = "manual"  # an admin's entry; the API's and the CLI's default
    IMPORT = "import"
    BLOCK = "block"  # never mail this address, receipts included
    PAUSE = "pause"  # the person's own pause from the preference centre
    ERASURE = "erasure"  # the entry an erasure keeps of an address that was not suppressed


class Source(StrEnum):
    """Where a change came from (docs/api.md): a fixed set, so statistics can count by it. Who
    made it is its Actor."""

    LINK = "link"  # the preference centre's form
    ONE_CLICK = "one-click"  # a mail provider's RFC 8058 POST
    EMAIL = "email"  # a request by mail the reader honoured (its actor names the message)
    DESK = "desk"  # a message a person decided at the review desk (its actor is that person)
    API = "api"
    CLI = "cli"
    IMPORT = "import"
    RETURN = "return"  # a person's confirmed return lifting their own opt-out
    ERASURE = "erasure"  # the entry an erasure keeps of an address that was not suppressed


class Role(StrEnum):
    """What an API key may do; each includes those before it: check reads one address at a time
    (and the bulk check), sync also reads the whole list (the feed, the history), admin also
    writes. Called `scope` outside (the CLI's `--scope`, `apikey list`)."""

    CHECK = "check"
    SYNC = "sync"
    ADMIN = "admin"


class Actor(str):
    """Who made a change, as the audit trail keeps it (docs/api.md). A str, stored and returned
    as is; each kind is spelled here and only here."""

    __slots__ = ()

    RECIPIENT: ClassVar["Actor"]  # the person holding a link (one-click, the page)
    CONFIRMATION: ClassVar["Actor"]  # the person, proven by the confirmation mail they received
    CLI: ClassVar["Actor"]  # the CLI when the operating system names no user

    @classmethod
    def of_api_key(cls, name: str) -> "Actor":
        """An API key, by its name."""
        return cls(f"api:{name}")

    @classmethod
    def of_desk(cls, name: str) -> "Actor":
        """A person signed in at /admin/ with the key of that name."""
        return cls(f"desk:{name}")

    @classmethod
    def of_cli_user(cls, user: str) -> "Actor":
        """The CLI, run by that operating-system user."""
        return cls(f"cli:{user}")

    @classmethod
    def of_message(cls, message_id: int) -> "Actor":
        """The person who sent a received message the reader honoured, named by that message."""
        return cls(f"email:{message_id}")


Actor.RECIPIENT = Actor("recipient")
Actor.CONFIRMATION = Actor("confirmation")
Actor.CLI = Actor("cli")


@dataclass(frozen=True)
class Suppression:
    """An address's suppression for one scope: what the claims on it add up to (suppression/claims.py),
    shown by one of them (the earliest standing without end, else the pause that ends last)."""

    email: str
    scope: Scope
    reason: str
    source: str
    since: str
    until: str | None = None  # set when only pauses hold it: suppressed until then, then not
    hard: bool = False  # a bounce, complaint or block without end holds it: counts for transactional mail


@dataclass(frozen=True)
class Claim:
    """One party's request that an address not be mailed (for a scope): kept until lifted."""

    id: int
    email: str
    scope: Scope
    reason: str
    source: str
    actor: str
    since: str
    campaign: str | None = None
    until: str | None = None  # a pause: it holds until then


class Placed(NamedTuple):
    """What adding a claim did: the suppression as it stands, the claim (new, or the same one
    standing already), the change logged (None: nothing new) and whether the suppression is
    new: the new claim is the one it shows (it was not suppressed, or only pauses held it
    that end sooner)."""

    suppression: Suppression
    claim: Claim
    change_id: int | None
    created: bool


@dataclass(frozen=True)
class Change:
    id: int
    at: str
    action: str  # suppress, unsuppress or erase
    email: str  # canonical address, or an erased address's keyed hash ("erased:...")
    scope: Scope
    reason: str | None
    source: str
    actor: str
    detail: str | None = None  # JSON; for an erase, the cursors whose address it replaced
    campaign: str | None = None  # the campaign of the link the claim was made through
    until: str | None = None  # the claim's own end (a pause)
    state: str | None = None  # the scope's standing after it (suppression/claims.py); None before migration 15


@dataclass(frozen=True)
class Outcome:
    """What handling a received message decided, and why."""

    status: str
    reasons: list[str]
    addresses: list[str]
    scope: Scope
    sender: str | None
    subject: str | None
    message_id: str | None
    authentication: str | None  # the trusted MTA's verdict on the sender
    found: list[str] = field(default_factory=list)  # addresses the reader found, for a person
    words: str | None = None  # the person's own words, as the reader saw them
    proof: str | None = None  # for a request: how it proved whose address it is (token, reply, dmarc, none)
    report: str | None = None  # a machine report's type (delivery-status, feedback-report)


@dataclass(frozen=True, kw_only=True)
class StoredMessage(Outcome):
    """A received message as kept: its envelope and its outcome (pending until handled)."""

    id: int
    received_at: str
    mail_from: str
    rcpt_to: list[str]
    size: int
    processed_at: str | None
    resolved_at: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    raw: bytes | None = None  # only when asked for


@dataclass(frozen=True)
class Traces:
    """Where a person is held besides their suppressions and audit trail, as an erasure's or an
    access export's search found them (suppression/subject_search.py)."""

    messages: tuple[int, ...] = ()  # ids of received messages from or naming them
    senders: tuple[str, ...] = ()  # sender_requests.sender values that are they (per-sender limit)
    replies: tuple[str, ...] = ()  # replies.email values that are they (confirmations sent)
    searched_to: int = 0  # the newest message id the search read: later ones are searched again


# Why a message not yet read when an erasure removed its text is put before a person.
UNREAD_ERASED = "its text was erased (the right to erasure) before it was read; decide it by hand"


@dataclass(frozen=True)
class ImportRow:
    email: str
    scope: Scope
    reason: str
    key: int  # signed form of the index key
    line: int


def utc_now() -> str:
    return utc_iso(datetime.now(timezone.utc))


def seconds_since(text: str, now: datetime | None = None) -> float:
    """Seconds from a stored timestamp (utc_iso) until `now` (default: this moment); never negative."""
    return max(0.0, ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(text)).total_seconds())


def utc_iso(moment: datetime) -> str:
    """Timestamps are ISO 8601 UTC with milliseconds, so text order is time order."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def row_number(text: str) -> int | None:
    """The value of a string of ASCII digits if a database integer (signed 64-bit) holds it; None
    for anything else. int() would also read "+1", "1_0" and the digits of other scripts."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= 19 and int(digits) < 2**63 else None


def signed64(key: int) -> int:
    """Index keys are unsigned 64-bit; databases keep signed 64-bit integers."""
    return key - (1 << 64) if key >= (1 << 63) else key
