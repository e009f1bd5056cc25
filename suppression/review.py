"""The review desk's decisions: received mail a person must decide, listed, read, resolved.

A message the reader could not decide waits here ("review") until someone suppresses what it
names or dismisses it with a note, within [review] due_hours of its arrival. Resolving is a
write like any other: the change it returns goes into the live index before the answer.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from suppression.addresses import normalise_address
from suppression.config import Settings
from suppression.errors import InvalidValue, NotFound
from suppression.index.live import LiveIndex
from suppression.model import ALL_EMAILS, Reason, Scope, Source, Status, StoredMessage, row_number, seconds_since, utc_iso
from suppression.store import Store

INBOX_STATUSES = tuple(status.value for status in Status)  # plain strings: argparse shows their repr
RESOLVE_ACTIONS = ("suppress", "dismiss")
MAX_NOTE_CHARS = 2000
MAX_PAGE = 10_000
_REASON_OF_REPORT = {"delivery-status": Reason.BOUNCE, "feedback-report": Reason.COMPLAINT}


@dataclass(frozen=True)
class ReviewState:
    open: int
    overdue: int
    oldest_age_seconds: float


class Review:
    """The desk: pages of received mail, one message, a person's decision on one, how it stands.
    `known_scope` is the service's (a topic must be configured)."""

    def __init__(self, settings: Settings, store: Store, live: LiveIndex, known_scope: Callable[[Scope], Scope]):
        self.settings = settings
        self.store = store
        self.live = live
        self.known_scope = known_scope

    async def inbox(self, status: str | None, after: str | None, limit: int) -> tuple[list[StoredMessage], str]:
        """A page of received mail, optionally of one status, and the cursor to ask for next."""
        if status is not None and status not in INBOX_STATUSES:
            raise InvalidValue(f"unknown status {status[:32]!r} (one of: {', '.join(INBOX_STATUSES)})")
        position = page_cursor(after)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidValue(f"limit must be from 1 to {MAX_PAGE}")
        page = await self.store.list_messages(status, position, limit)
        return page, str(page[-1].id if page else position)

    async def inbox_message(self, message_id: int) -> StoredMessage:
        found = await self.store.get_message(message_id)
        if found is None:
            raise NotFound(f"no received message {message_id}")
        return found

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
            await self.store.resolve_message(message_id, Status.DISMISSED, [], ALL_EMAILS, "", "", actor, note)
            return await self.inbox_message(message_id)
        scope = self.known_scope(scope)
        if emails is not None:
            if not emails:
                raise InvalidValue("`emails` must name at least one address (or be left out)")
            addresses = list(dict.fromkeys(normalise_address(e) for e in emails))
        else:
            addresses = list(message.found) or [normalise_address(message.sender or message.mail_from)]
        keys = self.live.stored_keys(addresses)
        reason = _REASON_OF_REPORT.get(message.report, Reason.UNSUBSCRIBE)  # what the reader found, not a parse here
        change_id = await self.store.resolve_message(
            message_id, Status.RESOLVED, keys, scope, reason, Source.DESK, actor, note,
        )
        await self.live.took(change_id)
        return await self.inbox_message(message_id)

    async def review_state(self) -> ReviewState:
        """The messages a person must decide: how many, how many overdue, the oldest's age."""
        now = datetime.now(timezone.utc)
        due_before = utc_iso(now - timedelta(hours=self.settings.review.due_hours))
        open_, overdue, oldest = await self.store.review_state(due_before)
        return ReviewState(open_, overdue, seconds_since(oldest, now) if oldest else 0.0)

    def due(self, message: StoredMessage) -> str:
        """When a person must have decided a message: its arrival plus [review] due_hours."""
        return self.due_after(message.received_at)

    def due_after(self, received_at: str) -> str:
        return utc_iso(datetime.fromisoformat(received_at) + timedelta(hours=self.settings.review.due_hours))


def page_cursor(after: str | None) -> int:
    """A page's position from the `next` of an earlier page (the change feed's and the inbox's)."""
    if after in (None, ""):
        return 0
    position = row_number(after)  # ASCII digits a database integer holds, never int()'s wider reading
    if position is None:
        raise InvalidValue("the cursor must be a value of `next` from an earlier page")
    return position
