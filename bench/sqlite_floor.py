"""How many new suppressions a second SQLite itself takes, with no service around it.

    cp -r bench/out/data /tmp/floor && python bench/sqlite_floor.py /tmp/floor/suppression.sqlite3 64 60000

On a copy: it adds rows. One connection with the service's settings (WAL, synchronous=FULL,
a 64 MB page cache) inserts `total` new suppressions and their change-log rows, committing
every `group` of them, as the service's writer commits a group of concurrent writes.
"""

import os
import random
import sqlite3
import sys
import time


def main() -> None:
    path, group, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA cache_size = -65536")
    indexes = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")]
    rows = [(f"floor{os.getpid()}.{n}.{random.getrandbits(40)}@bench.example", random.getrandbits(63)) for n in range(total)]
    started = time.perf_counter()
    for start in range(0, total, group):
        db.execute("BEGIN IMMEDIATE")
        for email, key in rows[start:start + group]:
            db.execute(
                "INSERT OR IGNORE INTO suppressions (email, topic, key, reason, source, created_at)"
                " VALUES (?, 'newsletters', ?, 'unsubscribe', 'one-click', '2026-11-25T00:00:00.000Z')", (email, key))
            db.execute(
                "INSERT INTO changes (at, action, email, topic, reason, source, actor) VALUES"
                " ('2026-11-25T00:00:00.000Z', 'suppress', ?, 'newsletters', 'unsubscribe', 'one-click', 'link')",
                (email,))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    print(f"indexes: {', '.join(indexes)}")
    print(f"commits of {group}: {total / elapsed:,.0f} new suppressions/s ({elapsed / total * 1e6:.0f} µs each)")


if __name__ == "__main__":
    main()
