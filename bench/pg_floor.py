"""The floor under the PostgreSQL store's write latency (issue 25): what a bare durable commit
costs on this machine at the soak's write rate, with nothing of ours around it.

    python -m bench.pg_floor [--seconds 60] [--rate 30] [--writers 2]

A durable server of its own (bench/out/pg-floor; fsync on, as the soak's), `--writers`
processes (as the soak's instances) sharing `--rate` writes a second, paced, each write one
transaction: the change log's advisory lock, one row into a table shaped like `changes` (with
a statement trigger that NOTIFYs, as ours), COMMIT. Then the same without the lock. Each
latency is from sending BEGIN to COMMIT's answer, on a connection opened beforehand. The
service's own write p99 in the soak (docs/RELIABILITY.md) is compared with these figures:
what is above them is ours to take."""

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"

_TABLE = """
CREATE TABLE IF NOT EXISTS floor_changes (
    id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, email TEXT NOT NULL,
    topic TEXT NOT NULL, reason TEXT, source TEXT, actor TEXT);
CREATE OR REPLACE FUNCTION floor_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_notify('floor_changes', ''); RETURN NULL; END $$;
DROP TRIGGER IF EXISTS floor_changes_notify ON floor_changes;
CREATE TRIGGER floor_changes_notify AFTER INSERT ON floor_changes FOR EACH STATEMENT EXECUTE FUNCTION floor_notify();
"""


def _writer(url: str, rate: float, seconds: float, locked: bool, start_at: float, out) -> None:
    out.send(asyncio.run(_write(url, rate, seconds, locked, start_at)))


async def _write(url: str, rate: float, seconds: float, locked: bool, start_at: float) -> list[float]:
    import psycopg

    latencies: list[float] = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        n = 0
        while True:
            due = start_at + n / rate
            if due > start_at + seconds:
                return latencies
            await asyncio.sleep(max(0.0, due - time.time()))
            started = time.perf_counter()
            async with conn.transaction():
                if locked:
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (0x5355_5050,))
                await conn.execute(
                    "INSERT INTO floor_changes (at, action, email, topic, reason, source, actor)"
                    " VALUES (%s, 'suppress', %s, '', 'unsubscribe', 'one-click', 'link')",
                    (time.strftime("%Y-%m-%dT%H:%M:%SZ"), f"floor{n}.{id(latencies)}@example.com"))
            latencies.append(time.perf_counter() - started)
            n += 1


def _round(url: str, args, locked: bool) -> list[float]:
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 2.0  # every writer connected and waiting
    pipes, processes = [], []
    for _ in range(args.writers):
        ours, theirs = context.Pipe()
        process = context.Process(target=_writer, args=(url, args.rate / args.writers, args.seconds, locked,
                                                         start_at, theirs))
        process.start()
        pipes.append(ours)
        processes.append(process)
    latencies = [latency for pipe in pipes for latency in pipe.recv()]
    for process in processes:
        process.join()
    return latencies


def _row(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"| {name} | {len(ordered):,} | {statistics.median(ordered) * 1000:.1f} ms | {p99 * 1000:.1f} ms |"
            f" {ordered[-1] * 1000:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=30, help="writes a second in all (the soak's: 20+5+5)")
    parser.add_argument("--writers", type=int, default=2, help="processes sharing them (the soak's instances)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import psycopg

    from tests.support.postgres import PostgresServer

    server = PostgresServer(OUT / "pg-floor").init()  # durable: fsync on, as the soak's
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(_TABLE)
        rows = [_row(f"bare commit, {args.writers} writers, under the change log's lock",
                     _round(server.url(), args, locked=True)),
                _row(f"bare commit, {args.writers} writers, no lock", _round(server.url(), args, locked=False))]
    finally:
        server.stop()
    print(f"{args.rate:g} writes a second for {args.seconds:g} s, durable PostgreSQL on this machine")
    print("| write | count | p50 | p99 | max |\n| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
