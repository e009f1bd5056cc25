"""A real SMTP relay for the tests of mail the service sends (an aiosmtpd sink on loopback)."""

import asyncio
import contextlib
from functools import partial

from aiosmtpd.smtp import SMTP


class RecordingRelay:
    """A relay that keeps what it is given, as a mail server would."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 OK"


@contextlib.asynccontextmanager
async def recording_relay():
    """A RecordingRelay listening on a loopback port, in the running loop (a test's own, or a
    browser module's: tests/support/browser.py)."""
    handler = RecordingRelay()
    loop = asyncio.get_running_loop()
    # Named, or aiosmtpd asks the resolver for this host's name at each connection, on the loop.
    server = await loop.create_server(partial(SMTP, handler, hostname="relay.test", loop=loop), "127.0.0.1", 0)
    handler.port = server.sockets[0].getsockname()[1]
    try:
        yield handler
    finally:
        server.close()
        await server.wait_closed()
