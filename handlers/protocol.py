"""What the HTTP library says about a client's malformed request: one log line, nothing echoed.

aiohttp answers a malformed request (an overlong request line, bad header bytes, bad framing)
with 400 and a body quoting up to 100 bytes of it, and logs it with a traceback at ERROR. The
request line of a link is its token; a header may hold a key. Neither may reach the answer
or the log.
"""

import logging
import warnings

from aiohttp import web, web_server
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from aiohttp.web_protocol import RequestHandler

MALFORMED = "400 Bad Request: the request line or a header is malformed or too long"


class ProtocolErrorsInOneLine(logging.Filter):
    """The traceback of a client's malformed request becomes one INFO line naming only its kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], HttpProcessingError):
            error = record.exc_info[1]
            record.msg = "malformed HTTP request refused with %s: %s"
            record.args = (error.code, type(error).__name__)
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info = record.exc_text = None
        return True


class QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, whose 400 for a malformed request quotes none of it, and which
    never decompresses a body: aiohttp would unpack a gzip body as it arrives, on the loop, for
    any route, before a handler could refuse it (a megabyte of it held every answer for two
    seconds). Handlers that read a body unpack it themselves, in pieces (bodies.body_pieces)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{**kwargs, "auto_decompress": False})

    def handle_error(self, request, status=500, exc=None, message=None):
        if status == 400 and isinstance(exc, HttpProcessingError):
            message = MALFORMED
        return super().handle_error(request, status, exc, message)


def quiet_protocol_errors() -> None:
    logging.getLogger("aiohttp.server").addFilter(ProtocolErrorsInOneLine())
    # aiohttp warns of a malformed part header in a multipart form with the header's text (a
    # name="..." a stranger wrote, an address say), printed to the log, and the warnings
    # registry keeps each distinct text for ever. The form is refused with a 400 all the same.
    for category in (BadContentDispositionHeader, BadContentDispositionParam):
        warnings.filterwarnings("ignore", category=category)
    # aiohttp's Server makes each connection's handler from this module-level name; there is
    # no parameter for it. A subclass: the 400's text, and no decompression.
    web_server.RequestHandler = QuietRequestHandler


async def plain_server_header(request: web.Request, response: web.StreamResponse) -> None:
    # aiohttp names itself and its version: a list of what to attack, for anyone who asks.
    response.headers["Server"] = "suppression"
