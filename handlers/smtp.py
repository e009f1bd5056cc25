"""The SMTP edge (aiosmtpd) for the request addresses: accept, store durably, answer.

It decides nothing itself: recipients are checked with the intake, messages are handed to
it, and its answers become SMTP replies. It runs on the service's own loop.
"""

import asyncio
import ipaddress
import logging
import os
import re
import socket
import ssl
import weakref
from collections import Counter

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax

from handlers.answers import ANSWERS, smtp_reply
from handlers.smtp_data import read_data
from handlers.smtp_turns import CommandTurns
from suppression.addresses import sender_key
from suppression.background import cancel_and_wait
from suppression.inbound.authresults import MOST_HEADER_BYTES, HeaderTooLarge, TooManyResults, disowned
from suppression.ratelimit import client_network, from_relay, sending_network
from suppression.config import SmtpSettings
from suppression.errors import ConfigError, InvalidAddress, MailStorageFull, StoreUnavailable
from suppression.intake import RequestIntake
from suppression.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

OK_RCPT = "250 2.1.5 Recipient OK"
ERR_421 = "421 4.3.2 Service shutting down, please try again later"
ERR_421_SESSION = "421 4.4.2 Session too long, please reconnect"
ERR_450_SENDER = "450 4.7.1 Too many messages from this sender, please try again later"
ERR_450_BYTES = "450 4.7.1 Too much mail from this sender this hour, please try again later"
ERR_451 = ANSWERS[StoreUnavailable][1]
ERR_452_RCPTS = "452 4.5.3 Too many recipients"
ERR_550_RELAY = "550 5.7.1 Relaying denied: this server only takes mail for its unsubscribe address"
ERR_553_SYNTAX = "553 5.1.3 Recipient address is not valid"
ERR_553_SENDER = "553 5.1.7 The sender address is not valid UTF-8"
ERR_554_RESULTS = "554 5.6.0 Too many Authentication-Results header fields"
ERR_552_HEADER = f"552 5.6.0 Headers too large ({MOST_HEADER_BYTES} bytes at most)"

MAX_RECIPIENTS = 50
SESSION_COMMAND_LIMIT = 1000  # of each command in one session
_TOLD_SECONDS = 0.1  # how often data arriving puts the idle timer back, at most
SHUTDOWN_GRACE_SECONDS = 10  # for messages being stored when the service stops
# How often the certificate files are looked at: a renewal (certbot, ACME) is served within this.
CERTIFICATE_CHECK_SECONDS = 60


class RequestHandler:
    """aiosmtpd handler: RCPT only for the request addresses, DATA stored before 250."""

    def __init__(self, intake: RequestIntake, settings: SmtpSettings):
        self.intake = intake
        self.storing: weakref.WeakSet[Session] = weakref.WeakSet()  # sessions whose DATA is being stored
        self.senders = SlidingWindow(settings.sender_messages_per_hour, 3600)
        self.null_senders = SlidingWindow(settings.null_sender_messages_per_hour, 3600)
        self.sender_bytes = SlidingWindow(settings.sender_bytes_per_hour, 3600)
        self.relays = [ipaddress.ip_network(relay, strict=False) for relay in settings.trusted_relays]

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options):
        if not _is_utf8(address):
            # Bytes that are not UTF-8 (Latin-1 sent without SMTPUTF8, or broken UTF-8 with it):
            # no store can keep such a sender, so a 250 here ended in a 451 at DATA, retried
            # until the sending server gave up. Refused now, the sender is told by a bounce.
            log.info("refused a sender address that is not UTF-8 with 553")
            return ERR_553_SENDER
        key = sender_key(address)
        # The null sender is every mail server's bounces and reports: one key for all of them
        # would throttle a campaign's bounces to a trickle, so its messages are counted per
        # client address, under a larger limit. Nothing here reads a message: what it is, is
        # for the reader process to say.
        window, count_key = self._messages_window(key, session)
        if not window.allows(count_key):
            log.warning("refused a message with 450: more than %d this hour from one sender", window.limit)
            return ERR_450_SENDER
        if not self.sender_bytes.allows(_bytes_key(key, session)):
            log.warning("refused a message with 450: more than %d bytes this hour from one sender",
                        self.sender_bytes.limit)
            return ERR_450_BYTES
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options):
        try:
            accepted = self.intake.accepts(address)
        except InvalidAddress:
            return ERR_553_SYNTAX
        if not accepted:
            return ERR_550_RELAY
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return ERR_452_RCPTS
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return OK_RCPT

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        raw, key = envelope.original_content or b"", sender_key(envelope.mail_from or "")
        window, count_key = self._messages_window(key, session)
        if not self.sender_bytes.allows(_bytes_key(key, session), len(raw)):
            log.warning("refused a message with 450: more than %d bytes this hour from one sender",
                        self.sender_bytes.limit)
            return ERR_450_BYTES
        if not from_relay(session.peer, self.relays):
            try:
                raw = disowned(raw)  # its Authentication-Results are the sender's, whatever MTA they name
            except TooManyResults as exc:
                log.warning("refused a message with 554: %s", exc)
                return ERR_554_RESULTS
            except HeaderTooLarge as exc:
                log.warning("refused a message with 552: %s", exc)
                return ERR_552_HEADER
        self.storing.add(session)
        try:
            message_id = await self.intake.receive(raw, envelope.mail_from or "", list(envelope.rcpt_tos),
                                                   network=sending_network(session.peer, raw, self.relays))
        except (StoreUnavailable, MailStorageFull) as exc:
            reply = smtp_reply(exc)
            log.warning("refused a message with %s: %s", reply[:3], exc)
            return reply
        finally:
            self.storing.discard(session)
        window.record(count_key)
        self.sender_bytes.record(_bytes_key(key, session), len(raw))
        return f"250 2.0.0 Stored as message {message_id}"

    def _messages_window(self, key: str, session: Session) -> tuple[SlidingWindow, str]:
        """Where a message counts: its sender's window, or for the null sender its client's."""
        return (self.senders, key) if key else (self.null_senders, _bytes_key(key, session))

    async def handle_exception(self, error: Exception) -> str:
        # aiosmtpd's default answer names the exception; ours says nothing and asks for a retry.
        log.error("SMTP session failed", exc_info=error)
        return ERR_451


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")  # aiosmtpd keeps bytes it could not decode as lone surrogates
    except UnicodeEncodeError:
        return False
    return True


