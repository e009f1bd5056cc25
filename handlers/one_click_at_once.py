"""RFC 8058's one-click POST, answered from the request's parsed head and its body once its
suppression is on disk, without the task, request and response aiohttp makes for each request.

A one-click spent about 230 µs of the event loop's time, four times the bare POST handler's; most
of it went to what aiohttp builds around a handler, and to reading a form of one field. The
common case needs none of it: a link's token that is ours, the one field RFC 8058 sends, and no
earlier request on its connection still waiting for its answer. This makes the same suppression
through the same service.suppress, and writes the bytes the ordinary route writes
(pages.act_on_link: the same headers and page, counted alike; only the Date is the moment's).
Anything unusual returns None and the request takes the ordinary route; so does a request whose
write fails, which the ordinary route then makes again and words the refusal of
(bench/README.md, "One-click at once").
"""

import asyncio
import logging
import re

from aiohttp import web
from aiohttp.http_parser import RawRequestMessage

from handlers.locale import choose_language
from handlers.pages import ACTOR, PAGES, ROUTES
from handlers.protocol import ok_answer
from handlers.state import METRICS, SERVICE
from suppression.errors import SuppressionError
from suppression.links import ONE_CLICK
from suppression.model import Reason, Source

log = logging.getLogger("handlers.one_click")

BODY = ONE_CLICK.encode()  # "List-Unsubscribe=One-Click", all RFC 8058 asks a client to send
_FORM = "application/x-www-form-urlencoded"
# A token as our links write it (URL-safe base64 and dots): nothing for routing to decode.
_LINK = re.compile(r"/u/([A-Za-z0-9_.-]+)(/?)")


def one_click_at_once(app: web.Application, message: RawRequestMessage, body: bytes) -> asyncio.Task | None:
    """A task whose result is the whole HTTP answer once the suppression is written (None: the
    write failed, and the ordinary route answers), or None now: the ordinary route answers it."""
    if message.method != "POST" or body != BODY:
        return None
    link = _LINK.fullmatch(message.path)
    headers = message.headers
    service, pages = app.get(SERVICE), app.get(PAGES)
    if (link is None or service is None or pages is None or headers.get("Expect")
            or headers.get("Content-Type", "").strip().lower() != _FORM or "Content-Encoding" in headers):
        return None
    try:
        claim = service.links.read_link(link[1])
    except SuppressionError:
        return None  # the ordinary route words the refusal
    lang = choose_language(None, headers.get("Accept-Language"))
    route = ROUTES[1] if link[2] else ROUTES[0]
    return asyncio.get_running_loop().create_task(_suppressed(app, claim, lang, route))


async def _suppressed(app: web.Application, claim, lang: str, route: str) -> bytes | None:
    try:
        await app[SERVICE].suppress(claim.email, claim.scope, Reason.UNSUBSCRIBE, Source.ONE_CLICK, ACTOR,
                                    campaign=claim.campaign)
        return _page(app, lang, route)
    except SuppressionError:
        return None  # the store refused it (503): the ordinary route tries again, and says so
    except Exception:
        log.exception("a one-click answered once written failed; it is answered the ordinary way")
        return None


def _page(app: web.Application, lang: str, route: str) -> bytes:
    pages = app[PAGES]
    page = pages.one_click_page(lang)
    head = "".join(f"{name}: {value}\r\n" for name, value in pages.headers.items())
    answer = ok_answer(b"Content-Language: %s\r\nContent-Type: text/html; charset=utf-8\r\n%s"
                       % (lang.encode(), head.encode()), page)
    app[METRICS].requests[route, 200] += 1
    return answer
