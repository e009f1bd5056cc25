"""What the HTTP library says about a client's malformed request: one log line, nothing echoed.

aiohttp answers a malformed request (an overlong request line, bad header bytes, bad framing)
with 400 and a body quoting up to 100 bytes of it, and logs it with a traceback at ERROR. The
request line of a link is its token; a header may hold a key. Neither may reach the answer
or the log.

The connection is aiohttp's own, with four changes: it never decompresses a body; it does not
read a chunked body its handler left unread, but closes once it has answered; it lets the app
answer a request from its parsed head alone (AT_ONCE: the common single check,
handlers/check_at_once.py), or from its head and small body once a write is made (WHEN_WRITTEN:
the common one-click, handlers/one_click_at_once.py), without the task, request and response
aiohttp makes for each; and a request whose body ends after it was taken gives its place in the
queue of pipelined requests back (aiohttp 3.14 kept it, and a pipelining client then waited for
ever).
"""

import asyncio
import logging
import warnings
from collections.abc import Callable
from functools import partial

from aiohttp import web, web_server
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_parser import RawRequestMessage
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http_writer import HttpVersion11
from aiohttp.multipart import BadContentDispositionHeader, BadContentDispositionParam
from aiohttp.streams import EMPTY_PAYLOAD
from aiohttp.web_protocol import RequestHandler, _ErrInfo

log = logging.getLogger("handlers.http")

MALFORMED = "400 Bad Request: the request line or a header is malformed or too long"
SERVER = "suppression"  # the Server header: aiohttp's own names itself and its version
_SERVER = SERVER.encode()
# What an app answers from a request's parsed head, with no request object or task: the whole
# HTTP answer, or None for the ordinary route (handlers/check_at_once.py).
AT_ONCE = web.AppKey("at_once", Callable[[web.Application, RawRequestMessage], bytes | None])
# What an app answers from a request's parsed head and its whole body, once it has written what
# the request asks: a task of the whole HTTP answer (None then: the ordinary route answers the
# request after all), or None at once for the ordinary route (handlers/one_click_at_once.py).
WHEN_WRITTEN = web.AppKey(
    "when_written", Callable[[web.Application, RawRequestMessage, bytes], "asyncio.Task[bytes | None] | None"])
# The bodies WHEN_WRITTEN is shown: small forms that arrived whole with their head.
_SMALL_BODY = 256
# Answers written at once wait for a client that reads them: past this, the ordinary route's
# writes wait for the client instead of memory growing.
_UNREAD_BYTES = 64 * 1024


def ok_answer(fields: bytes, body: bytes) -> bytes:
    """A 200 answered at once, in the bytes aiohttp's own response writes: the `fields` (each
    ending CR LF), then the length, the moment and the server's name."""
    return (b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\nDate: %s\r\nServer: %s\r\n\r\n%s"
            % (fields, len(body), rfc822_formatted_time().encode(), _SERVER, body))