def _bytes_key(sender: str, session: Session) -> str:
    """Whom the bytes of a message count against: its sender, or for the null sender its client."""
    if sender:
        return sender
    peer = session.peer
    return f"<>@{peer[0] if isinstance(peer, tuple) else peer}"




class ConnectionGate:
    """Counts open sessions, in all, per client IP and per client network (an IPv4 /24, an IPv6
    /56: one sender picks any address in it), so a few clients, or one network's many
    addresses, cannot hold them all."""

    def __init__(self, total: int, per_client: int, per_network: int):
        self.total, self.per_client, self.per_network = total, per_client, per_network
        self.open: Counter[str] = Counter()
        self.in_network: Counter[str] = Counter()
        self.count = 0

    def admit(self, client: str) -> str | None:
        """Take a place for `client`, or say why not."""
        network = client_network(client) or client
        if self.count >= self.total:
            return "Too many connections"
        if self.open[client] >= self.per_client:
            return "Too many connections from your address"
        if self.in_network[network] >= self.per_network:
            return "Too many connections from your network"
        self.open[client] += 1
        self.in_network[network] += 1
        self.count += 1
        return None

    def release(self, client: str) -> None:
        network = client_network(client) or client
        self.count -= 1
        for counts, key in ((self.open, client), (self.in_network, network)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]


def _certificate_stamp(settings: SmtpSettings) -> tuple:
    """What changes when the certificate or key file is replaced or rewritten."""
    stamp = []
    for name in (settings.tls_cert_file, settings.tls_key_file):
        try:
            found = os.stat(name)
            stamp.append((found.st_mtime_ns, found.st_size, found.st_ino))
        except OSError:
            stamp.append(None)
    return tuple(stamp)


def _address_in(path: str) -> str:
    """The address a path (_PATH) names: without its brackets and source route, and a quoted
    local part without its quotes where it needs none and escapes only where it needs them (as
    the email package writes it)."""
    if path == "<>":
        return path
    mailbox = path[1:-1] if path.startswith("<") else path
    if mailbox.startswith("@"):
        mailbox = mailbox[_ROUTE.match(mailbox).end():]
    if not mailbox.startswith('"'):
        return mailbox
    local, domain = _MAILBOX.fullmatch(mailbox).groups()
    unquoted = _ESCAPED.sub(r"\1", local[1:-1])
    if not unquoted and not domain and not path.startswith("<"):
        return ""  # a bare '""' is no address (a 501 at MAIL), as the parser read it
    if not _DOT_LOCAL.fullmatch(unquoted):
        unquoted = '"' + unquoted.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return unquoted + (domain or "")


def tls_context(settings: SmtpSettings) -> ssl.SSLContext | None:
    """The server's TLS context for STARTTLS, when a certificate and key are configured."""
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"config keys smtp.tls_cert_file/tls_key_file: cannot load them: {exc}") from None
    return context


