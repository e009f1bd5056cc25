"""How soon reads come back after PostgreSQL does: the store's pool against a server the bench
stops for a while and starts again, with requests during the outage every few seconds (or back
to back), then reads as fast as they go until one succeeds.

    python bench/reconnect.py [--outage 60] [--every 10] [--psycopg-default]

--psycopg-default runs the pool with psycopg_pool's own reconnect_timeout (300 s) instead of
ours (pg_connection.RECONNECT_SECONDS), for comparison.
"""

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from suppression.errors import StoreUnavailable  # noqa: E402
from suppression.store.postgresql import PostgresStore  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


async def measure(outage: float, every: float, psycopg_default: bool) -> float:
    server = PostgresServer(durable=False).init()
    try:
        store = PostgresStore(server.create_database())
        if psycopg_default:
            store._pool.reconnect_timeout = 300.0  # psycopg_pool's default
        await store.open()
        await asyncio.to_thread(server.stop)
        down = time.monotonic()
        while time.monotonic() - down < outage:
            try:
                await store.ping()  # a request during the outage: refused after the pool's wait
            except StoreUnavailable:
                pass
            await asyncio.sleep(every)
        await asyncio.to_thread(server.start)
        back = time.monotonic()
        while not await store.ping():
            await asyncio.sleep(0.01)
        seconds = time.monotonic() - back
        await store.close()
        return seconds
    finally:
        server.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the server is down")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between requests while it is down")
    parser.add_argument("--psycopg-default", action="store_true")
    args = parser.parse_args()
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)  # each failed attempt, as the service does
    seconds = asyncio.run(measure(args.outage, args.every, args.psycopg_default))
    print(f"reads again {seconds:.2f} s after the server is back")


if __name__ == "__main__":
    main()