class ProtocolErrorsInOneLine(logging.Filter):
    """The traceback of a client's malformed request, or of a client that went away while its
    request was read, becomes one INFO line naming only its kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "malformed HTTP request refused with %s: %s", (error.code, type(error).__name__)
        elif isinstance(error, ConnectionResetError):  # aiohttp's "Connection lost", from the request body
            record.msg, record.args = "a client went away before its request was answered (%s)", (error,)
        else:
            return True
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.exc_info = record.exc_text = None
        return True


class QuietRequestHandler(RequestHandler):
    """aiohttp's connection handler, whose 400 for a malformed request quotes none of it, and which
    never decompresses a body: aiohttp would unpack a gzip body as it arrives, on the loop, for
    any route, before a handler could refuse it (a megabyte of it held every answer for two
    seconds). Handlers that read a body unpack it themselves, in pieces (bodies.body_pieces)."""

    def __init__(self, manager, *args, **kwargs):
        super().__init__(manager, *args, **{**kwargs, "auto_decompress": False})
        self._lingering = self._lingering_time  # aiohttp's 10 s: see lingering_for
        app = getattr(manager.request_handler, "__self__", None)  # the Application whose _handle serves
        at_once = app.get(AT_ONCE) if isinstance(app, web.Application) else None
        when_written = app.get(WHEN_WRITTEN) if isinstance(app, web.Application) else None
        self._parser = _AnsweringParser(self._parser, self, partial(at_once, app) if at_once is not None else None,
                                        partial(when_written, app) if when_written is not None else None)
        self._answering: asyncio.Task | None = None  # WHEN_WRITTEN's, until its answer is written
        self._held: bytes | None = None  # what came while _answering was under way; None: nothing
        self._ended = False  # the client ended its side while _answering was under way

    def data_received(self, data: bytes) -> None:
        """While a write answered once made is under way, what the client sends is held for after
        its answer, and reading stops only then: pausing the socket for every one-click (two
        system calls, a tenth of the loop's time a one-click) was for clients that send a next
        request before the answer, which the mail providers' one-click does not."""
        if self._answering is None:
            super().data_received(data)
        elif data:
            if self._held is None:
                self._pause_transport_reading()
            self._held = (self._held or b"") + data

    def eof_received(self) -> bool | None:
        """A client that ends its side of the connection (a half-close) once it has sent its
        one-click still gets the answer: the connection is kept until it is written (asyncio
        reads nothing more), then closed (_answered), or, if requests sent before the end wait
        for the ordinary route, left to its keep-alive time. aiohttp closes it at once otherwise."""
        if self._answering is None:
            return super().eof_received()
        self._ended = True
        return True

    def lingering_for(self, message: RawRequestMessage) -> None:
        """How long a body the handler leaves unread (a 404, a wrong key, a refused form) is read
        and dropped after the answer, so that a client still sending reads the answer rather
        than a reset: aiohttp's 10 s for a body of known length, a read of the socket at a time;
        none for a chunked body, a Python call for every chunk (four clients of one-byte chunks
        held every check 270-690 ms), whose connection is closed instead. Set as each request is
        parsed: the next one is parsed only once this one's body has ended."""
        self._lingering_time = 0.0 if message.chunked else self._lingering

    def idle(self) -> bool:
        """Whether no request is queued, handled or answered on this connection now, and the next
        may be answered outside aiohttp's own queue (its answer would come in its turn)."""
        waiter, transport = self._waiter, self.transport
        return not (waiter is None or waiter.done() or self._messages or self._answering is not None or self._close
                    or self._force_close or self._logging_enabled or transport is None
                    or transport.get_write_buffer_size() > _UNREAD_BYTES)

    def answer_at_once(self, messages: list, answer: Callable[[RawRequestMessage], bytes | None]) -> list:
        """Answer the requests at the head of `messages` that `answer` can, if no earlier request
        is waiting or being handled (so that answers keep the requests' order); the rest, for the
        ordinary route. At most one parser batch (MAX_MSG_QUEUE_SIZE) a call, so a client's
        pipelined requests cost the loop a bounded turn."""
        if not self.idle():
            return messages
        answers = []
        for message, payload in messages:
            if (payload is not EMPTY_PAYLOAD or message.should_close or message.upgrade
                    or message.version != HttpVersion11):
                break
            try:
                written = answer(message)
            except Exception:  # the ordinary route answers it, and says what went wrong there
                log.exception("a request that could be answered at once failed; it is answered the ordinary way")
                written = None
            if written is None:
                break
            answers.append(written)
        if not answers:
            return messages
        self._written(b"".join(answers), len(answers))
        return messages[len(answers):]

    def answer_when_written(self, message: RawRequestMessage, payload,
                            answer: Callable[[RawRequestMessage, bytes], asyncio.Task | None]) -> bool:
        """Answer `message`, the last request parsed, with `answer`'s task once it is done, if no
        other request is waiting or being handled and its small body came whole with it. What
        the client sends meanwhile is parsed only then (data_received), so that answers keep the
        requests' order. Whether `answer` took it; if its task ends with None, the request joins
        aiohttp's queue as if just parsed, and the ordinary route answers it."""
        if (message.should_close or message.upgrade or message.chunked or message.version != HttpVersion11
                or payload is EMPTY_PAYLOAD or not payload.is_eof() or not 0 < payload.total_bytes <= _SMALL_BODY
                or len(payload._buffer) != 1 or not self.idle()):
            return False
        try:
            task = answer(message, payload._buffer[0])  # read, not taken: the ordinary route may read it yet
        except Exception:  # the ordinary route answers it, and says what went wrong there
            log.exception("a request that could be answered once written failed; it is answered the ordinary way")
            task = None
        if task is None:
            return False
        self._answering = task
        task.add_done_callback(partial(self._answered, message, payload))
        return True

    def _answered(self, message: RawRequestMessage, payload, task: asyncio.Task) -> None:
        self._answering = None
        held, self._held = self._held, None
        ended, self._ended = self._ended, False
        answer = task.result() if not task.cancelled() and task.exception() is None else None
        if self.transport is None or self._force_close:
            return  # the client went away, or the connection was ended: nothing to answer
        if answer is None:
            self._request_count += 1  # as data_received queues a request; start() frees its place
            self._messages.append((message, payload))
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)
        else:
            self._parser.message_consumed()
            self._written(answer, 1)
        if self._close:  # the service is stopping: no more requests (one queued is answered first)
            if answer is not None:
                super().close()
            return
        if held is not None and not ended and not self._reading_paused and not self._buffer_paused:
            self._resume_transport_reading()
        # What came meanwhile, and what the parser held back (a full batch of pipelined requests).
        self.data_received(held or b"")
        if ended and self.transport is not None and self._answering is None and not self._messages:
            self.transport.close()  # nothing more comes: closed once the answers are sent

    def close(self) -> None:
        """As aiohttp lets a handler under way finish before it closes: a write answered once made
        keeps the connection until its answer is written (_answered closes it then)."""
        if self._answering is None:
            super().close()
        else:
            self._close = True

    async def shutdown(self, timeout: float | None = 15.0) -> None:
        """As aiohttp waits for a handler under way before it closes a connection, a write
        answered once made is waited for, and its answer written (its done callback runs first),
        within the same `timeout` in all."""
        if self._answering is not None:
            started = self._loop.time()
            done, _ = await asyncio.wait([self._answering], timeout=timeout)
            if not done:
                # Past the time, as aiohttp ends a handler: the connection closes unanswered (the
                # write goes on, and is committed or not as the store's own stop allows).
                self.force_close()
            elif timeout is not None:
                # aiohttp reads a timeout of 0 as none at all: a moment, not for ever.
                timeout = max(0.01, timeout - (self._loop.time() - started))
        await super().shutdown(timeout)

    def _process_keepalive(self) -> None:
        """aiohttp closes a connection whose keep-alive time has passed if it waits for a request:
        not while a write answered once made is under way (aiohttp's own handler does not wait
        for a request then either). _written sets the time again after its answer."""
        if self._answering is not None:
            self._keepalive_handle = None
            return
        super()._process_keepalive()

    def _written(self, answers: bytes, count: int) -> None:
        self.transport.write(answers)
        self._request_count += count
        self._manager.requests_count += count
        close_time = self._loop.time() + self._keepalive_timeout
        self._next_keepalive_close_time = close_time  # as start() does after each answer
        if self._keepalive_handle is None and self._keepalive_timeout > 0:
            self._keepalive_handle = self._loop.call_at(close_time, self._process_keepalive)

    def handle_error(self, request, status=500, exc=None, message=None):
        if status == 400 and isinstance(exc, HttpProcessingError):
            message = MALFORMED
        return super().handle_error(request, status, exc, message)


