"""A real webhook receiver for the tests: an aiohttp server on its own loop in a thread, which
verifies each delivery with the `standardwebhooks` library and answers as a test tells it."""

import asyncio
import base64
import secrets
import threading
import time

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Receiver:
    """`answers` is called with the delivery's number (from 1) and returns the HTTP status, or
    None to hang until the test ends."""

    def __init__(self, port: int, secret: str, answers=lambda n: 200, delay: float = 0.0):
        self.port, self.secret, self.answers, self.delay = port, secret, answers, delay
        self.url = f"http://127.0.0.1:{port}/hooks"
        self.deliveries: list[dict] = []  # every request, verified or not
        self.unverified: list[str] = []
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._release = asyncio.Event()

    def start(self) -> "Receiver":
        if not self._thread.is_alive():
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)

    def close(self) -> None:
        if not self._thread.is_alive():
            self._loop.close()
            return
        self._loop.call_soon_threadsafe(self._release.set)
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self._take)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _take(self, request: web.Request) -> web.Response:
        self.requests += 1
        number = self.requests
        body = await request.read()
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.unverified.append(str(exc))
            return web.Response(status=400)
        status, headers = self.answers(number), {}
        if isinstance(status, tuple):  # (status, headers)
            status, headers = status
        if status is None:
            await self._release.wait()
            return web.Response(status=503)
        if self.delay:
            await asyncio.sleep(self.delay)
        if 200 <= status < 300:
            self.deliveries.append({"id": request.headers["webhook-id"], "payload": payload, "body": body,
                                    "timestamp": int(request.headers["webhook-timestamp"])})
        return web.Response(status=status, headers=headers)

    # -- what the tests read ---------------------------------------------------------------

    def taken(self) -> list[dict]:
        return list(self.deliveries)

    def distinct(self) -> list[dict]:
        """Deliveries taken, each webhook-id once (the first time), as a receiver dedupes them."""
        seen, kept = set(), []
        for delivery in self.taken():
            if delivery["id"] not in seen:
                seen.add(delivery["id"])
                kept.append(delivery)
        return kept

    def wait_for(self, count: int, seconds: float = 30.0) -> list[dict]:
        """Poll (bounded) until `count` distinct events were taken: delivery is asynchronous."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.distinct()) >= count:
                return self.distinct()
            time.sleep(0.02)
        raise AssertionError(f"{len(self.distinct())} of {count} events arrived: "
                             f"{[d['payload']['type'] for d in self.distinct()]}")


def cursor_of(delivery: dict) -> int:
    """The change-log position of a suppression or erasure event (its order among them); the
    webhook-id is random and says nothing of order."""
    return int(delivery["payload"]["data"]["cursor"])


def types_of(deliveries: list[dict]) -> list[str]:
    return [d["payload"]["type"] for d in deliveries]


def data_of(deliveries: list[dict]) -> list[dict]:
    return [d["payload"]["data"] for d in deliveries]

