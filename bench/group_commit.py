"""The SQLite writer's own work a one-click, in one process: groups of claims committed as the
writer's process commits them (suppression/store/sqlite_child.py's commit_group: all together,
no savepoint a write), beside the same groups with a savepoint each (as every group was before).

    python bench/group_commit.py [--groups 200] [--size 31]

A fresh database with the real schema and the writer's settings, in a temporary folder; the two
ways alternate group by group, so that the file's growth falls on both alike.
"""

import argparse
import pickle
import sqlite3
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suppression.model import ALL_EMAILS, utc_now  # noqa: E402
from suppression.schema import MIGRATIONS  # noqa: E402
from suppression.store import sqlite_child, writes  # noqa: E402
from suppression.store.dialect import SQLITE  # noqa: E402
from suppression.store.steps import run_steps  # noqa: E402


def claims(size: int, prefix: str) -> list:
    """A group of one-click claims on new addresses, as the writer's process receives them."""
    return [pickle.loads(pickle.dumps(partial(run_steps, partial(
        writes.claim, SQLITE, utc_now(), f"{prefix}.{n}@bench.example", hash((prefix, n)) >> 1, ALL_EMAILS,
        "unsubscribe", "one-click", "link")))) for n in range(size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--size", type=int, default=31, help="writes a group (a one-click run's groups: about 31)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "suppression.sqlite3"
        db = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode = WAL", "synchronous = FULL", f"cache_size = -{sqlite_child.WRITER_CACHE_KIB}",
                       "secure_delete = ON"):
            db.execute(f"PRAGMA {pragma}")
        sqlite_child.migrate(db, path, MIGRATIONS)
        ways = {"together, as shipped": sqlite_child.commit_group,
                "a savepoint each": partial(sqlite_child._in_one_transaction, together_seconds=0.0)}
        spent = dict.fromkeys(ways, 0.0)
        for group in range(args.groups):
            for name, commit in ways.items():
                works = claims(args.size, f"{name[0]}{group}")
                started = time.perf_counter()
                outcomes, failure = commit(db, works)
                spent[name] += time.perf_counter() - started
                if failure is not None or any(error is not None for _, error, _ in outcomes):
                    sys.exit(f"a group failed: {failure or outcomes}")
        db.close()
    for name, seconds in spent.items():
        print(f"{name}: {seconds / (args.groups * args.size) * 1e6:.1f} µs a write, COMMIT included")


if __name__ == "__main__":
    main()
