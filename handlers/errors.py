"""The one place where errors become HTTP answers: domain types to statuses, never a traceback."""

import asyncio
import logging

from aiohttp import web

from suppression.errors import (
    BadImport,
    Conflict,
    InvalidAddress,
    InvalidValue,
    NotFound,
    StoreUnavailable,
    SuppressionError,
    UnknownTopic,
)

log = logging.getLogger("handlers.http")

STATUS_OF = {
    InvalidAddress: 400,
    UnknownTopic: 400,
    InvalidValue: 400,
    BadImport: 400,
    NotFound: 404,
    Conflict: 409,
    StoreUnavailable: 503,
}


class ApiError(Exception):
    """An HTTP-level refusal raised by a handler (auth, content type, body shape)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def status_of(exc: SuppressionError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_OF:
            return STATUS_OF[kind]
    return 400


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = web.json_response({"error": message}, status=status, headers=headers)
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@web.middleware
async def json_errors(request: web.Request, handler):
    """Every error of the API as JSON `{"error": ...}` with its status, and a log line."""
    try:
        return await handler(request)
    except ApiError as exc:
        status, message, headers = exc.status, exc.message, exc.headers
    except SuppressionError as exc:
        status, message, headers = status_of(exc), str(exc), None
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        status, headers = exc.status, None
        message = exc.text if exc.status == 413 else exc.reason
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unexpected error answering %s %s", request.method, _route(request))
        status, message, headers = 500, "internal error; the service logged it", None
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(level, "%s %s -> %d: %s", request.method, _route(request), status, message)
    return error_response(status, message, headers)


def _route(request: web.Request) -> str:
    """The route's template, so logs do not collect addresses or tokens."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"
