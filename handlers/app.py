"""Builds the one aiohttp application: routes, middlewares, and what starts and stops with it."""

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from handlers import api
from handlers.errors import json_errors
from handlers.metrics import Metrics
from handlers.state import METRICS, SERVICE, SETTINGS, SIGNING_KEYS
from suppression.config import Settings
from suppression.keyfile import signing_keys
from suppression.service import SuppressionService
from suppression.store import SuppressionStore

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> web.Application:
    app = web.Application(
        client_max_size=settings.http.max_json_bytes,
        middlewares=[count_requests, json_errors],
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(service_context)
    api.add_routes(app)
    return app


async def service_context(app: web.Application) -> AsyncIterator[None]:
    """Open the database and load the index before serving; close them after."""
    settings = app[SETTINGS]
    app[SIGNING_KEYS] = signing_keys(settings)
    service = SuppressionService(settings, SuppressionStore(settings.database_path))
    await service.start()
    app[SERVICE] = service
    app[METRICS].watch_list_size(service.list_size)
    log.info("suppression list ready: %d suppressions, data in %s", service.list_size(), settings.service.data_dir)
    yield
    await service.stop()
    log.info("database closed")


@web.middleware
async def count_requests(request: web.Request, handler):
    response = await handler(request)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].requests.labels(route, str(response.status)).inc()
    return response
