"""SMTP intake beside the bare aiosmtpd sink, alternating, on a fresh small list: the ratio and
the delay from each 250 to the suppression showing in the API.

    python bench/intake.py [--rounds 3] [--messages 4000] [--clients 16] [--drain 30]

Sustained (issue 24): `--messages 16000 --drain 180`.

The same client (bench/smtpload.py) drives both; each round runs the service, then the sink.
"""

import argparse
import asyncio
import sqlite3
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402
    BARE_SMTP_PORT, HTTP_PORT, OUT, SMTP_PORT, UNLIMITED_UNPROVEN, cli, fresh_config, percentile, start_baseline,
    start_service, stop,
)
from bench.smtpload import intake_with_visibility, send_requests  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--drain", type=float, default=30.0,
                        help="seconds after the last 250 for every request to show in the API (later: inf)")
    args = parser.parse_args()
    # The unproven budget (issue 20) would send all but the first requests of one network to the
    # desk: this bench measures the intake, so every request is honoured as a proven one would be.
    config = fresh_config("intake", f"sender_messages_per_hour = 1000000\n{UNLIMITED_UNPROVEN}")
    data = OUT / "intake-data"
    key = cli(config, "apikey", "create", f"bench-{time.time_ns()}", "--scope", "admin")
    per_client = args.messages // args.clients
    ratios, all_delays = [], []
    for round_ in range(1, args.rounds + 1):
        service, _ = start_service(config)
        try:
            rate, delays, checks = asyncio.run(intake_with_visibility(
                SMTP_PORT, f"http://127.0.0.1:{HTTP_PORT}", key, args.clients, per_client, _end(data), args.drain,
                check_every=True))
        finally:
            stop(service)
        sink = start_baseline("smtp", BARE_SMTP_PORT)
        try:
            bare, _ = asyncio.run(send_requests(BARE_SMTP_PORT, args.clients, per_client, f"bare{time.time_ns()}."))
        finally:
            stop(sink)
        ratios.append(rate / bare)
        all_delays += delays
        print(f"round {round_}: service {rate:,.0f}/s, sink {bare:,.0f}/s, ratio {rate / bare:.2f}; 250 to visible"
              f" p50 {percentile(delays, 50) * 1000:.0f} ms, p99 {percentile(delays, 99) * 1000:.0f} ms,"
              f" max {max(delays) * 1000:.0f} ms; a single check meanwhile: p50 {percentile(checks, 50) * 1000:.1f} ms,"
              f" p99 {percentile(checks, 99) * 1000:.1f} ms ({len(checks)} checks)", flush=True)
    print(f"ratio: median {sorted(ratios)[len(ratios) // 2]:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f});"
          f" 250 to visible over all rounds: p50 {percentile(all_delays, 50) * 1000:.0f} ms,"
          f" p99 {percentile(all_delays, 99) * 1000:.0f} ms")


def _end(data: Path) -> str:
    """The end of the change log before a round: the feed is watched from there."""
    with sqlite3.connect(data / "suppression.sqlite3") as db:
        return str(db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0])


if __name__ == "__main__":
    main()
