"""What PostgreSQL spells differently from SQLite (the rest is in sql.py, once), and what only
the PostgreSQL store runs: row locks, instances and their claims, arrays. psycopg's `%s`."""

from suppression.store.rows import SCRUBBED

HARD_KEYS = "SELECT topic, key FROM suppressions WHERE hard"

PSEUDONYMISE_CHANGES = (
    "UPDATE changes SET email = %s, detail = CASE WHEN detail IS NULL THEN NULL"
    " ELSE (detail::jsonb - 'why_text')::text END WHERE email = %s"
)

# Rows a write reads and then changes are locked (FOR UPDATE): other instances write too.
MESSAGE_TO_SCRUB = f"SELECT size, raw IS NOT NULL, status, {', '.join(SCRUBBED)} FROM inbox WHERE id = %s FOR UPDATE"
MESSAGE_TO_SETTLE = "SELECT claimed_by, status FROM inbox WHERE id = %s FOR UPDATE"
MESSAGE_TO_RESOLVE = "SELECT status FROM inbox WHERE id = %s FOR UPDATE"
RECEIVER_CURSOR = "SELECT cursor FROM webhook_receivers WHERE url = %s FOR UPDATE"
INSERT_MESSAGE = (
    "INSERT INTO inbox (received_at, mail_from, rcpt_to, size, raw, status, reasons, processed_at, origin,"
    " claimed_by, network) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
)
# Claim messages not yet handled: unclaimed, this instance's own, or a stopped instance's. The
# text of those larger than %(inline)s bytes comes by itself (PENDING_RAW): the rows of a claim
# are read in one step of the loop.
# Picked once (MATERIALIZED): as `UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP
# LOCKED)` the planner may run the subquery more than once, and a claim of 2 took 3 rows.
_CLAIM = "WITH picked AS MATERIALIZED (SELECT id FROM inbox WHERE status = 'pending'"
_CLAIMABLE = (" AND (claimed_by IS NULL OR claimed_by = %(me)s OR claimed_by NOT IN (SELECT id FROM instances"
              " WHERE seen_at > now() - make_interval(secs => %(alive)s)))")
_CLAIMED = (" FOR UPDATE SKIP LOCKED) UPDATE inbox SET claimed_by = %(me)s FROM picked WHERE inbox.id = picked.id"
            " RETURNING inbox.id, CASE WHEN inbox.size <= %(inline)s THEN inbox.raw END, inbox.mail_from")
CLAIM_PENDING = _CLAIM + " AND id <> ALL(%(skip)s::bigint[])" + _CLAIMABLE + " ORDER BY id LIMIT %(limit)s" + _CLAIMED
# The same for the messages named, whatever their age (suppression/turns.py).
CLAIM_PENDING_OF = _CLAIM + " AND id = ANY(%(first)s::bigint[])" + _CLAIMABLE + _CLAIMED
PENDING_RAW = "SELECT raw FROM inbox WHERE id = %s"

# The sequence keeps the highest number ever given, even once those events are pruned.
NEWEST_SEQ = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_seq_seq"

REMOVE_RAW_BEFORE = (
    "WITH removed AS (UPDATE inbox SET raw = NULL, words = NULL WHERE raw IS NOT NULL"
    " AND received_at < %s AND status NOT IN ('pending', 'review') RETURNING size)"
    " SELECT count(*), coalesce(sum(size), 0) FROM removed"
)
PING = "SELECT 1"

# -- webhook receivers: one live instance delivers to each --------------------------------------
LEAD_HOLDER = (
    "SELECT leased_by FROM webhook_receivers WHERE url = %s AND leased_by IS NOT NULL AND leased_by IN"
    " (SELECT id FROM instances WHERE seen_at > now() - make_interval(secs => %s))"
)
TAKE_LEAD = (
    "UPDATE webhook_receivers SET leased_by = %(me)s WHERE url = %(url)s"
    " AND (leased_by IS NULL OR leased_by = %(me)s OR leased_by NOT IN (SELECT id FROM instances"
    " WHERE seen_at > now() - make_interval(secs => %(alive)s)))"
)

# -- instances ----------------------------------------------------------------------------------
BEAT = (
    "INSERT INTO instances (id, cursor, seen_at) VALUES (%s, %s, now())"
    " ON CONFLICT (id) DO UPDATE SET cursor = excluded.cursor, seen_at = now()"
)
LEAVE = "DELETE FROM instances WHERE id = %s"
FORGET_STALE_INSTANCES = "DELETE FROM instances WHERE seen_at < now() - make_interval(secs => %s)"
INSTANCES_BEHIND = "SELECT count(*) FROM instances WHERE cursor < %s AND seen_at > now() - make_interval(secs => %s)"

# -- transactions ---------------------------------------------------------------------------
LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, true)"
ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(%s)"
READ_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"


def stored_detail(detail: str) -> str:
    """An escaped NUL in a change's detail as U+FFFD: jsonb (used by erasure) refuses it."""
    return detail.replace("\\u0000", "\\ufffd")
