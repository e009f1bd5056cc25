"""A worker: one more process answering checks on the service's port (handlers/workers.py).

Started by the first process as `python -m handlers.worker NUMBER PORT FORWARD_TO PARENT
[--config PATH]`, with the token in its environment. It loads the index (mapped from the first
process's snapshot), follows the change log as the first process does, answers the checks,
and passes every other request on to the first process as it came. It binds its socket only
once its index is loaded, so no connection waits on a worker that is starting. It ends when
the first process does.
"""

import argparse
import asyncio
import ctypes
import gc
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from handlers import api
from handlers.app import loop_lag_context, plain_server_header
from handlers.errors import json_answers
from handlers.metrics import Metrics
from handlers.serve import configure_logging
from handlers.state import METRICS, SERVICE, SETTINGS, SIGNING_KEYS
from handlers.workers import (
    COUNTS_PATH, COUNTS_SECONDS, FORWARDED_FOR, TOKEN_ENV, TOKEN_HEADER, counts_of, listening_socket,
)
from suppression.background import cancel_and_wait
from suppression.config import load_settings
from suppression.errors import ConfigError, StoreUnavailable
from suppression.keyfile import signing_keys
from suppression.service import SuppressionService

log = logging.getLogger("worker")

# Said by the connection, never passed on (RFC 9110 §7.6.1), and ours to set.
_NOT_PASSED = frozenset(name.lower() for name in (
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    TOKEN_HEADER, FORWARDED_FOR,
))
_PR_SET_PDEATHSIG = 1

FORWARDER = web.AppKey("forwarder", aiohttp.ClientSession)
FORWARD_TO = web.AppKey("forward_to", URL)
RECEIVED = web.AppKey("received", list)  # [requests this worker took]: a list so a handler can count in place


def build_worker_app(settings, number: int, forward_to: str, token: str) -> web.Application:
    app = web.Application(client_max_size=settings.http.max_json_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[SIGNING_KEYS] = signing_keys(settings)
    app[FORWARD_TO] = URL(forward_to)
    app[RECEIVED] = [0]
    app.on_response_prepare.append(plain_server_header)
    single = json_answers(api.get_suppression, "/v1/suppressions/{email}")
    bulk = json_answers(api.post_check, "/v1/check")

    async def check_one(request: web.Request) -> web.StreamResponse:
        app[RECEIVED][0] += 1
        return await single(request)

    async def check_many(request: web.Request) -> web.StreamResponse:
        # Hashed checks build an index of digests on first use: the first process keeps that one.
        return await (forward(request) if "hash" in request.query else _counted(request, bulk))

    app.router.add_route("GET", "/v1/suppressions/{email}", check_one)
    app.router.add_route("POST", "/v1/check", check_many)
    app.router.add_route("*", "/{anything:.*}", forward)
    app.cleanup_ctx.append(loop_lag_context)
    app.cleanup_ctx.append(_service_context)
    app.cleanup_ctx.append(_forwarder_context(token))
    app.cleanup_ctx.append(_counts_context(number, token))
    return app


async def _counted(request: web.Request, handler) -> web.StreamResponse:
    request.app[RECEIVED][0] += 1
    return await handler(request)


async def forward(request: web.Request) -> web.StreamResponse:
    """The request, passed on to the first process as it came; its answer, passed back as it comes."""
    request.app[RECEIVED][0] += 1
    if request.path.startswith(COUNTS_PATH):
        return web.json_response({"error": "not found"}, status=404)  # between our processes only
    headers = CIMultiDict((name, value) for name, value in request.headers.items() if name.lower() not in _NOT_PASSED)
    headers[FORWARDED_FOR] = request.remote or "unknown"
    body = request.content.iter_chunked(1 << 16) if request.body_exists else None
    response: web.StreamResponse | None = None
    try:
        async with request.app[FORWARDER].request(
            request.method, request.app[FORWARD_TO].join(URL(request.raw_path, encoded=True)), headers=headers,
            data=body, allow_redirects=False,
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for name, value in answer.headers.items():
                if name.lower() not in _NOT_PASSED:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in answer.content.iter_chunked(1 << 16):
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
        if response is not None and response.prepared:
            raise  # part of the answer went out: the connection is closed, as the first process's was
        log.warning("could not pass a request on to the first process: %s", exc.__class__.__name__)
        return web.json_response({"error": "the service is not answering here now; try again"}, status=503,
                                 headers={"Retry-After": "1"})


async def _service_context(app: web.Application) -> AsyncIterator[None]:
    service = SuppressionService.of_settings(app[SETTINGS], app[SIGNING_KEYS])
    await service.start(worker=True)
    app[SERVICE] = service
    gc.freeze()  # as the first process does: what lives as long as the process, out of the collector's sight
    try:
        yield
    finally:
        await service.stop()


def _forwarder_context(token: str):
    async def forwarder(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            headers={TOKEN_HEADER: token}, auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )
        app[FORWARDER] = session
        try:
            yield
        finally:
            await session.close()
    return forwarder


def _counts_context(number: int, token: str):
    async def counts(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_send_counts(app, number, token), name="worker-counts")
        try:
            yield
        finally:
            await cancel_and_wait(task)
    return counts


async def _send_counts(app: web.Application, number: int, token: str) -> None:
    """The counters to the first process every COUNTS_SECONDS (its /metrics adds them up); the
    first, sent as soon as this worker serves, tells it the worker is ready."""
    url = app[FORWARD_TO].join(URL(COUNTS_PATH))
    while True:
        body = counts_of(number, app[METRICS], app[SERVICE].live.answered_early, app[RECEIVED][0])
        try:
            async with app[FORWARDER].post(url, data=body, headers={"Content-Type": "application/json"}) as answer:
                await answer.read()
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
            pass  # the first process is stopping or restarting: the next round tells it
        await asyncio.sleep(COUNTS_SECONDS)


def _end_with_parent(parent: int) -> None:
    """SIGTERM when the first process ends, however it ends (Linux); at once if it has already."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        raise SystemExit(0)


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()  # the index loaded (cleanup_ctx) before the socket is bound
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.SockSite(runner, listening_socket(host, port))
        await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A worker of the suppression service (started by it)")
    parser.add_argument("number", type=int)
    parser.add_argument("port", type=int)
    parser.add_argument("forward_to")
    parser.add_argument("parent", type=int, help="the first process, whose end ends this one")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    _end_with_parent(args.parent)
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        print("error: a worker is started by the service ([http] workers), not by hand", file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings, f"worker {args.number}")
    sys.setswitchinterval(0.001)
    from handlers.protocol import quiet_protocol_errors

    quiet_protocol_errors()
    try:
        asyncio.run(_serve(build_worker_app(settings, args.number, args.forward_to, token),
                           settings.http.host, args.port))
    except (OSError, StoreUnavailable, ConfigError) as exc:
        log.error("worker %d cannot serve: %s", args.number, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
