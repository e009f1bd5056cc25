"""Statistics at scale, and one-click with and without a campaign (issue 23).

    python -m bench.stats scale [--addresses 10000000] [--campaigns 1000] [--store sqlite|postgresql]
    python -m bench.stats one-click [--seconds 5] [--rounds 3] [--before PATH-OF-ANOTHER-CHECKOUT]

`scale` builds a list of ADDRESSES suppressions made over one year (2026) through CAMPAIGNS
campaigns (each sent on its own day, its opt-outs over the 30 days after; a twentieth of the
list made by the API with no campaign; 1% lifted again), written straight into the change log
so that the triggers of migration 17 count every change as the service's writes would be
counted; then times GET /v1/stats's work (Statistics.report, the store's reads included) for the
whole year by campaign, day, source and reason, and the dashboard's reads. The database is kept
in bench/out/stats-* and reused while its size matches.

`one-click` starts the service (run.py, its own ports) and posts RFC 8058 one-click requests to
fresh tokens from a client in another process (32 connections, each request a new suppression),
for tokens with no campaign and with one; with --before, also the same code path of another
checkout (main, before campaigns existed) for tokens of its kind. Rounds alternate, so drift
in the machine's load falls on every kind alike.
"""

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import cpu_seconds  # noqa: E402

OUT = ROOT / "bench" / "out"
YEAR = "2026-01-01"
TOPICS = ("", "newsletters", "promotions", "product-updates")


# -- scale ----------------------------------------------------------------------------------


def build_sqlite(path: Path, addresses: int, campaigns: int) -> float:
    """The list, made through the change log's triggers; seconds it took."""
    from suppression.store import SuppressionStore

    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    store = SuppressionStore(path)
    asyncio.run(_open_and_close(store))  # the migrations, as the service applies them
    started = time.monotonic()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1000000")
    chunk = 1_000_000
    for start in range(0, addresses, chunk):
        end = min(start + chunk, addresses) - 1
        db.execute("BEGIN")
        db.execute(_SQLITE_CHANGES, {"start": start, "end": end, "campaigns": campaigns, "year": YEAR})
        db.execute("COMMIT")
        print(f"  {end + 1:,} changes", file=sys.stderr, flush=True)
    db.execute("BEGIN")
    db.execute("INSERT INTO suppressions (email, topic, key, reason, source, created_at)"
               " SELECT email, topic, id, reason, source, at FROM changes WHERE action = 'suppress'")
    db.execute(  # 1% lifted again (the trigger counts each in its suppression's buckets)
        "INSERT INTO changes (at, action, email, topic, reason, source, actor)"
        " SELECT strftime('%Y-%m-%dT%H:%M:%fZ', at, '+1 day'), 'unsuppress', email, topic, NULL, 'api', 'bench'"
        " FROM changes WHERE action = 'suppress' AND id % 100 = 0")
    db.execute("DELETE FROM suppressions WHERE (email, topic) IN"
               " (SELECT email, topic FROM changes WHERE action = 'unsuppress')")
    db.execute("INSERT INTO campaigns (id, sent, created_at, updated_at) SELECT 'campaign-' || printf('%04d', c),"
               " 200000 + c * 37, ?, ? FROM (WITH RECURSIVE n(c) AS (SELECT 0 UNION ALL SELECT c + 1 FROM n"
               " WHERE c < ?) SELECT c FROM n)", (YEAR + "T00:00:00.000Z", YEAR + "T00:00:00.000Z", campaigns - 1))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.monotonic() - started


