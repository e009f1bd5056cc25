"""Mailbox intake over IMAP (CONTRACT §9): reads [imap] mailbox as well as, or instead of, SMTP.

Each message not yet carrying our keyword is fetched (BODY.PEEK: people reading the mailbox
still see it unread), stored durably through the same intake as SMTP mail, and only then
marked with the keyword (and moved, if asked). A crash or a dropped connection between the
two reads it again; its origin (server, mailbox, UIDVALIDITY, UID) is already stored, so it
is kept once and handled once. IDLE where the server offers it, else polling. A lost
connection or a refused login is logged and retried with growing waits; nothing else stops.
"""

import asyncio
import hashlib
import logging
import re
import ssl
from pathlib import Path

from aioimaplib import aioimaplib

from suppression.background import cancel_and_wait
from suppression.config import ImapSettings
from suppression.errors import MailStorageFull, StoreUnavailable
from suppression.intake import RequestIntake

log = logging.getLogger(__name__)

IDLE_SECONDS = 29 * 60  # RFC 2177: re-issue IDLE at least every 29 minutes
MAX_RECONNECT_SECONDS = 300
# A search's answer longer than this (a backlog: about 7 bytes a message) is read in a thread:
# read on the loop, 400,000 waiting held it 83 ms.
_SEARCH_READ_ON_THE_LOOP = 16 * 1024
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCHED_UID = re.compile(rb"UID (\d+)")
# The envelope sender, as the delivering server wrote it; read with a linear pattern from the
# header block only, never with the email package in this process (hostile headers).
_RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([^<>\s]{0,320})>", re.IGNORECASE | re.MULTILINE)
# Without one (a server that does not write it), the From address stands in: the request is then
# on the word of From alone, and the unproven budget applies to it (intake.py). The local part
# holds no "@", so each line has one place to split: with "@" allowed there, a header of
# "From: @@@@...@x" lines was split every way, 0.3 s of the loop for 64 KB.
_FROM = re.compile(rb"^From:[^\r\n<]{0,500}<([^<>\s@]{1,320}@[^<>\s]{1,255})>"
                   rb"|^From:[ \t]*([^<>\s\"@]{1,320}@[^<>\s\"]{1,255})[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
_HEADER_SCAN_BYTES = 64 * 1024


class ImapFailure(Exception):
    """The server refused something this session needs (login, the mailbox, a command)."""


class MailboxIntake:
    def __init__(self, intake: RequestIntake, settings: ImapSettings, max_message_bytes: int, recipient: str):
        self.intake, self.settings, self.max_bytes = intake, settings, max_message_bytes
        self.recipient = settings.recipient or recipient
        self._task: asyncio.Task | None = None
        self.stored = 0  # messages stored by this process (for tests and logs)
        self.sessions = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="imap intake")
        log.info("reading the mailbox %s at %s:%d over IMAP", self.settings.mailbox, self.settings.host,
                 self.settings.port)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        wait = 1.0
        while True:
            session = _Session(self)
            try:
                await session.run()
            except asyncio.CancelledError:
                await session.close()
                raise
            except (ImapFailure, StoreUnavailable, MailStorageFull, aioimaplib.AioImapException, OSError,
                    asyncio.TimeoutError, ssl.SSLError) as exc:
                log.warning("IMAP intake: %s; connecting again in %.0f s", _describe(exc), wait)
            except Exception:
                log.exception("IMAP intake failed unexpectedly; connecting again in %.0f s", wait)
            else:
                wait = 1.0
            await session.close()
            if session.took_any:
                wait = 1.0
            await asyncio.sleep(wait)
            wait = min(MAX_RECONNECT_SECONDS, wait * 2)


