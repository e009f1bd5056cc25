"""The SMTP edge (aiosmtpd) for the request addresses: accept, store durably, answer.

It decides nothing itself: recipients are checked with the intake, messages are handed to
it, and its answers become SMTP replies. It runs on the service's own loop.
"""

import asyncio
import logging
import weakref
from functools import partial

from aiosmtpd.smtp import SMTP, Envelope, Session

from suppression.addresses import normalise_address
from suppression.config import SmtpSettings
from suppression.errors import InvalidAddress, StoreUnavailable
from suppression.intake import RequestIntake

log = logging.getLogger(__name__)

OK_RCPT = "250 2.1.5 Recipient OK"
ERR_421 = "421 4.3.2 Service shutting down, please try again later"
ERR_451 = "451 4.3.0 Temporary failure, please try again later"
ERR_452_RCPTS = "452 4.5.3 Too many recipients"
ERR_550_RELAY = "550 5.7.1 Relaying denied: this server only takes mail for its unsubscribe address"
ERR_553_SYNTAX = "553 5.1.3 Recipient address is not valid"

SESSION_TIMEOUT_SECONDS = 60  # idle time before aiosmtpd closes a session
MAX_RECIPIENTS = 50
SESSION_COMMAND_LIMIT = 1000  # of each command in one session
SHUTDOWN_GRACE_SECONDS = 10  # for messages being stored when the service stops


class RequestHandler:
    """aiosmtpd handler: RCPT only for the request addresses, DATA stored before 250."""

    def __init__(self, intake: RequestIntake):
        self.intake = intake
        self.storing = 0  # DATA commands being stored right now

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options):
        try:
            canonical = normalise_address(address)
        except InvalidAddress:
            return ERR_553_SYNTAX
        if not self.intake.accepts(canonical):
            return ERR_550_RELAY
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return ERR_452_RCPTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK_RCPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        self.storing += 1
        try:
            message_id = await self.intake.receive(
                envelope.original_content or b"", envelope.mail_from or "", list(envelope.rcpt_tos)
            )
        except StoreUnavailable as exc:
            log.warning("refused a message with 451: %s", exc)
            return ERR_451
        finally:
            self.storing -= 1
        return f"250 2.0.0 Stored as message {message_id}"

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answer names the exception; ours says nothing and asks for a retry.
        log.error("SMTP session failed", exc_info=error)
        return ERR_451


class RequestServer:
    """The listening SMTP server and its open sessions, for a clean stop."""

    def __init__(self, intake: RequestIntake, settings: SmtpSettings):
        self.handler = RequestHandler(intake)
        self.settings = settings
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.server: asyncio.base_events.Server | None = None

    def _session(self) -> SMTP:
        protocol = SMTP(
            self.handler,
            data_size_limit=self.settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=SESSION_TIMEOUT_SECONDS,
            # Per session: generous for an MTA delivering a batch over one connection, a
            # bound for a client that loops forever.
            command_call_limit={"RCPT": SESSION_COMMAND_LIMIT * 5, "*": SESSION_COMMAND_LIMIT},
            loop=asyncio.get_running_loop(),
        )
        self.sessions.add(protocol)
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(partial(self._session), self.settings.host, self.settings.port)
        log.info("serving SMTP on %s:%d", self.settings.host, self.settings.port)

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, let messages being stored finish, then close sessions with 421."""
        if self.server is None:
            return
        self.server.close()
        for _ in range(SHUTDOWN_GRACE_SECONDS * 20):
            if self.handler.storing == 0:
                break
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            transport = session.transport
            if transport is not None and not transport.is_closing():
                transport.write(f"{ERR_421}\r\n".encode())
                transport.close()
        await self.server.wait_closed()
        self.server = None
