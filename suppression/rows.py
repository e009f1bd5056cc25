"""How both stores read a received message's row into the model (suppression/model.py): the
columns, in order, and the JSON lists among them."""

import json

from suppression.model import StoredMessage

# Column names are constants of ours, joined into the SELECT; values are always parameters.
MESSAGE_COLUMNS = (
    "id", "received_at", "mail_from", "rcpt_to", "size", "status", "reasons", "addresses",
    "topic", "sender", "subject", "message_id", "processed_at", "authentication", "found", "words",
    "resolved_at", "resolved_by", "note",
)

# The text columns of a message that can hold an address; raw and words are removed outright.
SCRUBBED = ("sender", "mail_from", "rcpt_to", "subject", "message_id", "authentication", "reasons", "addresses",
            "found", "note", "resolved_by")

RECEIVER_COLUMNS = ("url", "cursor", "generation", "added_at", "attempts", "failing_since", "next_attempt_at",
                    "last_error", "disabled_at", "disabled_reason")


def message_of_row(row, raw: bytes | None = None) -> StoredMessage:
    values = dict(zip(MESSAGE_COLUMNS, row, strict=True))
    for name in ("rcpt_to", "reasons", "addresses", "found"):
        values[name] = json.loads(values[name]) if values[name] else []
    return StoredMessage(**values, raw=raw)


def quoted_in_json_list(email: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for an address inside a JSON list column: the lists hold the
    canonical address in quotes; LIKE's own characters are escaped."""
    return '%"' + email.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