class _AnsweringParser:
    """The connection's HTTP parser, whose count of the queue's places is given back for bodies
    that end late, and whose requests the connection may answer at once (with an app's AT_ONCE:
    RequestHandler.answer_at_once) before aiohttp queues the rest for the ordinary route."""

    def __init__(self, parser, connection: QuietRequestHandler,
                 answer: Callable[[RawRequestMessage], bytes | None] | None,
                 when_written: Callable[[RawRequestMessage, bytes], asyncio.Task | None] | None):
        self._parser, self._connection, self._answer, self._when_written = parser, connection, answer, when_written

    def feed_data(self, data: bytes):
        messages, upgraded, tail = self._parser.feed_data(data)
        for message, payload in messages:
            self._connection.lingering_for(message)
            if payload is not EMPTY_PAYLOAD and not payload.is_eof():
                # aiohttp 3.14's parser counts a request against its queue of 32 when its body
                # ends, but the connection frees its place when it takes the request, maybe
                # before: that place was never given back, and after one such request a client's
                # 32nd pipelined request waited for ever. Given back once the body has ended.
                payload.on_eof(partial(self._connection._loop.call_soon, self._parser.message_consumed))
        if not messages or upgraded:
            return messages, upgraded, tail
        left = self._connection.answer_at_once(messages, self._answer) if self._answer is not None else messages
        answered = len(messages) - len(left)
        for _ in range(answered):
            self._parser.message_consumed()
        if (len(left) == 1 and self._when_written is not None
                and self._connection.answer_when_written(*left[0], self._when_written)):
            return [], upgraded, tail  # its place in the parser's queue is given back once answered
        if answered and len(messages) >= self._connection._max_msg_queue_size:
            # The parser stopped at a full batch and holds the rest; aiohttp reads it again only
            # once its own queue has filled and drained, so the slots freed here are filled now.
            try:
                more, upgraded, tail = self._parser.feed_data(b"")
            except HttpProcessingError as exc:  # as aiohttp's data_received words it
                more = [(_ErrInfo(status=400, exc=exc, message=exc.message), EMPTY_PAYLOAD)]
            left = [*left, *more]
        return left, upgraded, tail

    def message_consumed(self) -> None:
        self._parser.message_consumed()

    def __getattr__(self, name: str):
        return getattr(self._parser, name)


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
    response.headers["Server"] = SERVER