# Change i: campaign i % campaigns, sent on its day of the year, the opt-out 0-29 days later;
# sources one-click 12/20, link 5/20, email 2/20, api 1/20 (no campaign); link ones say why; the
# topic, source and answer vary within each campaign (each campaign's opt-outs fill about 840
# of the rollup's rows: 30 days x 4 topics x 7 source-and-answer pairs).
_SQLITE_CHANGES = """
WITH RECURSIVE n(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM n WHERE i < :end),
shaped AS (SELECT i, i % :campaigns AS c, (i / 3) % 20 AS s, (i / :campaigns) % 30 AS lag FROM n)
INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign)
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', :year, '+' || min(364, c * 365 / :campaigns + lag) || ' days',
                '+' || (i % 86400) || ' seconds'),
       'suppress', printf('u%09d@bench.example', i),
       CASE (i / 7) % 4 WHEN 0 THEN '' WHEN 1 THEN 'newsletters' WHEN 2 THEN 'promotions' ELSE 'product-updates' END,
       'unsubscribe',
       CASE WHEN s < 12 THEN 'one-click' WHEN s < 17 THEN 'link' WHEN s < 19 THEN 'email' ELSE 'api' END,
       'bench',
       CASE WHEN s BETWEEN 12 AND 16 THEN json_object('why', CASE (i / 11) % 4 WHEN 0 THEN 'too-many'
            WHEN 1 THEN 'not-relevant' WHEN 2 THEN 'never-signed-up' ELSE 'other' END) END,
       CASE WHEN s < 19 THEN 'campaign-' || printf('%04d', c) END
FROM shaped
"""


async def _open_and_close(store) -> None:
    await store.open()
    await store.close()


def build_postgresql(url: str, addresses: int, campaigns: int) -> float:
    import psycopg

    from suppression.store.postgresql import PostgresStore

    asyncio.run(_open_and_close(PostgresStore(url)))
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        chunk = 1_000_000
        for start in range(0, addresses, chunk):
            end = min(start + chunk, addresses) - 1
            conn.execute(_PG_CHANGES, {"start": start, "end": end, "campaigns": campaigns, "year": YEAR})
            print(f"  {end + 1:,} changes", file=sys.stderr, flush=True)
        with conn.transaction():
            conn.execute("INSERT INTO suppressions (email, topic, key, reason, source, created_at)"
                         " SELECT email, topic, id, reason, source, at FROM changes WHERE action = 'suppress'")
            conn.execute(
                "INSERT INTO changes (at, action, email, topic, reason, source, actor)"
                " SELECT to_char((at::timestamptz + interval '1 day') AT TIME ZONE 'UTC',"
                " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'unsuppress', email, topic, NULL, 'api', 'bench'"
                " FROM changes WHERE action = 'suppress' AND id % 100 = 0")
            conn.execute("DELETE FROM suppressions s USING changes c WHERE c.action = 'unsuppress'"
                         " AND s.email = c.email AND s.topic = c.topic")
            conn.execute("INSERT INTO campaigns (id, sent, created_at, updated_at) SELECT"
                         " 'campaign-' || lpad(c::text, 4, '0'), 200000 + c * 37, %(at)s, %(at)s"
                         " FROM generate_series(0, %(last)s) c", {"at": YEAR + "T00:00:00.000Z", "last": campaigns - 1})
        conn.execute("VACUUM ANALYZE")
    return time.monotonic() - started


_PG_CHANGES = """
WITH shaped AS (SELECT i, i %% %(campaigns)s AS c, (i / 3) %% 20 AS s, (i / %(campaigns)s) %% 30 AS lag
                FROM generate_series(%(start)s::bigint, %(end)s::bigint) i)
INSERT INTO changes (at, action, email, topic, reason, source, actor, detail, campaign)
SELECT to_char((%(year)s::date + least(364, c * 365 / %(campaigns)s + lag)::int
                + make_interval(secs => i %% 86400))::timestamp, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       'suppress', 'u' || lpad(i::text, 9, '0') || '@bench.example',
       (ARRAY['', 'newsletters', 'promotions', 'product-updates'])[(i / 7) %% 4 + 1],
       'unsubscribe',
       CASE WHEN s < 12 THEN 'one-click' WHEN s < 17 THEN 'link' WHEN s < 19 THEN 'email' ELSE 'api' END,
       'bench',
       CASE WHEN s BETWEEN 12 AND 16 THEN json_build_object('why', (ARRAY['too-many', 'not-relevant',
            'never-signed-up', 'other'])[(i / 11) %% 4 + 1])::text END,
       CASE WHEN s < 19 THEN 'campaign-' || lpad(c::text, 4, '0') END
FROM shaped ORDER BY i
"""