# The address in MAIL, RCPT and VRFY: a path as RFC 5321 writes it (4.1.2; UTF-8 as RFC 6531
# allows): "<>", or an optional source route, a local part and "@", a domain or an address
# literal, mostly in angle brackets; no comments, no folding. The local part is atext and dots
# as mail servers write them (some mobile carriers' addresses have a dot before the "@", or two
# together), or one quoted string. One pass of this pattern reads it, at most 256 characters of
# it (4.5.3.1.3). The standard library's parser, which aiosmtpd uses, read comments, folding and
# encoded words too, in a time that grew faster than the argument: 4 ms for 535 characters of
# "(a", and a turn of the loop runs 32 commands.
_UTF8 = r"\u0080-\U0010ffff"
_DOT_LOCAL = re.compile(rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.{_UTF8}-]+")
_QUOTED = rf'"(?:[\x20\x21\x23-\x5b\x5d-\x7e{_UTF8}]|\\[\x20-\x7e])*"'
_DOMAIN = rf"[A-Za-z0-9_{_UTF8}-]+(?:\.[A-Za-z0-9_{_UTF8}-]+)*"
_PLACE = rf"(?:{_DOMAIN}|\[[\x21-\x5a\x5e-\x7e]+\])"  # a domain, or an address literal
_LOCAL = rf"(?:{_DOT_LOCAL.pattern}|{_QUOTED})"
_MAILBOX = re.compile(rf"({_LOCAL})(@{_PLACE})?")  # no domain: <Postmaster> (4.1.1.3), as the parser read any
_ROUTE = re.compile(rf"@{_PLACE}(?:,@{_PLACE})*:")  # to be ignored (RFC 5321 4.1.2)
# The blanks after a path are its own, as aiosmtpd reads them, but not after "<>": from a space or
# a tab on, any white space (U+00A0 too, and the like, which its parser folds in after a blank);
# an address without brackets ends at a blank, and one without a domain is the whole argument.
_PATH = re.compile(rf"<>|(<(?:{_ROUTE.pattern})?{_MAILBOX.pattern}>|{_LOCAL}@{_PLACE}(?=[ \t]|$)|{_LOCAL}$)(?:[ \t]\s*)?")
_LONGEST_PATH = 256
# A control character, or a blank other than the space (U+00A0 and its kin, which the parser read
# as blanks). Bytes that are not UTF-8 pass, and are refused as such at MAIL (ERR_553_SENDER).
_NOT_IN_A_PATH = re.compile(r"[^\S ]|[\x00-\x1f\x7f]")
_ESCAPED = re.compile(r"\\(.)")


