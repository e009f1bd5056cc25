"""An experiment, not the product: one-click POSTs with the claim writes made in a process of
their own instead of on the service's writer thread, alternating with the service as shipped,
beside the bare POST handler (bench/README.md, "2026-12-06").

    python bench/writer_process.py [--rounds 2] [--seconds 5]

The service is started as `run.py` with `Suppressions.claim` replaced (in that process only) by
a client of a child process that holds its own SQLite connection, with the writer's settings,
and commits each group of claims that arrived together in one transaction, a savepoint each,
before it answers: the same durability, and the same statements (suppression/store/writes.py),
without the loop and the writer sharing one interpreter's lock. Only claims go there: every
other write still takes the writer thread. The CPU figure is the service process's alone (the
child's is not in it).
"""

import argparse
import asyncio
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fastpath  # noqa: E402

# Run in the service's process before run.py: the claims go to the child.
PRELUDE = ("import runpy, sys; import bench.writer_process as w; w.patch(); "
           f"runpy.run_path({str(ROOT / 'run.py')!r}, run_name='__main__')")


def _child(path: str, conn) -> None:
    from suppression.model import utc_now
    from suppression.store import writes
    from suppression.store.dialect import SQLITE
    from suppression.store.steps import run_sqlite

    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout = 10000", "journal_mode = WAL", "synchronous = FULL", "cache_size = -65536",
                   "secure_delete = ON"):
        db.execute(f"PRAGMA {pragma}")
    while True:
        try:
            group = conn.recv()
        except EOFError:
            return
        db.execute("BEGIN IMMEDIATE")
        results = []
        for args in group:
            db.execute("SAVEPOINT one_write")
            try:
                results.append(run_sqlite(db, writes.claim(SQLITE, utc_now(), *args)))
            except Exception as exc:
                db.execute("ROLLBACK TO one_write")
                results.append(exc)
            db.execute("RELEASE one_write")
        db.execute("COMMIT")
        conn.send(results)


class ClaimWriter:
    """The service's end: claims queue while a group is out; the next group leaves on its answer."""

    def __init__(self, path: Path):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        context.Process(target=_child, args=(str(path), child), daemon=True).start()
        self._queue: list = []
        self._out: list | None = None
        asyncio.get_running_loop().add_reader(self._conn.fileno(), self._answered)

    async def claim(self, args: tuple):
        future = asyncio.get_running_loop().create_future()
        self._queue.append((args, future))
        if self._out is None:
            self._send()
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def _send(self) -> None:
        self._out, self._queue = self._queue, []
        self._conn.send([args for args, _ in self._out])

    def _answered(self) -> None:
        for (_, future), result in zip(self._out, self._conn.recv()):
            future.set_result(result)
        self._out = None
        if self._queue:
            self._send()


def patch() -> None:
    from suppression.store.suppressions import Suppressions

    async def claim(self, email, key, scope, reason, source, actor, detail=None, campaign=None, until=None):
        if not hasattr(self, "_claim_writer"):
            self._claim_writer = ClaimWriter(self.path)
        placed = await self._claim_writer.claim((email, key, scope, reason, source, actor, detail, campaign, until))
        self._wrote(placed.change_id)
        return placed

    Suppressions.claim = claim


def start_with_claim_writer(tree: Path, config: Path, port: int, baseline: bool = False) -> subprocess.Popen:
    """fastpath.start, with PRELUDE in front of run.py."""
    process = subprocess.Popen([fastpath.PYTHON, "-c", PRELUDE, "--config", str(config)],
                               env={**os.environ, "PYTHONPATH": str(tree)})
    fastpath.wait_until_up(process, port, "/healthz", tree)
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    fastpath.OUT.mkdir(parents=True, exist_ok=True)
    shipped_start, figures = fastpath.start, {"thread": [], "process": [], "bare": []}
    for _ in range(args.rounds):
        figures["thread"].append(fastpath.one_click(ROOT, args.seconds))
        fastpath.start = start_with_claim_writer
        try:
            figures["process"].append(fastpath.one_click(ROOT, args.seconds))
        finally:
            fastpath.start = shipped_start
        figures["bare"].append(fastpath.one_click(ROOT, args.seconds, baseline=True))
        print("  ".join(f"{name} {rate:,.0f}/s {cpu:.0f} µs" for name, ((rate, cpu), *_) in
                        ((name, rows[-1:]) for name, rows in figures.items())), flush=True)
    bare = statistics.median(rate for rate, _ in figures["bare"])
    for name, rows in figures.items():
        rate = statistics.median(r for r, _ in rows)
        print(f"{name}: {rate:,.0f}/s median ({' / '.join(f'{r:,.0f}' for r, _ in rows)}), "
              f"{statistics.median(c for _, c in rows):.0f} µs of the service's CPU a request, {rate / bare:.2f} of the bare")


if __name__ == "__main__":
    main()