class _Session:
    """One connection: log in, select, then take new mail until the connection ends."""

    def __init__(self, owner: MailboxIntake):
        self.owner, self.settings = owner, owner.settings
        self.client: aioimaplib.IMAP4 | None = None
        self.lost = asyncio.Event()
        self.took_any = False

    async def run(self) -> None:
        self.client = await self._connect()
        await self._login()
        uidvalidity = await self._select()
        self.owner.sessions += 1
        idle = self.client.has_capability("IDLE")
        log.info("IMAP intake: logged in; %s", "waiting with IDLE" if idle else
                 f"no IDLE offered, looking every {self.settings.poll_seconds} s")
        while True:
            await self._take_new(uidvalidity)
            if idle:
                await self._idle()
            else:
                await self._bounded(asyncio.sleep(self.settings.poll_seconds), self.settings.poll_seconds + 1)

    async def close(self) -> None:
        if self.client is None or self.lost.is_set():
            return
        try:
            async with asyncio.timeout(5):
                await self.client.logout()
        except Exception:
            pass  # the connection is going anyway
        transport = self.client.protocol.transport
        if transport is not None:
            transport.close()

    # -- the session's steps ---------------------------------------------------------------

    async def _connect(self) -> aioimaplib.IMAP4:
        settings = self.settings
        context = None
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file or None)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        client = aioimaplib.IMAP4(host=settings.host, port=settings.port, timeout=settings.timeout_seconds,
                                  conn_lost_cb=lambda exc: self.lost.set(), ssl_context=context)
        await self._bounded(client.wait_hello_from_server())
        return client

    async def _login(self) -> None:
        settings = self.settings
        if settings.oauth2_token_file:
            token = _read_token(settings.oauth2_token_file)
            response = await self._bounded(self.client.xoauth2(settings.username, token))
        else:
            response = await self._bounded(self.client.login(settings.username, settings.password))
        if response.result != "OK":
            # The server's words, never ours: they hold neither the password nor the token.
            raise ImapFailure(f"login refused: {_text(response)}")

    async def _select(self) -> int:
        response = await self._bounded(self.client.select(_quoted(self.settings.mailbox)))
        if response.result != "OK":
            raise ImapFailure(f"cannot open the mailbox {self.settings.mailbox!r}: {_text(response)}")
        for line in response.lines:
            found = _UIDVALIDITY.search(line if isinstance(line, bytes) else str(line).encode())
            if found:
                return int(found.group(1))
        raise ImapFailure("the server gave no UIDVALIDITY for the mailbox")

    async def _take_new(self, uidvalidity: int) -> None:
        """All that one search finds, then search again. The answer grows with the backlog: a
        search for each 50 taken made reading a backlog of N cost the loop N squared (80 ms a
        search at 400,000 waiting). One it could not take (gone meanwhile) is not asked for again
        this round."""
        tried: set[int] = set()
        while uids := await self._unmarked(tried):
            for uid in uids:
                tried.add(uid)
                await self._take(uidvalidity, uid)

    async def _unmarked(self, tried: set[int]) -> list[int]:
        response = await self._bounded(self.client.uid_search("UNKEYWORD", self.settings.keyword, "UNDELETED",
                                                              charset=None))
        if response.result != "OK":
            raise ImapFailure(f"search refused: {_text(response)}")
        if sum(len(line) for line in response.lines) > _SEARCH_READ_ON_THE_LOOP:
            return await asyncio.to_thread(_uids_in, response.lines, tried)
        return _uids_in(response.lines, tried)

    async def _take(self, uidvalidity: int, uid: int) -> None:
        raw, size = await self._fetch(uid)
        if raw is None:
            return  # expunged meanwhile
        origin = self._origin(uidvalidity, uid)
        # One over the size limit is kept, cut to it, for a person: never dropped without a trace.
        too_big = (f"larger than smtp.max_message_bytes ({size} bytes); the start is kept"
                   if size > self.owner.max_bytes else None)
        message_id = await self.owner.intake.receive(raw, _return_path(raw), [self.owner.recipient], origin=origin,
                                                     for_review=too_big)
        self.owner.stored += 1
        self.took_any = True
        await self._mark(uid)
        log.info("IMAP intake: stored message %d (%d bytes) and marked it on the server", message_id, len(raw))

    async def _fetch(self, uid: int) -> tuple[bytes | None, int]:
        limit = self.owner.max_bytes
        response = await self._bounded(
            self.client.uid("fetch", str(uid), f"(RFC822.SIZE BODY.PEEK[]<0.{limit}>)"))
        if response.result != "OK":
            raise ImapFailure(f"fetch refused: {_text(response)}")
        size, raw = 0, None
        for line in response.lines:
            if isinstance(line, bytearray | bytes) and raw is None and b"FETCH" in line[:40]:
                found = re.search(rb"RFC822\.SIZE (\d+)", line)
                size = int(found.group(1)) if found else 0
            elif isinstance(line, bytearray) and raw is None:
                raw = bytes(line)  # aioimaplib gives the literal as a bytearray
        if raw is None:
            return None, 0
        return raw, max(size, len(raw))

    async def _mark(self, uid: int) -> None:
        response = await self._bounded(self.client.uid("store", str(uid), "+FLAGS.SILENT", f"({self.settings.keyword})"))
        if response.result != "OK":
            raise ImapFailure(f"the server refused our keyword {self.settings.keyword}: {_text(response)}")
        if self.settings.move_to:
            await self._move(uid)

    async def _move(self, uid: int) -> None:
        """MOVE (RFC 6851) where offered; else its documented equivalent: COPY, flag \\Deleted, and
        UID EXPUNGE (UIDPLUS) of this message alone. Without UIDPLUS a plain EXPUNGE would also
        remove what people flagged themselves, so the copy is left flagged for their client."""
        target = _quoted(self.settings.move_to)
        if self.client.has_capability("MOVE"):
            await self._command(f"cannot move to {self.settings.move_to!r}", "move", str(uid), target)
            return
        await self._command(f"cannot copy to {self.settings.move_to!r}", "copy", str(uid), target)
        await self._command("cannot flag the moved message deleted", "store", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        if self.client.has_capability("UIDPLUS"):
            await self._command("cannot expunge the moved message", "expunge", str(uid))

    async def _command(self, failure: str, *command: str) -> None:
        response = await self._bounded(self.client.uid(*command))
        if response.result != "OK":
            raise ImapFailure(f"{failure}: {_text(response)}")

    async def _idle(self) -> None:
        idle = await self._bounded(self.client.idle_start(timeout=IDLE_SECONDS))
        try:
            await self._bounded(self.client.wait_server_push(timeout=IDLE_SECONDS + 60), IDLE_SECONDS + 90)
        finally:
            if not self.lost.is_set():
                self.client.idle_done()
                await self._bounded(idle)

    def _origin(self, uidvalidity: int, uid: int) -> str:
        where = f"{self.settings.host}:{self.settings.port}\0{self.settings.username}\0{self.settings.mailbox}"
        digest = hashlib.sha256(f"{where}\0{uidvalidity}\0{uid}".encode()).hexdigest()[:32]
        return f"imap:{digest}"

    async def _bounded(self, work, seconds: float | None = None):
        """Await `work`, but not past the command timeout, nor past the connection's end."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait({task, lost}, timeout=seconds or self.settings.timeout_seconds + 5,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if task in done:
            return task.result()
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        if self.lost.is_set():
            raise ImapFailure("the server closed the connection")
        raise asyncio.TimeoutError()


def _uids_in(lines: list, tried: set[int]) -> list[int]:
    uids = []
    for line in lines:
        text = line.decode("ascii", "replace") if isinstance(line, bytes | bytearray) else str(line)
        if text.startswith("SEARCH"):
            text = text[len("SEARCH"):]
        uids.extend(int(word) for word in text.split() if word.isdigit())
    return sorted(set(uids) - tried)


def _return_path(raw: bytes) -> str:
    head = raw[:_HEADER_SCAN_BYTES]
    end = head.find(b"\r\n\r\n")
    if end < 0:
        end = head.find(b"\n\n")
    head = head if end < 0 else head[:end]
    found = _RETURN_PATH.search(head)
    if found:
        return found.group(1).decode("utf-8", "replace")  # "" for the null sender: bounces, reports
    found = _FROM.search(head)
    return (found.group(1) or found.group(2)).decode("utf-8", "replace") if found else ""


def _read_token(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImapFailure(f"cannot read imap.oauth2_token_file: {exc.strerror}") from None
    if not token or any(c.isspace() for c in token):
        raise ImapFailure("imap.oauth2_token_file holds no access token (one line, no spaces)")
    return token


def _quoted(name: str) -> str:
    return f'"{name}"'


def _text(response) -> str:
    lines = [line.decode("utf-8", "replace") if isinstance(line, bytes | bytearray) else str(line)
             for line in response.lines[-1:]]
    return (" ".join(lines) or response.result)[:200]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "the server did not answer in time"
    return f"{type(exc).__name__}: {exc}"[:300]
