"""Every statement both stores run alike, written once, named, in SQLite's spelling: `?` for a
parameter, and `= ANY(?)` where the parameter is a list. suppression/store/dialect.py turns them
into each dialect's (PostgreSQL: `%s`, and a list passed as an array; SQLite: the list spread
into `IN (?, ?, ...)`, and a new row's id read as lastrowid rather than by `RETURNING id`); what
the dialects spell differently is in sqlite_sql.py and pg_sql.py.

Column names are constants of ours joined in here; values are always parameters. No statement
here holds a literal `?` or `%`.
"""

from suppression.claims import HARD_REASONS
from suppression.store.rows import (
    CHANGE_COLUMNS, CLAIM_COLUMNS, MESSAGE_COLUMNS, RECEIVER_COLUMNS, SCRUBBED, SUPPRESSION_COLUMNS,
)

_MESSAGE = ", ".join(MESSAGE_COLUMNS)
_RECEIVER = ", ".join(RECEIVER_COLUMNS)
HARD_LIST = ", ".join(f"'{reason}'" for reason in sorted(HARD_REASONS))  # constants of ours

# -- claims and the suppressions row they add up to (suppression/claims.py) --------------------

CLAIMS_ON = f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = ? AND topic = ? ORDER BY id"
CLAIMS_OF = f"SELECT {CLAIM_COLUMNS} FROM claims WHERE email = ? ORDER BY topic, id"
TOPICS_CLAIMED = "SELECT DISTINCT topic FROM claims WHERE email = ? ORDER BY topic"
INSERT_CLAIM = (
    "INSERT INTO claims (email, topic, reason, source, actor, created_at, campaign, until)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
DELETE_CLAIMS = "DELETE FROM claims WHERE id = ANY(?)"
DELETE_SUPPRESSION = "DELETE FROM suppressions WHERE email = ? AND topic = ?"
# A page of the list after (email, topic), by its primary key: no read held open between pages.
SUPPRESSIONS_PAGE = (
    f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE (email, topic) > (?, ?) ORDER BY email, topic LIMIT ?"
)
UPDATE_SUPPRESSION = (
    "UPDATE suppressions SET reason = ?, source = ?, created_at = ?, until = ?, hard = ?"
    " WHERE email = ? AND topic = ?"
)
UPSERT_SUPPRESSION = (
    "INSERT INTO suppressions (email, topic, key, reason, source, created_at, until, hard)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email, topic) DO UPDATE SET reason = excluded.reason,"
    " source = excluded.source, created_at = excluded.created_at, until = excluded.until,"
    " hard = excluded.hard"
)
INSERT_CHANGE = (
    "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign, until, state)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)

# -- suppressions -------------------------------------------------------------------------------

SUPPRESSIONS_OF = f"SELECT {SUPPRESSION_COLUMNS} FROM suppressions WHERE email = ? ORDER BY topic"
COUNT_SUPPRESSIONS = "SELECT count(*) FROM suppressions"
# A range of the primary key: no scan.
DOMAIN_ENTRIES = "SELECT email, topic, hard FROM suppressions WHERE email >= '*@' AND email < '*A'"
COUNT_RETURN_REQUEST = (
    "INSERT INTO return_requests (inbox, day, count) VALUES (?, ?, 1) ON CONFLICT (inbox, day)"
    " DO UPDATE SET count = return_requests.count + 1 RETURNING count"
)
RETURN_REQUESTS_OF = "SELECT day, count FROM return_requests WHERE inbox = ? ORDER BY day"
PRUNE_RETURN_REQUESTS = "DELETE FROM return_requests WHERE day < ?"

# -- the change log, and the index's keys ---------------------------------------------------

CHANGES_AFTER = f"SELECT {CHANGE_COLUMNS} FROM changes WHERE id > ? ORDER BY id LIMIT ?"
CHANGES_OF = f"SELECT {CHANGE_COLUMNS} FROM changes WHERE email = ? ORDER BY id"
INDEX_CHANGES_AFTER = "SELECT id, action, email, topic, state, reason FROM changes WHERE id > ? ORDER BY id LIMIT ?"
CHANGE_COUNTS_AFTER = "SELECT action, source, count(*), max(id) FROM changes WHERE id > ? GROUP BY action, source"
NEWEST_CHANGE = "SELECT coalesce(max(id), 0) FROM changes"
DATABASE_ID = "SELECT value FROM meta WHERE key = 'database_id'"
FIRST_LASTING_TOPIC = "SELECT min(topic) FROM suppressions WHERE until IS NULL"
# The next topic by one index seek; DISTINCT would read every row.
NEXT_LASTING_TOPIC = "SELECT min(topic) FROM suppressions WHERE topic > ? AND until IS NULL"
PAUSED_KEYS = "SELECT topic, key, until FROM suppressions WHERE until IS NOT NULL"

# -- erasure and retention ----------------------------------------------------------------

ANY_CLAIM = "SELECT 1 FROM claims WHERE email = ? LIMIT 1"
ANY_SUPPRESSION = "SELECT 1 FROM suppressions WHERE email = ? LIMIT 1"
MOVE_CLAIMS = "UPDATE claims SET email = ? WHERE email = ?"
DELETE_SUPPRESSIONS_OF = "DELETE FROM suppressions WHERE email = ?"
INSERT_ERASURE_CLAIM = (
    "INSERT INTO claims (email, topic, reason, source, actor, created_at) VALUES (?, ?, 'erasure', 'erasure', ?, ?)"
)
TOPICS_OF_CLAIMS = "SELECT DISTINCT topic FROM claims WHERE email = ?"
CHANGE_IDS_OF = "SELECT id FROM changes WHERE email = ? ORDER BY id"
INSERT_ERASE_CHANGE = (
    "INSERT INTO changes (at, action, email, topic, reason, source, actor, detail)"
    " VALUES (?, 'erase', ?, ?, NULL, 'erasure', ?, ?) RETURNING id"
)
INSERT_ERASED_SUBJECT = (
    "INSERT INTO erased_subjects (record, key, sha256_key, md5_key, at, actor) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
DELETE_REPLIES = "DELETE FROM replies WHERE email = ANY(?)"
MOVE_SENDER_REQUESTS = "UPDATE sender_requests SET sender = ? WHERE sender = ANY(?)"
TOPICS_SUPPRESSED = "SELECT topic FROM suppressions WHERE email = ? ORDER BY topic"
SCRUB_MESSAGE = f"UPDATE inbox SET raw = NULL, words = NULL, {', '.join(f'{c} = ?' for c in SCRUBBED)} WHERE id = ?"
UNREAD_TO_REVIEW = "UPDATE inbox SET status = 'review', reasons = ? WHERE id = ?"
ERASED_SUBJECTS = "SELECT record, key, sha256_key, md5_key FROM erased_subjects"
ERASED_DIGESTS = (
    "SELECT s.topic, e.sha256_key, e.md5_key, s.until, s.hard FROM suppressions s JOIN erased_subjects e ON s.email = e.record"
)
PAGE_SIZES = "SELECT id, CASE WHEN raw IS NULL THEN 0 ELSE size END FROM inbox WHERE id > ? ORDER BY id LIMIT ?"
PAGE_MESSAGES = f"SELECT id, raw, {', '.join((*SCRUBBED, 'words'))} FROM inbox WHERE id > ? AND id <= ? ORDER BY id"
MESSAGES_BY_ID = f"SELECT {_MESSAGE}, raw FROM inbox WHERE id = ANY(?) ORDER BY id"
SENDER_REQUEST_KEYS = "SELECT DISTINCT sender FROM sender_requests"
REPLY_KEYS = "SELECT DISTINCT email FROM replies"
REPLIES_TO = "SELECT day, sent_at FROM replies WHERE email = ANY(?) ORDER BY day, sent_at"
SENDER_COUNTS_OF = "SELECT at, message, addresses FROM sender_requests WHERE sender = ANY(?) ORDER BY at, message"

# -- received mail -------------------------------------------------------------------------

STORED_MAIL_BYTES = "SELECT coalesce(sum(size), 0) FROM inbox WHERE raw IS NOT NULL"
# Raw mail kept now, per client network and per envelope sender.
STORED_MAIL_BY_NETWORK = (
    "SELECT network, sum(size) FROM inbox WHERE raw IS NOT NULL AND network IS NOT NULL GROUP BY network"
)
STORED_MAIL_BY_SENDER = "SELECT mail_from, sum(size) FROM inbox WHERE raw IS NOT NULL AND mail_from <> '' GROUP BY mail_from"
MESSAGE_OF_ORIGIN = "SELECT id FROM inbox WHERE origin = ?"
SETTLE_MESSAGE = (
    "UPDATE inbox SET status = ?, reasons = ?, addresses = ?, topic = ?, sender = ?,"
    " subject = ?, message_id = ?, authentication = ?, found = ?, words = ?, processed_at = ?,"
    " proof = ?, report = ? WHERE id = ?"
)
COUNT_SENDER_REQUEST = (
    "INSERT INTO sender_requests (sender, at, message, addresses) SELECT ?, ?, ?, ?"
    " WHERE NOT EXISTS (SELECT 1 FROM sender_requests WHERE message = ?)"
)
RESOLVE_MESSAGE = (
    "UPDATE inbox SET status = ?, addresses = ?, topic = ?, resolved_at = ?, resolved_by = ?, note = ? WHERE id = ?"
)
REVIEW_STATE = (
    "SELECT count(*), count(*) FILTER (WHERE received_at < ?), min(received_at) FROM inbox WHERE status = 'review'"
)


def unproven_counts(index_hint: str = "") -> tuple[str, str]:
    """The unproven requests honoured since a time from one network, and from all, each counted
    up to its limit (the budget needs no more): a flood kept for review is not in the partial
    index `inbox_unproven_honoured` they read, so a count costs at most its limit's rows however
    much mail arrives. `index_hint`: SQLite's planner prefers inbox_status's equality on the
    status, which would read every request ever made; and without the order, PostgreSQL's
    expects a scan that stops at the limit to be cheap, and reads the whole inbox when a flood
    kept for review makes the rows it wants rare."""
    honoured = f"FROM inbox i{index_hint} WHERE i.proof = 'none' AND i.status = 'request' AND i.processed_at > ?"
    newest = "ORDER BY i.processed_at DESC LIMIT ?"  # PostgreSQL then walks the index, however rare its rows
    return (f"SELECT count(*) FROM (SELECT 1 {honoured} AND i.network = ? {newest}) AS n",
            f"SELECT count(*) FROM (SELECT 1 {honoured} {newest}) AS a")


UNPROVEN_FROM_NETWORK, UNPROVEN_FROM_ALL = unproven_counts()
NETWORKS_OF = "SELECT id, network FROM inbox WHERE id = ANY(?)"
SENDER_REQUESTS_SINCE = "SELECT coalesce(sum(addresses), 0) FROM sender_requests WHERE sender = ? AND at > ?"
LIST_MESSAGES = f"SELECT {_MESSAGE} FROM inbox WHERE id > ? ORDER BY id LIMIT ?"
LIST_MESSAGES_OF_STATUS = f"SELECT {_MESSAGE} FROM inbox WHERE status = ? AND id > ? ORDER BY id LIMIT ?"
GET_MESSAGE = f"SELECT {_MESSAGE}, raw FROM inbox WHERE id = ?"
CLAIM_REPLY = "INSERT INTO replies (email, day, sent_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

# -- API keys -------------------------------------------------------------------------------

ADD_API_KEY = "INSERT INTO api_keys (key_id, name, scope, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)"
FIND_API_KEY = "SELECT key_id, name, scope, secret_hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL"
LIST_API_KEYS = "SELECT name, scope, created_at, revoked_at FROM api_keys ORDER BY created_at, name"
REVOKE_API_KEY = "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL"

# -- the webhook outbox (migration 9): events are appended by triggers ----------------------------

RECEIVER_URLS = "SELECT url FROM webhook_receivers"
DELETE_RECEIVER = "DELETE FROM webhook_receivers WHERE url = ?"
INSERT_RECEIVER = "INSERT INTO webhook_receivers (url, cursor, added_at) VALUES (?, ?, ?)"
RECEIVER = f"SELECT {_RECEIVER} FROM webhook_receivers WHERE url = ?"
OLDEST_EVENT = "SELECT min(seq) FROM events"
REPLAY_RECEIVER = (
    "UPDATE webhook_receivers SET cursor = ?, generation = generation + 1, attempts = 0,"
    " failing_since = NULL, next_attempt_at = NULL, last_error = NULL, disabled_at = NULL,"
    f" disabled_reason = NULL WHERE url = ? RETURNING {_RECEIVER}"
)
BACKLOG = "SELECT count(*), min(at) FROM events WHERE seq > ?"
# Each event with the change or message it names as it is now (an erasure since has replaced the address).
EVENTS_AFTER = (
    "SELECT e.seq, e.type, e.at, c.id, c.at, c.action, c.email, c.topic, c.reason, c.source, c.actor,"
    " c.detail, c.campaign, c.until, c.state, i.id, i.received_at, i.reasons, e.uid FROM events e"
    " LEFT JOIN changes c ON c.id = e.change LEFT JOIN inbox i ON i.id = e.message"
    " WHERE e.seq > ? ORDER BY e.seq LIMIT ?"
)
SAVE_DELIVERY = (
    "UPDATE webhook_receivers SET cursor = ?, attempts = ?, failing_since = ?, next_attempt_at = ?,"
    " last_error = ?, disabled_at = CASE WHEN CAST(? AS TEXT) IS NULL THEN NULL ELSE ? END, disabled_reason = ?"
    " WHERE url = ? AND generation = ?"
)
PRUNE_EVENTS = (
    "DELETE FROM events WHERE at < ? AND seq <= coalesce("
    " (SELECT min(cursor) FROM webhook_receivers WHERE disabled_at IS NULL),"
    " (SELECT max(seq) FROM events))"
)

# -- campaigns and statistics ---------------------------------------------------------------
# Counts come from `daily_changes`, the rollup the change log's triggers keep (schema.py and
# pg_schema.py: the table in migration 14, the triggers in 17); the desk's days from the inbox's
# own timestamps.

# What a `by` groups on: its column of daily_changes. Constants of ours, joined into the SQL.
COLUMNS = {"day": "day", "campaign": "campaign", "topic": "topic", "source": "source", "reason": "reason",
           "why": "why"}


def counts(by: tuple[str, ...]) -> str:
    """created and lifted per value of the `by` columns, days from ? to ? (both included)."""
    columns = ", ".join(COLUMNS[name] for name in by)
    return (f"SELECT {columns}, CAST(sum(created) AS BIGINT), CAST(sum(lifted) AS BIGINT) FROM daily_changes"
            f" WHERE day >= ? AND day <= ? GROUP BY {columns}")


# Per campaign: its counts in the range, and its send count if recorded; a campaign recorded in
# the range with nothing counted yet is a row of zeros (a send nobody left is news too).
CAMPAIGN_COUNTS = (
    "SELECT k.campaign, CAST(sum(k.created) AS BIGINT), CAST(sum(k.lifted) AS BIGINT), c.sent FROM ("
    " SELECT campaign, created, lifted FROM daily_changes WHERE day >= ? AND day <= ?"
    " UNION ALL SELECT id, 0, 0 FROM campaigns WHERE created_at >= ? AND created_at < ?"
    ") k LEFT JOIN campaigns c ON c.id = k.campaign GROUP BY k.campaign, c.sent"
)

RECORD_SENT = (
    "INSERT INTO campaigns (id, sent, created_at, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET sent = excluded.sent, updated_at = excluded.updated_at"
)


def desk_days(days: int) -> str:
    """Per day (rows of VALUES (day, next day, overdue-before)): messages put before a person that
    came, that a person settled, and that were overdue at the day's end. Then: the first day
    and the day after the last, bounding the messages read."""
    values = ", ".join(["(?, ?, ?)"] * days)
    return (
        f"WITH days (day, day_end, due_before) AS (VALUES {values}),"
        " desk AS (SELECT received_at, resolved_at FROM inbox WHERE status IN ('review', 'resolved', 'dismissed')"
        " AND (resolved_at IS NULL OR resolved_at >= ?) AND received_at < ?)"
        " SELECT d.day,"
        " (SELECT count(*) FROM desk WHERE received_at >= d.day AND received_at < d.day_end),"
        " (SELECT count(*) FROM desk WHERE resolved_at >= d.day AND resolved_at < d.day_end),"
        " (SELECT count(*) FROM desk WHERE received_at < d.due_before"
        " AND (resolved_at IS NULL OR resolved_at >= d.day_end))"
        " FROM days d ORDER BY d.day"
    )
