"""Builds the one aiohttp application: routes, middlewares, and what starts and stops with it."""

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager

from aiohttp import web

from handlers import api
from handlers.dashboard import add_dashboard_routes
from handlers.desk import add_desk_routes
from handlers.metrics import Metrics, probing_loop_lag
from handlers.pages import PAGES, add_page_routes
from handlers.check_at_once import check_at_once
from handlers.one_click_at_once import one_click_at_once
from handlers.protocol import AT_ONCE, WHEN_WRITTEN, plain_server_header
from handlers.replies import ReplySender
from handlers.return_mail import ReturnMailer
from handlers.smtp import RequestServer
from handlers.imap import MailboxIntake
from handlers.state import (
    COMING_BACK, INTAKE, MAILBOX, METRICS, RETURN_MAILER, SERVICE, SETTINGS, SIGNING_KEYS, SMTP_SERVER, WEBHOOKS,
)
from handlers.webhooks import WebhookDispatcher
from handlers.workers import COUNTS_PATH, WORKER_PLAN, WORKERS, WorkerPlan, Workers, take_counts
from suppression.config import Settings, warn_if_links_are_plain_http
from suppression.intake import RequestIntake
from suppression.keyfile import signing_keys
from suppression.returning import ComingBack
from suppression.service import SuppressionService

log = logging.getLogger(__name__)


def build_app(settings: Settings, workers: WorkerPlan | None = None) -> web.Application:
    """The app of the service's (first) process; with `workers`, it starts them (handlers/workers.py)."""
    # No middlewares, on purpose: handlers are wrapped instead (see handlers/errors.py).
    app = web.Application(client_max_size=settings.http.max_json_bytes)
    app[SETTINGS] = settings
    if workers is not None:
        app[WORKER_PLAN] = workers
        app.router.add_post(COUNTS_PATH, take_counts)
    app[METRICS] = Metrics()
    app.on_response_prepare.append(plain_server_header)
    app[AT_ONCE] = check_at_once  # the common single check, without aiohttp's request and task
    app[WHEN_WRITTEN] = one_click_at_once  # and the common one-click
    app.cleanup_ctx.append(lifespan)
    api.add_routes(app)
    add_page_routes(app, settings)
    app[SIGNING_KEYS] = signing_keys(settings)  # read once: the links', the service's and the desk's
    add_desk_routes(app, app[SIGNING_KEYS], secure=settings.service.base_url.startswith("https://"))
    add_dashboard_routes(app)
    return app


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    """The service, then SMTP on it; stopped in reverse.

    One context, not two: aiohttp runs no clean-up at all when a start-up step fails (an SMTP
    port in use, say), so each stage that did start must be unwound here, or the database
    stays open and its threads keep the process from exiting.
    """
    async with AsyncExitStack() as stages:
        await stages.enter_async_context(probing_loop_lag(app[METRICS]))
        await stages.enter_async_context(asynccontextmanager(service_context)(app))
        await stages.enter_async_context(asynccontextmanager(coming_back_context)(app))
        await stages.enter_async_context(asynccontextmanager(webhooks_context)(app))
        await stages.enter_async_context(asynccontextmanager(smtp_context)(app))
        if WORKER_PLAN in app:
            await stages.enter_async_context(asynccontextmanager(workers_context)(app))
        yield


async def service_context(app: web.Application) -> AsyncIterator[None]:
    """Open the database and load the index before serving; close them after."""
    settings = app[SETTINGS]
    service = SuppressionService.of_settings(settings, app[SIGNING_KEYS])
    await service.start(shared=WORKER_PLAN in app)  # serve made the plan: the one place that decides
    app[SERVICE] = service
    app[METRICS].watch_list_size(service.live.size)
    app[METRICS].watch_writable(lambda: service.store.write_problem is None)
    app[METRICS].watch_answered_early(lambda: service.live.answered_early)
    log.info("suppression list ready: %d suppressions, data in %s", service.live.size(), settings.service.data_dir)
    warn_if_links_are_plain_http(settings)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # sight, or each full collection walks all of it while requests wait.
    gc.freeze()
    try:
        yield
    finally:
        await service.stop()
        log.info("database closed")


async def coming_back_context(app: web.Application) -> AsyncIterator[None]:
    """Asking to come back and confirming it; the confirmations mailed beside the answers."""
    mailer = ReturnMailer(app[SETTINGS], app[PAGES].catalogues)
    app[RETURN_MAILER] = mailer
    app[COMING_BACK] = ComingBack(app[SERVICE], app[SETTINGS].reply.come_back_per_day, mailer.send_soon)
    try:
        yield
    finally:
        await mailer.stop()


async def webhooks_context(app: web.Application) -> AsyncIterator[None]:
    """Deliver the outbox to the [[webhooks]] receivers (with none, only forget old receivers)."""
    dispatcher = WebhookDispatcher(app[SERVICE], app[SETTINGS].webhooks)
    await dispatcher.start()
    app[WEBHOOKS] = dispatcher
    try:
        yield
    finally:
        await dispatcher.stop()


async def smtp_context(app: web.Application) -> AsyncIterator[None]:
    """The request intake, its SMTP server and its mailbox reader, on this loop; stored mail is
    handled first."""
    settings = app[SETTINGS]
    intake = RequestIntake(app[SERVICE], on_request=ReplySender(settings, app[SERVICE]))
    await intake.start()
    app[INTAKE] = intake
    app[METRICS].watch_intake(lambda: (intake.unread, intake.reading, intake.deferred))
    async with AsyncExitStack() as stages:
        stages.push_async_callback(intake.stop)  # its task reads the database, which is closed next
        if settings.smtp.enabled:
            server = RequestServer(intake, settings.smtp)
            await server.start()
            if server.tls is not None:
                stages.enter_context(_on_sighup(server.reload_tls))
            stages.callback(log.info, "SMTP stopped")  # logged once the server has stopped
            stages.push_async_callback(server.stop)
            app[SMTP_SERVER] = server
        if settings.imap.host:
            mailbox = MailboxIntake(intake, settings.imap, settings.smtp.max_message_bytes,
                                    settings.smtp.request_addresses[0])
            await mailbox.start()
            stages.push_async_callback(mailbox.stop)
            app[MAILBOX] = mailbox
        yield
    log.info("mail intake stopped")


async def workers_context(app: web.Application) -> AsyncIterator[None]:
    """The workers, once the snapshot they map is on disk; stopped before anything else."""
    await app[SERVICE].live.snapshot_written()
    workers = Workers(app[WORKER_PLAN], app[METRICS])
    app[WORKERS] = workers
    workers.start()
    try:
        yield
    finally:
        await workers.stop()


@contextmanager
def _on_sighup(action):
    """SIGHUP runs `action` while the service runs (where the loop can take signals: the main
    thread of a POSIX process)."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, action)
    except (NotImplementedError, RuntimeError, ValueError):
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
