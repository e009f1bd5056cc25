"""What moves millions of rows in the PostgreSQL store: an import streamed with COPY, and the
index's keys read in pages the server packs (the SQLite store: sqlite_import.py, and its
_load_index)."""

from collections.abc import Iterable

import numpy as np

from suppression.index import ScopeRows
from suppression.model import ImportRow, Scope, Source, utc_now
from suppression.store import writes
from suppression.store.dialect import POSTGRESQL as q
from suppression.store.sql import HARD_LIST
from suppression.store.steps import run_postgresql

_KEYS_PAGE = 2_000_000  # keys read in one query while loading the index (16 MB of bytes)


async def import_rows(conn, rows: Iterable[ImportRow], actor: str) -> tuple[int, int]:
    """Add every row not suppressed already (in the caller's transaction); (how many were added,
    the newest change id)."""
    at = utc_now()
    await conn.execute(
        'CREATE TEMP TABLE import_rows (email TEXT COLLATE "C", topic TEXT COLLATE "C", reason TEXT,'
        " key BIGINT, line BIGINT) ON COMMIT DROP"
    )
    async with conn.cursor().copy("COPY import_rows FROM STDIN") as copy:
        for r in rows:
            await copy.write_row((r.email, r.scope.stored, r.reason, r.key, r.line))
    # An address suppressed already takes a claim only where it adds something: a lasting
    # one where only pauses hold it, a hard one (bounce, block) where none is.
    further = await (await conn.execute(
        "SELECT DISTINCT ON (i.email, i.topic) i.email, i.topic, i.reason, i.key FROM import_rows i"
        " JOIN suppressions s ON s.email = i.email AND s.topic = i.topic WHERE s.until IS NOT NULL"
        f" OR (NOT s.hard AND i.reason IN ({HARD_LIST})) ORDER BY i.email, i.topic, i.line")).fetchall()
    # The first occurrence of an address in the file wins; existing suppressions stay.
    await conn.execute(
        "CREATE TEMP TABLE import_first ON COMMIT DROP AS SELECT DISTINCT ON (email, topic)"
        " email, topic, reason, key, line FROM import_rows i WHERE NOT EXISTS (SELECT 1 FROM suppressions s"
        " WHERE s.email = i.email AND s.topic = i.topic) ORDER BY email, topic, line"
    )
    added = (await conn.execute(
        "INSERT INTO changes (at, action, email, topic, reason, source, actor, state)"
        f" SELECT %s, 'suppress', email, topic, reason, 'import', %s, CASE WHEN reason IN ({HARD_LIST})"
        " THEN 'H' ELSE 'P' END FROM import_first ORDER BY line",
        (at, actor),
    )).rowcount
    await conn.execute(
        "INSERT INTO suppressions (email, topic, key, reason, source, created_at, hard)"
        f" SELECT email, topic, key, reason, 'import', %s, reason IN ({HARD_LIST}) FROM import_first", (at,),
    )
    await conn.execute(
        "INSERT INTO claims (email, topic, reason, source, actor, created_at)"
        " SELECT email, topic, reason, 'import', %s, %s FROM import_first ORDER BY line", (actor, at),
    )
    for email, topic, reason, key in further:
        placed = await run_postgresql(conn, writes.claim(q, at, email, key, Scope.of_stored(topic), reason, Source.IMPORT,
                                                         actor))
        added += placed.change_id is not None
    return added, (await (await conn.execute(q.NEWEST_CHANGE)).fetchone())[0]


async def load_index(conn) -> tuple[int, dict[Scope, ScopeRows]]:
    """Every scope's keys and the change they reflect, in one snapshot (the caller's transaction)."""
    await conn.execute(q.READ_SNAPSHOT)
    cursor = (await (await conn.execute(q.NEWEST_CHANGE)).fetchone())[0]
    lasting = {}
    topic = (await (await conn.execute(q.FIRST_LASTING_TOPIC)).fetchone())[0]
    while topic is not None:
        lasting[topic] = await _copy_keys(conn, topic)
        topic = (await (await conn.execute(q.NEXT_LASTING_TOPIC, (topic,))).fetchone())[0]
    hard = await (await conn.execute(q.HARD_KEYS)).fetchall()
    paused = await (await conn.execute(q.PAUSED_KEYS)).fetchall()
    return cursor, ScopeRows.of_rows(lasting, hard, paused)


async def _copy_keys(conn, topic: str) -> np.ndarray:
    """One topic's keys, sorted as unsigned: pages of keys in key order, each packed by the server
    into one bytea of 8-byte big-endian values (string_agg of int8send), so that ten million keys
    cost five queries and numpy, not ten million Python objects (a row-by-row COPY took 20 s)."""
    parts, last = [], None
    while True:
        after = "" if last is None else " AND key > %s"
        params = (topic,) if last is None else (topic, last)
        packed, last, count = await (await conn.execute(
            "SELECT string_agg(int8send(key), ''::bytea), max(key), count(*) FROM (SELECT key FROM suppressions"
            f" WHERE topic = %s AND until IS NULL{after} ORDER BY key LIMIT {_KEYS_PAGE}) page", params,
        )).fetchone()
        if count:
            parts.append(np.frombuffer(packed, dtype=">i8"))
        if count < _KEYS_PAGE:
            break
    values = np.concatenate(parts) if parts else np.empty(0, dtype=">i8")
    unsigned = values.astype(np.int64).view(np.uint64)
    unsigned.sort()
    return unsigned
