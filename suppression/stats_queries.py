"""The statements of statistics, written once for both stores: SQLite's `?` placeholders, which
the PostgreSQL store turns into `%s` (no statement here holds a literal question mark).

Counts come from `daily_changes`, the rollup the change log's triggers keep (schema.py and
pg_schema.py: the table in migration 14, the triggers in 17); the desk's days from the inbox's
own timestamps.
"""

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


def for_postgresql(statement: str) -> str:
    return statement.replace("?", "%s")
