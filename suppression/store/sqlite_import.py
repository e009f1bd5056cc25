"""An import into the SQLite store: millions of rows in one savepoint of the writer, through a
temporary table (the PostgreSQL store streams them with COPY: pg_import.py). `rows` may raise
BadImport part way: then nothing is written. An import only adds: existing suppressions keep
their reason and time."""

import sqlite3
from collections.abc import Iterable

from suppression.model import Scope, Source, utc_now
from suppression.store import writes
from suppression.store.dialect import SQLITE
from suppression.store.sql import HARD_LIST as _HARD_LIST
from suppression.store.sqlite_child import WRITER_CACHE_KIB
from suppression.store.steps import run_sqlite

_IMPORT_CACHE_KIB = 1024 * 1024  # 1 GiB of page cache while importing


def import_rows(db: sqlite3.Connection, rows: Iterable[tuple[str, str, str, int, int]], actor: str) -> int:
    """Add every row not suppressed already, each (email, stored topic, reason, key, line); how many
    were added (in the writer's process)."""
    at = utc_now()
    # Millions of B-tree inserts thrash SQLite's default 2 MB page cache; a large one
    # for the import only (the CLI's process), set back afterwards.
    db.execute(f"PRAGMA cache_size = -{_IMPORT_CACHE_KIB}")
    db.execute(f"PRAGMA temp.cache_size = -{_IMPORT_CACHE_KIB}")
    db.execute("DROP TABLE IF EXISTS temp.import_rows")
    db.execute(
        "CREATE TEMP TABLE import_rows (email TEXT NOT NULL, topic TEXT NOT NULL,"
        " reason TEXT NOT NULL, key INTEGER NOT NULL, line INTEGER NOT NULL,"
        " PRIMARY KEY (email, topic)) WITHOUT ROWID"
    )
    try:
        # The first occurrence of an address in the file wins.
        db.executemany(
            "INSERT OR IGNORE INTO temp.import_rows VALUES (?, ?, ?, ?, ?)", rows,
        )
        # An address suppressed already takes a claim only where it adds something: a
        # lasting one where only pauses hold it, a hard one (bounce, block) where none is.
        further = db.execute(
            "SELECT i.email, i.topic, i.reason, i.key FROM temp.import_rows i JOIN suppressions s"
            " ON s.email = i.email AND s.topic = i.topic WHERE s.until IS NOT NULL"
            f" OR (s.hard = 0 AND i.reason IN ({_HARD_LIST})) ORDER BY i.line"
        ).fetchall()
        db.execute(
            "DELETE FROM temp.import_rows WHERE EXISTS (SELECT 1 FROM suppressions s"
            " WHERE s.email = import_rows.email AND s.topic = import_rows.topic)"
        )
        added = db.execute(
            "INSERT INTO changes (at, action, email, topic, reason, source, actor, state)"
            f" SELECT ?, 'suppress', email, topic, reason, 'import', ?, CASE WHEN reason IN ({_HARD_LIST})"
            " THEN 'H' ELSE 'P' END FROM temp.import_rows ORDER BY line",
            (at, actor),
        ).rowcount
        db.execute(
            "INSERT INTO suppressions (email, topic, key, reason, source, created_at, hard)"
            f" SELECT email, topic, key, reason, 'import', ?, reason IN ({_HARD_LIST}) FROM temp.import_rows"
            " ORDER BY email, topic",  # primary-key order: appends, not scattered inserts
            (at,),
        )
        db.execute(
            "INSERT INTO claims (email, topic, reason, source, actor, created_at)"
            " SELECT email, topic, reason, 'import', ?, ? FROM temp.import_rows ORDER BY line",
            (actor, at),
        )
        # The statistics' counts of what was added, in one statement (migration 17 leaves
        # imported changes to this: a trigger a row doubled the cost of logging them).
        db.execute(
            "INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)"
            " SELECT substr(?, 1, 10), '', topic, 'import', reason, '', count(*), 0 FROM temp.import_rows"
            " WHERE true GROUP BY topic, reason"
            " ON CONFLICT (day, campaign, topic, source, reason, why)"
            " DO UPDATE SET created = daily_changes.created + excluded.created",
            (at,),
        )
        further_added: dict[tuple[str, str], int] = {}
        for email, topic, reason, key in further:
            placed = run_sqlite(db, writes.claim(SQLITE, at, email, key, Scope.of_stored(topic), reason, Source.IMPORT,
                                                 actor))
            if placed.change_id is not None:
                added += 1
                further_added[topic, reason] = further_added.get((topic, reason), 0) + 1
        # ...and of the claims added to addresses suppressed already (few: one at a time).
        db.executemany(
            "INSERT INTO daily_changes (day, campaign, topic, source, reason, why, created, lifted)"
            " VALUES (substr(?, 1, 10), '', ?, 'import', ?, '', ?, 0)"
            " ON CONFLICT (day, campaign, topic, source, reason, why)"
            " DO UPDATE SET created = daily_changes.created + excluded.created",
            [(at, topic, reason, count) for (topic, reason), count in further_added.items()],
        )
    finally:
        db.execute("DROP TABLE IF EXISTS temp.import_rows")
        db.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        db.execute("PRAGMA temp.cache_size = -2000")
    return added
