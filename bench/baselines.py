"""The limits the figures are measured beside: bare servers that do only the wire work.

    python bench/baselines.py http PORT   # aiohttp: the single check's JSON, a one-click POST page
    python bench/baselines.py smtp PORT   # aiosmtpd: 250 for every message, nothing stored
"""

import asyncio
import sys
from functools import partial

from aiohttp import web
from aiosmtpd.smtp import SMTP

ONE_CLICK_PAGE = "<!doctype html><html lang=en><title>Unsubscribed</title><h1>You are unsubscribed</h1></html>"


def bare_http_app() -> web.Application:
    async def check(request: web.Request) -> web.Response:
        return web.json_response({"email": request.match_info["email"], "topic": None, "suppressed": False})

    async def one_click(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=ONE_CLICK_PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/v1/suppressions/{email}", check)
    app.router.add_post("/u/{token}", one_click)
    return app


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK"


async def serve_smtp(port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(
        partial(SMTP, Sink(), enable_SMTPUTF8=True, data_size_limit=10 * 1024 * 1024, loop=loop), "127.0.0.1", port
    )
    await asyncio.Event().wait()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "http":
        web.run_app(bare_http_app(), host="127.0.0.1", port=port, access_log=None, print=None)
    else:
        asyncio.run(serve_smtp(port))


if __name__ == "__main__":
    main()
