"""Row mapping, in one place for both stores: how a row reads into the model
(suppression/model.py): the columns, in order, the JSON lists among them, and the stored
spelling of a scope (the topic column: "" for all emails in suppressions and changes, NULL in a
message's row)."""

import json

from suppression.model import Change, Claim, Scope, Source, StoredMessage, Suppression

# Column names are constants of ours, joined into the SELECT; values are always parameters.
MESSAGE_COLUMNS = (
    "id", "received_at", "mail_from", "rcpt_to", "size", "status", "reasons", "addresses",
    "topic", "sender", "subject", "message_id", "processed_at", "authentication", "found", "words",
    "resolved_at", "resolved_by", "note", "proof", "report",
)

# The text columns of a message that can hold an address; raw and words are removed outright.
SCRUBBED = ("sender", "mail_from", "rcpt_to", "subject", "message_id", "authentication", "reasons", "addresses",
            "found", "note", "resolved_by")

RECEIVER_COLUMNS = ("url", "cursor", "generation", "added_at", "attempts", "failing_since", "next_attempt_at",
                    "last_error", "disabled_at", "disabled_reason")


SUPPRESSION_COLUMNS = "email, topic, reason, source, created_at, until, hard"
CHANGE_COLUMNS = "id, at, action, email, topic, reason, source, actor, detail, campaign, until, state"
CLAIM_COLUMNS = "id, email, topic, reason, source, actor, created_at, campaign, until"


def source_of_stored(source: str) -> str:
    """A stored source in today's words. Before migration 18 a decision at the review desk was
    written with the message as its source ("email:N", its actor the person who decided); it is
    the source "desk" now. Migration 18 rewrote the claims and suppressions; the change log, which
    nothing may rewrite, keeps what was written and reads as this."""
    return Source.DESK if source.startswith("email:") else source


def suppression_of_row(row) -> Suppression:
    # A row of the columns before claims (migration 15) reads as one with no end, not hard.
    email, topic, reason, source, since, until, hard = (*row, None, False)[:7]
    return Suppression(email, Scope.of_stored(topic), reason, source_of_stored(source), since, until, bool(hard))


def change_of_row(row) -> Change:
    change_id, at, action, email, topic, reason, source, actor, detail, campaign, until, state = (
        *row, None, None, None)[:12]
    return Change(change_id, at, action, email, Scope.of_stored(topic), reason, source_of_stored(source), actor,
                  detail, campaign, until, state)


def claim_of_row(row) -> Claim:
    claim_id, email, topic, reason, source, actor, since, campaign, until = row
    return Claim(claim_id, email, Scope.of_stored(topic), reason, source_of_stored(source), actor, since, campaign,
                 until)


def message_of_row(row, raw: bytes | None = None) -> StoredMessage:
    values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
    for name in ("rcpt_to", "reasons", "addresses", "found"):
        values[name] = json.loads(values[name]) if values[name] else []
    values["scope"] = Scope.of_topic(values.pop("topic"))
    return StoredMessage(**values, raw=raw)


def last_of_page(sizes: list[tuple[int, int]], max_bytes: int) -> int:
    """The last message id of a page of stored mail: (id, size) in id order, taken while their
    sizes add up to at most `max_bytes` (always at least one, however large)."""
    last, total = sizes[0][0], 0
    for message_id, size in sizes:
        if total and total + size > max_bytes:
            break
        last, total = message_id, total + size
    return last


def claimed_first(first: list[int] | None, skip: list[int], limit: int) -> list[int]:
    """The ids of `first` a claim of pending mail takes before the oldest: once each, in order,
    none that is skipped, at most `limit` (Store.pending_messages)."""
    return [i for i in dict.fromkeys(first or ()) if i not in skip][:limit]
