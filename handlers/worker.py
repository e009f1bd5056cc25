"""A worker: one more process answering checks on the service's port (handlers/workers.py).

Forked by the first process at its start (run_forked), so that it shares the interpreter and
the imports with it; one started again after another ended is a fresh `python -m
handlers.worker NUMBER PORT FORWARD_TO PARENT [--config PATH]`, with the token in its
environment. It loads the index (mapped from the first process's snapshot), follows the
change log as the first process does, answers the checks, and passes every other request on
to the first process as it came. It binds its socket only once its index is loaded, so no
connection waits on a worker that is starting. It ends when the first process does.
"""

import argparse
import asyncio
import dataclasses
import gc
import logging
import os
import signal
import sys
import traceback
from collections.abc import AsyncIterator
from typing import NoReturn

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from handlers import api
from handlers.errors import json_answers
from handlers.logs import configure_logging
from handlers.metrics import Metrics, probing_loop_lag
from handlers.check_at_once import check_at_once
from handlers.protocol import AT_ONCE, plain_server_header, quiet_protocol_errors
from handlers.state import METRICS, SERVICE, SETTINGS
from handlers.workers import (
    COUNTS_PATH, COUNTS_SECONDS, FORWARDED_FOR, STOP_SECONDS, TOKEN_ENV, TOKEN_HEADER, counts_of, port_socket,
)
from suppression.background import cancel_and_wait
from suppression.config import load_settings
from suppression.errors import ConfigError, StoreUnavailable
from suppression.lifetime import end_with_parent
from suppression.service import SuppressionService

log = logging.getLogger("worker")

# Said by the connection, never passed on (RFC 9110 §7.6.1), and ours to set.
_NOT_PASSED = frozenset(name.lower() for name in (
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    TOKEN_HEADER, FORWARDED_FOR,
))
WORKER_POOL_SIZE = 2

FORWARDER = web.AppKey("forwarder", aiohttp.ClientSession)
FORWARD_TO = web.AppKey("forward_to", str)
TOKEN = web.AppKey("token", str)


