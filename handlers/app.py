"""Builds the one aiohttp application: routes, middlewares, and what starts and stops with it."""

import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from handlers import api
from handlers.metrics import Metrics
from handlers.pages import add_page_routes
from handlers.replies import ReplySender
from handlers.smtp import RequestServer
from handlers.state import INTAKE, METRICS, SERVICE, SETTINGS, SMTP_SERVER
from suppression.config import Settings
from suppression.intake import RequestIntake
from suppression.keyfile import signing_keys
from suppression.service import SuppressionService
from suppression.store import SuppressionStore

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> web.Application:
    # No middlewares, on purpose: handlers are wrapped instead (see handlers/errors.py).
    app = web.Application(client_max_size=settings.http.max_json_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(service_context)
    app.cleanup_ctx.append(smtp_context)  # stops before the service: clean-up runs in reverse
    api.add_routes(app)
    add_page_routes(app, settings)
    return app


async def service_context(app: web.Application) -> AsyncIterator[None]:
    """Open the database and load the index before serving; close them after."""
    settings = app[SETTINGS]
    service = SuppressionService(
        settings, SuppressionStore(settings.database_path), signing_keys(settings)
    )
    await service.start()
    app[SERVICE] = service
    app[METRICS].watch_list_size(service.list_size)
    app[METRICS].watch_writable(lambda: service.store.write_problem is None)
    log.info("suppression list ready: %d suppressions, data in %s", service.list_size(), settings.service.data_dir)
    # Everything built so far lives as long as the process: keep it out of the collector's
    # sight, or each full collection walks all of it while requests wait.
    gc.freeze()
    yield
    await service.stop()
    log.info("database closed")


async def smtp_context(app: web.Application) -> AsyncIterator[None]:
    """The request intake and its SMTP server, on this loop; stored mail is handled first."""
    intake = RequestIntake(app[SERVICE], on_request=ReplySender(app[SETTINGS], app[SERVICE]))
    await intake.start()
    server = RequestServer(intake, app[SETTINGS].smtp)
    await server.start()
    app[INTAKE], app[SMTP_SERVER] = intake, server
    yield
    await server.stop()
    await intake.stop()
    log.info("SMTP stopped")
