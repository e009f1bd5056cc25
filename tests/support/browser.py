"""One Chromium for each module of browser tests, and the services those tests open in it.

Each test launched its own Chromium and Playwright's driver: 1.03 s of CPU for a test with
one page, against 0.29 s for the same test in a browser already running (12 launches a run).
A browser is bound to the event loop it was launched in, so a module's browser tests run in
the module's loop (`in_module_loop`), and so do the services they open: `page_server` does
what pytest-aiohttp's `aiohttp_server` does, which runs in each test's own loop. Each test
still makes its own browser context (its own cookies, viewport and locale).
"""

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright

CHROMIUM = "/usr/bin/chromium"
# Flags for a machine with no network beyond loopback and no display (see .ci/run).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

in_module_loop = pytest.mark.asyncio(loop_scope="module")


def skip_without_chromium() -> None:
    if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page_server() -> AsyncIterator[Callable[[web.Application], Awaitable[TestServer]]]:
    """`await page_server(app)`: the app served on a loopback port until the test ends."""
    servers: list[TestServer] = []

    async def serve(app: web.Application) -> TestServer:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return server

    yield serve
    while servers:
        await servers.pop().close()