def scale(args) -> None:
    from suppression.stats import Statistics

    marker = OUT / f"stats-{args.store}-size"
    wanted = f"{args.addresses} {args.campaigns}"
    if args.store == "sqlite":
        path = OUT / "stats-data" / "suppression.db"
        if args.fresh or not marker.exists() or marker.read_text().split()[:2] != wanted.split():
            built = build_sqlite(path, args.addresses, args.campaigns)
            marker.write_text(f"{wanted} {built:.1f}")
        from suppression.store import SuppressionStore
        store = SuppressionStore(path)
    else:
        url = args.url or os.environ.get("STATS_BENCH_URL")
        if not url:
            sys.exit("--store postgresql needs --url postgresql://... (an empty database, kept between runs)")
        if args.fresh or not marker.exists() or marker.read_text().split()[:2] != wanted.split():
            built = build_postgresql(url, args.addresses, args.campaigns)
            marker.write_text(f"{wanted} {built:.1f}")
        from suppression.store.postgresql import PostgresStore
        store = PostgresStore(url)
    built_seconds = float(marker.read_text().split()[2])
    asyncio.run(_measure(store, Statistics, args, built_seconds))


async def _measure(store, statistics_class, args, built_seconds: float) -> None:
    from datetime import datetime, timezone

    await store.open()
    try:
        rollup = (await store._read("SELECT count(*) FROM daily_changes"))[0][0]
        changes = await store.newest_change()
        suppressions = await store.count()
        stats = statistics_class(store, 48, clock=lambda: datetime(2026, 12, 31, 12, tzinfo=timezone.utc))
        counted = (await store._read("SELECT CAST(sum(created) AS BIGINT), CAST(sum(lifted) AS BIGINT)"
                                     " FROM daily_changes"))[0]
        logged = (await store._read("SELECT count(*) FILTER (WHERE action = 'suppress'),"
                                    " count(*) FILTER (WHERE action = 'unsuppress') FROM changes"))[0]
        if tuple(counted) != tuple(logged):
            sys.exit(f"the rollup counts {tuple(counted)} (created, lifted), the change log holds {tuple(logged)}")
        print(f"{args.store}: {suppressions:,} suppressions, {changes:,} changes, {rollup:,} rollup rows"
              f" (built in {built_seconds:.0f} s); the rollup's totals match the change log's")
        print("| figure | median | max | runs |\n| --- | ---: | ---: | ---: |")
        for by in ("campaign", "day", "source", "reason"):
            times, report = [], None
            for _ in range(args.repeat):
                started = time.perf_counter()
                report = await stats.report("2026-01-01", "2026-12-31", by)
                times.append(time.perf_counter() - started)
            extra = f", {len(report.rows):,} rows"
            if by == "campaign":
                sent = sum(1 for row in report.rows if row.sent is not None)
                extra += f", {sent:,} with sent and rate"
            print(f"| by={by}, 2026-01-01 to 2026-12-31{extra} | {statistics.median(times) * 1000:.0f} ms"
                  f" | {max(times) * 1000:.0f} ms | {len(times)} |")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            await stats.dashboard()
            times.append(time.perf_counter() - started)
        print(f"| the dashboard's reads (90 days) | {statistics.median(times) * 1000:.0f} ms"
              f" | {max(times) * 1000:.0f} ms | {len(times)} |")
    finally:
        await store.close()


# -- one-click ------------------------------------------------------------------------------


_CLIENT = r"""
import asyncio, sys, time
import aiohttp
from suppression.keyfile import signing_keys
from suppression.config import load_settings
from suppression.tokens import mint_token
config, port, seconds, kind = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
keys = signing_keys(load_settings(config))
stamp = time.time_ns()
def token(n):
    email = f"click.{kind}.{stamp}.{n}@bench.example"
    return mint_token(keys, email, campaign=f"campaign-{n % 1000:04d}") if kind == "campaign" else mint_token(keys, email)
paths = [f"/u/{token(n)}" for n in range(60000)]
async def main():
    done, failed, at = 0, 0, 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        async def worker():
            nonlocal done, failed, at
            while time.monotonic() < deadline and at < len(paths):
                path = paths[at]; at += 1
                async with session.post(f"http://127.0.0.1:{port}{path}", data="List-Unsubscribe=One-Click",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}) as answer:
                    await answer.read()
                    if answer.status == 200: done += 1
                    else: failed += 1
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(32)))
        print(done / (time.monotonic() - started), failed, done)
asyncio.run(main())
"""


