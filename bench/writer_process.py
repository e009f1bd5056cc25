"""An experiment, not the product: the service's durable writes made in a process of their own
instead of on its writer thread, alternating with the service as shipped, beside the bare
handlers (bench/README.md, "2026-12-06").

    python bench/writer_process.py one-click [--rounds 3] [--seconds 5]
    python bench/writer_process.py intake [--rounds 2] [--messages 16000]

The service is started as `run.py` after `patch()` has replaced, in that process only, the
store's claims (one-click) or its storing of received mail (intake) by a client of a child
process that holds its own SQLite connection, with the writer's settings, and commits each
group of writes that arrived together in one transaction, a savepoint each, before it answers:
the same statements (suppression/store/writes.py) and the same durability, without the loop and
the writer sharing one interpreter's lock. Every other write still takes the writer thread. For
`intake` both versions store and never read (the intake task's trail made endless), so that what
is measured is the SMTP exchange and the durable append alone. The CPU figure is the service
process's alone (the child's is not in it).
"""

import argparse
import asyncio
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import fastpath  # noqa: E402
from bench.run import (  # noqa: E402
    BARE_SMTP_PORT, HTTP_PORT, SMTP_PORT, UNLIMITED_UNPROVEN, fresh_config, start_baseline, stop,
)
from bench.smtpload import send_requests  # noqa: E402


def prelude(writes_in_a_process: bool, reading: bool) -> str:
    """Python run in the service's process before run.py."""
    return (f"import runpy; import bench.writer_process as w; w.patch({writes_in_a_process}, {reading}); "
            f"runpy.run_path({str(ROOT / 'run.py')!r}, run_name='__main__')")


def _child(path: str, conn) -> None:
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
        for name, args in group:
            db.execute("SAVEPOINT one_write")
            try:
                results.append(run_sqlite(db, getattr(writes, name)(SQLITE, *args)))
            except Exception as exc:
                db.execute("ROLLBACK TO one_write")
                results.append(exc)
            db.execute("RELEASE one_write")
        db.execute("COMMIT")
        conn.send(results)


class ChildWriter:
    """The service's end: writes queue while a group is out; the next group leaves on its answer."""

    def __init__(self, path: Path):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        context.Process(target=_child, args=(str(path), child), daemon=True).start()
        self._queue: list = []
        self._out: list | None = None
        asyncio.get_running_loop().add_reader(self._conn.fileno(), self._answered)

    async def write(self, name: str, args: tuple):
        """writes.NAME(q, *args), committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.append(((name, args), future))
        if self._out is None:
            self._send()
        result = await future
        if isinstance(result, Exception):
            raise result
        return result

    def _send(self) -> None:
        self._out, self._queue = self._queue, []
        self._conn.send([write for write, _ in self._out])

    def _answered(self) -> None:
        for (_, future), result in zip(self._out, self._conn.recv()):
            future.set_result(result)
        self._out = None
        if self._queue:
            self._send()


def patch(writes_in_a_process: bool, reading: bool) -> None:
    import suppression.intake
    from suppression.model import utc_now
    from suppression.store.messages import Messages
    from suppression.store.suppressions import Suppressions

    if not reading:
        suppression.intake._TRAIL_SECONDS = suppression.intake._QUIET_SECONDS = 1e9
    if not writes_in_a_process:
        return

    def child(store) -> ChildWriter:
        if not hasattr(store, "_child_writer"):
            store._child_writer = ChildWriter(store.path)
        return store._child_writer

    async def claim(self, email, key, scope, reason, source, actor, detail=None, campaign=None, until=None):
        placed = await child(self).write("claim", (utc_now(), email, key, scope, reason, source, actor, detail,
                                                   campaign, until))
        self._wrote(placed.change_id)
        return placed

    shipped_add_message = Messages.add_message

    async def add_message(self, raw, mail_from, rcpt_to, settled=None, origin=None, network=None):
        if settled is not None:  # kept for a person: its event takes the log's order, on the thread
            return await shipped_add_message(self, raw, mail_from, rcpt_to, settled, origin, network)
        message_id, added = await child(self).write(
            "add_message", (raw, mail_from, rcpt_to, None, origin, network, self._claimed_by()))
        if added:
            self.stored_mail_bytes += len(raw)
        return message_id

    Suppressions.claim, Messages.add_message = claim, add_message


def start(tree: Path, config: Path, port: int, code: str) -> subprocess.Popen:
    process = subprocess.Popen([fastpath.PYTHON, "-c", code, "--config", str(config)],
                               env={**os.environ, "PYTHONPATH": str(tree)})
    fastpath.wait_until_up(process, port, "/healthz", tree)
    return process


def one_click(rounds: int, seconds: int) -> None:
    shipped_start, figures = fastpath.start, {"writer thread": [], "writes in a process": [], "bare": []}
    for _ in range(rounds):
        for name, in_a_process in (("writer thread", False), ("writes in a process", True)):
            fastpath.start = lambda tree, config, port, baseline=False, p=in_a_process: start(
                tree, config, port, prelude(p, reading=True))
            try:
                figures[name].append(fastpath.one_click(ROOT, seconds))
            finally:
                fastpath.start = shipped_start
        figures["bare"].append(fastpath.one_click(ROOT, seconds, baseline=True))
        print("  ".join(f"{name} {rows[-1][0]:,.0f}/s {rows[-1][1]:.0f} µs" for name, rows in figures.items()),
              flush=True)
    bare = statistics.median(rate for rate, _ in figures["bare"])
    for name, rows in figures.items():
        rate = statistics.median(r for r, _ in rows)
        print(f"{name}: {rate:,.0f}/s median ({' / '.join(f'{r:,.0f}' for r, _ in rows)}), "
              f"{statistics.median(c for _, c in rows):.0f} µs of the service's CPU a request, {rate / bare:.2f} of the bare")


def intake(rounds: int, messages: int, clients: int = 16) -> None:
    config = fresh_config("intake", f"sender_messages_per_hour = 1000000\n{UNLIMITED_UNPROVEN}")
    for round_ in range(1, rounds + 1):
        rates = {}
        for name, in_a_process in (("writer thread", False), ("writes in a process", True)):
            service = start(ROOT, config, HTTP_PORT, prelude(in_a_process, reading=False))
            try:
                rates[name], _ = asyncio.run(send_requests(SMTP_PORT, clients, messages // clients,
                                                           f"{name[0]}{time.time_ns()}."))
            finally:
                stop(service)
        sink = start_baseline("smtp", BARE_SMTP_PORT)
        try:
            bare, _ = asyncio.run(send_requests(BARE_SMTP_PORT, clients, messages // clients, f"bare{time.time_ns()}."))
        finally:
            stop(sink)
        print(f"round {round_}: " + ", ".join(f"{name} {rate:,.0f}/s ({rate / bare:.2f})" for name, rate in rates.items())
              + f", sink {bare:,.0f}/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=("one-click", "intake"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=5, help="one-click: each wrk run")
    parser.add_argument("--messages", type=int, default=16000, help="intake: each version's, and the sink's")
    args = parser.parse_args()
    fastpath.OUT.mkdir(parents=True, exist_ok=True)
    if args.figure == "one-click":
        one_click(args.rounds, args.seconds)
    else:
        intake(args.rounds, args.messages)


if __name__ == "__main__":
    main()