class RequestSession(SMTP):
    """aiosmtpd's session with our limits: a place at the gate, and a longest lifetime."""

    def __init__(self, handler: RequestHandler, gate: ConnectionGate, turns: CommandTurns, settings: SmtpSettings,
                 hostname: str, tls: ssl.SSLContext | None = None):
        super().__init__(
            handler,
            # Named, or aiosmtpd asks the resolver for this host's name (socket.getfqdn) at each
            # connection, on the loop: where DNS is slow, every stranger's connection held it.
            hostname=hostname,
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            timeout=settings.idle_timeout_seconds,
            # Per session: generous for an MTA delivering a batch over one connection, a
            # bound for a client that loops forever.
            command_call_limit={"RCPT": SESSION_COMMAND_LIMIT * 5, "*": SESSION_COMMAND_LIMIT},
            ident="ESMTP",  # aiosmtpd's default names itself and its version to every client
            # Offered, never required: a sender without TLS must still be able to unsubscribe.
            tls_context=tls,
            require_starttls=False,
            loop=asyncio.get_running_loop(),
        )
        self._gate = gate
        self._turns = turns  # the server's, shared: a session's own would bound nothing
        self._client: str | None = None
        self._max_seconds = settings.max_session_seconds
        self._lifetime: asyncio.TimerHandle | None = None
        self._receiving, self._told_at = False, 0.0  # in DATA; when the idle timer was last put back

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        client = peer[0] if peer else "unknown"
        refusal = self._gate.admit(client)
        if refusal is not None:
            log.warning("refused an SMTP connection from %s: %s", client, refusal)
            transport.write(f"421 4.7.0 {refusal}, please try again later\r\n".encode())
            transport.close()
            return
        self._client = client
        super().connection_made(transport)
        self._lifetime = self.loop.call_later(self._max_seconds, self._end_long_session)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A message still arriving is no idle session: aiosmtpd's idle timer counts commands only,
        # and cut off any message slower to send than it (max_session_seconds still bounds it).
        now = self.loop.time()
        if self._receiving and now - self._told_at > _TOLD_SECONDS:
            self._reset_timeout()
            self._told_at = now

    def connection_lost(self, error: Exception | None) -> None:
        if self._client is None:
            return  # refused at the gate: aiosmtpd never saw it
        self._gate.release(self._client)
        self._client = None
        self._lifetime.cancel()
        super().connection_lost(error)

    async def push(self, status) -> None:
        # aiosmtpd would answer every command a client pipelined without giving the loop a turn:
        # each answer waits for its place (handlers/smtp_turns.py). Before the answer, not after:
        # after "220 Ready to start TLS" aiosmtpd starts TLS at once, and a client's first TLS
        # bytes that came in a wait after it were read as commands (a third of handshakes failed).
        await self._turns.take()
        await super().push(status)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """The address in MAIL, RCPT or VRFY (None: unreadable, a 553) and what follows it, as
        aiosmtpd's own parse gives them for a path as RFC 5321 writes it (tests/test_smtp.py holds
        the two together); anything else is unreadable (_PATH)."""
        if not arg:
            return "", ""
        arg = arg.lstrip(" \t")
        path = _PATH.match(arg)
        text = path and (path[1] or path[0])
        if not text or len(text) > _LONGEST_PATH or _NOT_IN_A_PATH.search(text):
            return None, None
        address, rest = _address_in(text), arg[path.end():]
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, rest

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA command with the section read as it arrives (handlers/smtp_data.py)."""
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            self._receiving = True
            message, refusal = await read_data(self._reader, self.data_size_limit, self.line_length_limit)
        except asyncio.CancelledError:
            self._writer.close()  # the connection went during DATA
            raise
        finally:
            self._receiving = False
        if refusal is not None:
            await self.push(refusal)
            self._set_post_data_state()
            return
        self.envelope.content = self.envelope.original_content = message
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    def _end_long_session(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.session in self.event_handler.storing:
            # Its message is being committed: the client must get the 250, so ask again soon.
            self._lifetime = self.loop.call_later(1, self._end_long_session)
            return
        log.info("closing an SMTP session from %s after %d s", self._client, self._max_seconds)
        self.transport.write(f"{ERR_421_SESSION}\r\n".encode())
        self.transport.close()


class RequestServer:
    """The listening SMTP server and its open sessions, for a clean stop."""

    def __init__(self, intake: RequestIntake, settings: SmtpSettings):
        self.handler = RequestHandler(intake, settings)
        self.settings = settings
        self.gate = ConnectionGate(settings.max_connections, settings.max_connections_per_client,
                                   settings.max_connections_per_network)
        self.tls = tls_context(settings)
        self.turns = CommandTurns()  # shared by every session
        self._stamp = _certificate_stamp(settings) if self.tls else None
        self._watch: asyncio.Task | None = None
        self.sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.server: asyncio.base_events.Server | None = None
        self.hostname = "localhost"  # looked up once, by start()

    def reload_tls(self) -> None:
        """Serve a renewed certificate to new sessions (SIGHUP, or its files changed). A pair that
        does not load (a half-written renewal) keeps the one in use, with a logged reason."""
        if self.tls is None:
            return
        self._stamp = _certificate_stamp(self.settings)
        try:
            self.tls = tls_context(self.settings)
        except ConfigError as exc:
            log.error("SMTP TLS: kept the certificate in use; the new one did not load: %s", exc)
            return
        log.info("SMTP TLS: loaded the certificate again")

    async def _watch_certificate(self) -> None:
        while True:
            await asyncio.sleep(CERTIFICATE_CHECK_SECONDS)
            if _certificate_stamp(self.settings) != self._stamp:
                self.reload_tls()

    def _session(self) -> SMTP:
        protocol = RequestSession(self.handler, self.gate, self.turns, self.settings, self.hostname, self.tls)
        self.sessions.add(protocol)
        return protocol

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.hostname = await asyncio.to_thread(socket.getfqdn)  # the banner's name, once
        self.server = await loop.create_server(self._session, self.settings.host, self.settings.port)
        if self.tls is not None:
            self._watch = asyncio.create_task(self._watch_certificate())
        log.info("serving SMTP on %s:%d", self.settings.host, self.settings.port)

    @property
    def port(self) -> int:
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, let messages being stored finish, then close sessions with 421."""
        if self.server is None:
            return
        if self._watch is not None:
            await cancel_and_wait(self._watch)
        self.server.close()
        for _ in range(SHUTDOWN_GRACE_SECONDS * 20):
            if not self.handler.storing:
                break
            await asyncio.sleep(0.05)
        for session in list(self.sessions):
            transport = session.transport
            if transport is not None and not transport.is_closing():
                transport.write(f"{ERR_421}\r\n".encode())
                transport.close()
        await self.server.wait_closed()
        self.server = None