def one_click(args) -> None:
    trees = [("after, no campaign", ROOT, "plain"), ("after, with a campaign", ROOT, "campaign")]
    if args.before:
        trees.insert(0, ("before (main), no campaign", Path(args.before), "plain"))
    rates: dict[str, list[float]] = {name: [] for name, _, _ in trees}
    costs: dict[str, list[float]] = {name: [] for name, _, _ in trees}
    for round_ in range(args.rounds):
        for name, tree, kind in trees:
            port = _free_port()  # other benches (and other people's) may hold any fixed one
            config = _fresh_config(f"one-click-{kind}-{tree.name}", port, _free_port())
            env = dict(os.environ, PYTHONPATH=str(tree))
            service = subprocess.Popen([sys.executable, str(tree / "run.py"), "--config", str(config)], env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                _wait(port, service)
                cpu_before = cpu_seconds(service.pid)
                answer = subprocess.run([sys.executable, "-c", _CLIENT, str(config), str(port),
                                         str(args.seconds), kind], env=env, capture_output=True, text=True,
                                        check=True, timeout=600)
                cpu = cpu_seconds(service.pid) - cpu_before
            finally:
                service.send_signal(signal.SIGTERM)
                service.wait(timeout=60)
            rate, failed, done = answer.stdout.split()
            if int(failed):
                sys.exit(f"{name}: {failed} one-click requests failed")
            rates[name].append(float(rate))
            costs[name].append(cpu / int(done) * 1e6)
            print(f"round {round_ + 1}: {name}: {float(rate):,.0f}/s, {costs[name][-1]:,.0f} µs of the service's"
                  " CPU a click", file=sys.stderr, flush=True)
    print("| one-click POST, each a new suppression, 32 connections | median | runs | service CPU a click, median |"
          "\n| --- | ---: | --- | ---: |")
    for name, values in rates.items():
        print(f"| {name} | {statistics.median(values):,.0f}/s | {', '.join(f'{v:,.0f}' for v in values)} |"
              f" {statistics.median(costs[name]):,.0f} µs |")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fresh_config(name: str, http_port: int, smtp_port: int) -> Path:
    data = OUT / f"{name}-data"
    shutil.rmtree(data, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / f"{name}.toml"
    config.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{http_port}"\ndata_dir = "{data}"\nlog_level = "WARNING"\n'
        f'[http]\nport = {http_port}\n[smtp]\nport = {smtp_port}\n'
        f'[signing]\nsecret_keys = ["bench-one-click-key-{"x" * 40}"]\n', encoding="utf-8")
    config.chmod(0o600)
    return config


def _wait(port: int, process: subprocess.Popen) -> None:
    for _ in range(6000):
        if process.poll() is not None:
            sys.exit("the service exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.01)
    sys.exit("the service did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    at_scale = commands.add_parser("scale")
    at_scale.add_argument("--addresses", type=int, default=10_000_000)
    at_scale.add_argument("--campaigns", type=int, default=1000)
    at_scale.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    at_scale.add_argument("--url", help="the PostgreSQL database for --store postgresql")
    at_scale.add_argument("--repeat", type=int, default=5)
    at_scale.add_argument("--fresh", action="store_true")
    clicks = commands.add_parser("one-click")
    clicks.add_argument("--seconds", type=float, default=5)
    clicks.add_argument("--rounds", type=int, default=3)
    clicks.add_argument("--before", help="another checkout to measure the same way (e.g. a clone of main)")
    args = parser.parse_args()
    scale(args) if args.command == "scale" else one_click(args)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