def build_worker_app(settings, number: int, forward_to: str, token: str) -> web.Application:
    app = web.Application(client_max_size=settings.http.max_json_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[FORWARD_TO] = forward_to.rstrip("/")
    app[TOKEN] = token
    app.on_response_prepare.append(plain_server_header)
    app[AT_ONCE] = check_at_once  # the common single check, without aiohttp's request and task
    bulk = json_answers(api.post_check, "/v1/check")

    async def check_many(request: web.Request) -> web.StreamResponse:
        # Hashed checks build an index of digests on first use: the first process keeps that one.
        return await (forward(request) if "hash" in request.query else bulk(request))

    # Answered here, and counted as the first process counts them (json_answers).
    app.router.add_route("GET", "/v1/suppressions/{email}", json_answers(api.get_suppression, "/v1/suppressions/{email}"))
    app.router.add_route("POST", "/v1/check", check_many)
    app.router.add_route("*", "/{anything:.*}", forward)
    app.cleanup_ctx.append(_lag_context)
    app.cleanup_ctx.append(_service_context)
    app.cleanup_ctx.append(_forwarder_context)
    app.cleanup_ctx.append(_counts_context(number))
    return app


async def forward(request: web.Request) -> web.StreamResponse:
    """The request, passed on to the first process as it came; its answer, passed back as it comes."""
    # The path and query only, as the first process reads them itself: a request that names a host
    # ("http://host/...", "//host/...") is for this service all the same, and the token never
    # leaves for another; what passes between our processes is not passed on.
    target = request.rel_url.raw_path_qs
    if not target.startswith("/") or request.path.startswith(COUNTS_PATH):
        return web.json_response({"error": "not found"}, status=404)
    hop_only = _NOT_PASSED | _named_by_connection(request)
    headers = CIMultiDict((name, value) for name, value in request.headers.items() if name.lower() not in hop_only)
    headers[TOKEN_HEADER] = request.app[TOKEN]
    headers[FORWARDED_FOR] = request.remote or "unknown"
    body = request.content.iter_chunked(1 << 16) if request.body_exists else None
    response: web.StreamResponse | None = None
    try:
        async with request.app[FORWARDER].request(
            request.method, URL(request.app[FORWARD_TO] + target, encoded=True), headers=headers,
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
        if request.transport is None or request.transport.is_closing():
            raise asyncio.CancelledError from None  # the client went away: no one to answer, nothing to log
        if response is not None and response.prepared:
            raise  # part of the answer went out: the connection is closed, as the first process's was
        log.warning("could not pass a request on to the first process: %s", exc.__class__.__name__)
        return web.json_response({"error": "the service is not answering here now; try again"}, status=503,
                                 headers={"Retry-After": "1"})


def _named_by_connection(request: web.Request) -> set[str]:
    """Headers the client's Connection header lists: for this hop only (RFC 9110 §7.6.1)."""
    return {name.strip().lower() for value in request.headers.getall("Connection", ()) for name in value.split(",")}


async def _lag_context(app: web.Application) -> AsyncIterator[None]:
    async with probing_loop_lag(app[METRICS]):
        yield


async def _service_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # A worker's own reads (a check's details, a key) on PostgreSQL: a connection or two, so the
    # workers of an instance do not each take the pool the first process needs for its writes.
    settings = dataclasses.replace(settings, store=dataclasses.replace(
        settings.store, pool_size=min(WORKER_POOL_SIZE, settings.store.pool_size)))
    service = SuppressionService.of_settings(settings)  # no signing keys: a worker mints and reads no link
    await service.start(worker=True, shared=True)
    app[SERVICE] = service
    gc.freeze()  # as the first process does: what lives as long as the process, out of the collector's sight
    try:
        yield
    finally:
        await service.stop()


async def _forwarder_context(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        auto_decompress=False, skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
    )
    app[FORWARDER] = session
    try:
        yield
    finally:
        await session.close()


def _counts_context(number: int):
    async def counts(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(_send_counts(app, number), name="worker-counts")
        try:
            yield
        finally:
            await cancel_and_wait(task)
    return counts


async def _send_counts(app: web.Application, number: int) -> None:
    """The counters to the first process every COUNTS_SECONDS (its /metrics adds them up); the
    first, sent as soon as this worker serves, tells it the worker is ready."""
    url = URL(app[FORWARD_TO] + COUNTS_PATH)
    headers = {"Content-Type": "application/json", TOKEN_HEADER: app[TOKEN]}
    while True:
        body = counts_of(number, app[METRICS], app[SERVICE].live.answered_early)
        try:
            async with app[FORWARDER].post(url, data=body, headers=headers) as answer:
                await answer.read()
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
            pass  # the first process is stopping or restarting: the next round tells it
        await asyncio.sleep(COUNTS_SECONDS)


def _end_with_parent(parent: int) -> None:
    """SIGTERM when the first process ends, however it ends (Linux); at once if it has already."""
    if not end_with_parent(parent, signal.SIGTERM):
        raise SystemExit(0)


async def _serve(app: web.Application, host: str, port: int) -> None:
    # Its own stop within the first process's wait for it (handlers/workers.py's STOP_SECONDS).
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=STOP_SECONDS / 2)
    await runner.setup()  # the index loaded (cleanup_ctx) before the socket is bound
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.SockSite(runner, port_socket(host, port))
        await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """A worker started afresh (after one ended): `python -m handlers.worker ...`."""
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
    return _run(settings, args.number, args.port, args.forward_to, token)


def run_forked(settings, number: int, plan, wait: int, inherited: list[int]) -> NoReturn:
    """A worker forked by the first process at its start (handlers/workers.py's fork_workers):
    waits until the first lets it go (its snapshot on disk), then serves; never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the first process, which ends us
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for fd in inherited:  # the first process's sockets and the workers' pipes: not ours
            os.close(fd)
        _end_with_parent(plan.parent)
        if os.read(wait, 1) != b"1":
            code = 0  # the first process ended before it was ready
        else:
            os.close(wait)
            code = _run(settings, number, plan.port, plan.forward_to, plan.token)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)  # never the first process's exit handlers, nor its code after the fork


def _run(settings, number: int, port: int, forward_to: str, token: str) -> int:
    configure_logging(settings, f"worker {number}")
    sys.setswitchinterval(0.001)
    quiet_protocol_errors()
    try:
        asyncio.run(_serve(build_worker_app(settings, number, forward_to, token), settings.http.host, port))
    except (OSError, StoreUnavailable, ConfigError) as exc:
        log.error("worker %d cannot serve: %s", number, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
