"""Webhook delivery rate: an import of N addresses through the CLI while the service runs with
one receiver on this machine; how long until the receiver has taken every event.

    python bench/webhooks.py [--events 20000]

The receiver verifies each signature with the `standardwebhooks` package, as a real one would.
"""

import argparse
import asyncio
import base64
import secrets
import sys
import threading
import time
from pathlib import Path

from aiohttp import web
from standardwebhooks.webhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import OUT, cli, fresh_config, start_service, stop  # noqa: E402

RECEIVER_PORT = 18090


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    config = fresh_config("webhooks", f'[[webhooks]]\nurl = "http://127.0.0.1:{RECEIVER_PORT}/hooks"\nsecret = "{secret}"\n')
    taken: set[str] = set()
    done = threading.Event()
    hook = Webhook(secret)

    async def take(request: web.Request) -> web.Response:
        hook.verify(await request.read(), dict(request.headers), json_parse=False)
        taken.add(request.headers["webhook-id"])
        if len(taken) >= args.events:
            done.set()
        return web.Response(status=204)

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    app = web.Application()
    app.router.add_post("/hooks", take)
    runner = web.AppRunner(app, access_log=None)
    asyncio.run_coroutine_threadsafe(_serve(runner), loop).result()

    csv_path = OUT / "webhooks.csv"
    csv_path.write_text("email\n" + "".join(f"hook{n}@example{n % 100}.com\n" for n in range(args.events)))
    service, _ = start_service(config)  # records the receiver; it gets events from now on
    try:
        started = time.monotonic()
        cli(config, "import", str(csv_path))
        imported = time.monotonic() - started
        if not done.wait(timeout=3600):
            sys.exit(f"only {len(taken)} of {args.events} events arrived")
        seconds = time.monotonic() - started
    finally:
        stop(service)
        csv_path.unlink()
    print(f"{args.events:,} events: import {imported:.1f} s; all taken {seconds:.1f} s after the import began:"
          f" {args.events / seconds:,.0f} events/s to one receiver (each verified)")


async def _serve(runner: web.AppRunner) -> None:
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", RECEIVER_PORT).start()


if __name__ == "__main__":
    main()
