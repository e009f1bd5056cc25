"""What SQLite spells differently from PostgreSQL (the rest is in sql.py, once), and what only
the SQLite store runs. SQLite's `?` placeholders."""

from suppression.store.rows import SCRUBBED
from suppression.store.sql import unproven_counts

# The index's hard keys, by the partial index `suppressions_hard ... WHERE hard = 1`: the query
# must say `hard = 1` for SQLite to use it (PostgreSQL's hard is a boolean).
HARD_KEYS = "SELECT topic, key FROM suppressions WHERE hard = 1"
LASTING_KEYS = "SELECT key FROM suppressions WHERE topic = ? AND until IS NULL"

# What the person wrote about why they left may name them: it goes, the choice stays.
PSEUDONYMISE_CHANGES = (
    "UPDATE changes SET email = ?, detail = CASE WHEN detail IS NULL THEN NULL"
    " ELSE json_remove(detail, '$.why_text') END WHERE email = ?"
)

# One writer: no row lock to take (PostgreSQL's FOR UPDATE), and no instances to claim messages
# for (its claimed_by column: always NULL here).
MESSAGE_TO_SCRUB = f"SELECT size, raw IS NOT NULL, status, {', '.join(SCRUBBED)} FROM inbox WHERE id = ?"
MESSAGE_TO_SETTLE = "SELECT NULL, status FROM inbox WHERE id = ?"
MESSAGE_TO_RESOLVE = "SELECT status FROM inbox WHERE id = ?"
RECEIVER_CURSOR = "SELECT cursor FROM webhook_receivers WHERE url = ?"
# Numbered parameters: the tenth, the instance that claims the message, has no column here.
INSERT_MESSAGE = (
    "INSERT INTO inbox (received_at, mail_from, rcpt_to, size, raw, status, reasons, processed_at, origin,"
    " network) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11)"
)
PENDING_MESSAGES = (
    "SELECT id, raw, mail_from FROM inbox WHERE status = 'pending' AND id <> ALL(?) ORDER BY id LIMIT ?"
)
PENDING_MESSAGES_OF = "SELECT id, raw, mail_from FROM inbox WHERE status = 'pending' AND id = ANY(?)"

# AUTOINCREMENT keeps the highest number ever given, even once those events are pruned.
NEWEST_SEQ = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"

RAW_BEFORE = (
    "SELECT count(*), coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL AND received_at < ?"
    " AND status NOT IN ('pending', 'review')"
)
REMOVE_RAW_BEFORE = (
    "UPDATE inbox SET raw = NULL, words = NULL WHERE raw IS NOT NULL AND received_at < ?"
    " AND status NOT IN ('pending', 'review')"
)
PING = "SELECT 1 FROM changes LIMIT 1"


def stored_detail(detail: str) -> str:
    """A change's detail as stored: SQLite keeps any JSON text."""
    return detail


UNPROVEN_FROM_NETWORK, UNPROVEN_FROM_ALL = unproven_counts(" INDEXED BY inbox_unproven_honoured")
