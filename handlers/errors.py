"""The one place where errors become HTTP answers: domain types to statuses (handlers/answers.py),
never a traceback.

`classify` decides status and message for any exception; the API renders that as JSON
(`json_answers`), the recipients' pages as HTML (handlers/pages.py).
"""

import asyncio
import functools
import logging
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from handlers.answers import http_status
from handlers.state import METRICS
from suppression.addresses import mask_addresses_in
from suppression.errors import SuppressionError

log = logging.getLogger("handlers.http")

class ApiError(Exception):
    """An HTTP-level refusal raised by a handler (auth, content type, body shape)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Failure:
    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    cause: BaseException | None = None


def classify(request: web.Request, exc: Exception) -> Failure:
    """Status and message for an exception a handler raised, logged in one line."""
    if isinstance(exc, ApiError):
        failure = Failure(exc.status, exc.message, dict(exc.headers), exc)
    elif isinstance(exc, SuppressionError):
        failure = Failure(http_status(exc), str(exc), {}, exc)
    elif isinstance(exc, web.HTTPException) and exc.status >= 400:
        failure = Failure(exc.status, exc.text if exc.status == 413 else exc.reason, {}, exc)
    elif isinstance(exc, RequestPayloadError):  # a Content-Encoding the body is not in, a body cut short
        failure = Failure(400, f"the request body could not be read: {exc}", {}, exc)
    else:
        log.error("unexpected error answering %s %s", request.method, route_of(request), exc_info=exc)
        return Failure(500, "internal error; the service logged it", {}, exc)
    if failure.status == 503:
        failure.headers["Retry-After"] = "5"
    level = logging.WARNING if failure.status >= 500 else logging.INFO
    # The message may quote what was sent ("'jane@example..com' is not an email address").
    log.log(level, "%s %s -> %d: %s", request.method, route_of(request), failure.status,
            mask_addresses_in(failure.message)[:300])
    return failure


def handled(exc: BaseException) -> bool:
    """Whether a middleware should turn this exception into an answer (not redirects, not cancellation)."""
    if isinstance(exc, (asyncio.CancelledError, ConnectionResetError)):
        return False
    if isinstance(exc, web.HTTPException):
        return exc.status >= 400
    return isinstance(exc, Exception)


def json_answers(handler, route: str):
    """An API handler whose errors become JSON `{"error": ...}` with their status; every answer counted.

    A decorator, not a middleware: with no middleware at all aiohttp takes a fast path
    that is worth a fifth of a small request's cost. `route` is the path template the
    answers are counted under, known here so that no request has to look it up.
    """

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except BaseException as exc:
            if not handled(exc):
                raise
            failure = classify(request, exc)
            response = web.json_response({"error": failure.message}, status=failure.status, headers=failure.headers)
        request.app[METRICS].requests[route, response.status] += 1
        return response

    return answer


def count(request: web.Request, response: web.StreamResponse) -> None:
    request.app[METRICS].requests[route_of(request), response.status] += 1


def route_of(request: web.Request) -> str:
    """The route's template, so logs do not collect addresses or tokens."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"
