"""SMTP protocol abuse against the running service: every limit holds, and others are still served."""

import asyncio
import socket
import time

import pytest

from handlers.state import SERVICE, SMTP_SERVER
from suppression.ratelimit import SlidingWindow
from tests.support.settings import make_settings
from tests.test_smtp import SIMPLE, in_thread, send, wait_until

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

REQUEST_RCPT = b"RCPT TO:<PLUSinfo@plusnxt.com>\r\n"


@pytest.fixture
def settings(request, tmp_path):
    limits = {
        "max_message_bytes": 64 * 1024, "max_connections_per_client": 3, "max_connections": 10,
        "max_connections_per_network": 5,
        "sender_messages_per_hour": 3, "null_sender_messages_per_hour": 6,
    }
    return make_settings(tmp_path / "data", smtp=limits | getattr(request, "param", {}))


def port_of(client) -> int:
    return client.app[SMTP_SERVER].port


class RawSession:
    """A hand-driven SMTP connection, for what standard clients never send."""

    def __init__(self, port: int, source: str = "127.0.0.1"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.reader = self.sock.makefile("rb")

    def line(self) -> bytes:
        return self.reader.readline()

    def ehlo(self) -> None:
        assert self.line().startswith(b"220")
        self.sock.sendall(b"EHLO abuser.example\r\n")
        while not self.line().startswith(b"250 "):
            pass

    def command(self, text: bytes) -> bytes:
        self.sock.sendall(text)
        return self.line()

    def replies_until_closed(self) -> list[bytes]:
        replies = []
        try:
            while line := self.line():
                replies.append(line)
        except (ConnectionResetError, TimeoutError):
            pass  # the server closed with our unread commands in its buffer
        return replies

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


async def stored_messages(client) -> int:
    return len(await client.app[SERVICE].store.list_messages(None, 0, 1000))


async def still_serves_others(client) -> None:
    code, reply = await in_thread(send, port_of(client), SIMPLE, mail_from="someone.else@example.com")
    assert code == 250, reply


async def test_a_pipelined_flood_of_commands_is_cut_off_at_the_session_limit(client):
    def flood():
        session = RawSession(port_of(client))
        session.ehlo()
        session.sock.sendall(b"NOOP\r\n" * 10_000)  # without waiting for a single answer
        replies = session.replies_until_closed()
        session.close()
        return replies

    replies = await in_thread(flood)
    assert sum(r.startswith(b"250") for r in replies) == 1000
    assert replies[-1].startswith(b"421 4.7.0 NOOP sent too many times")
    await still_serves_others(client)


async def test_ten_thousand_recipients_get_fifty_places_and_then_the_session_ends(client):
    def many_rcpts():
        session = RawSession(port_of(client))
        session.ehlo()
        assert session.command(b"MAIL FROM:<flood@example.com>\r\n").startswith(b"250")
        session.sock.sendall(REQUEST_RCPT * 10_000)
        replies = session.replies_until_closed()
        session.close()
        return replies

    replies = await in_thread(many_rcpts)
    assert sum(r.startswith(b"250") for r in replies) == 50
    assert all(r.startswith((b"452 4.5.3", b"421 4.7.0 RCPT sent too many times")) for r in replies[50:])
    # The session ends at its RCPT limit; its 421 may be lost in the reset of the unread rest.
    assert len(replies) <= 5001
    assert await stored_messages(client) == 0
    await still_serves_others(client)


async def test_bare_lf_cannot_smuggle_a_second_message(client):
    smuggled = (
        b"From: <a@example.com>\r\nSubject: hello\r\n\r\nfirst\n.\nMAIL FROM:<victim@example.com>\n"
        b"RCPT TO:<PLUSinfo@plusnxt.com>\nDATA\nunsubscribe me\n.\n\r\n.\r\n"
    )

    def session():
        s = RawSession(port_of(client))
        s.ehlo()
        assert s.command(b"MAIL FROM:<a@example.com>\r\n").startswith(b"250")
        assert s.command(REQUEST_RCPT).startswith(b"250")
        assert s.command(b"DATA\r\n").startswith(b"354")
        answer = s.command(smuggled)
        after = s.command(b"NOOP\r\n")
        s.close()
        return answer, after

    answer, after = await in_thread(session)
    assert answer.startswith(b"250")
    assert after.startswith(b"250")  # the smuggled commands were message text, not commands
    (message,) = await client.app[SERVICE].store.list_messages(None, 0, 10)
    assert message.mail_from == "a@example.com"
    stored = await client.app[SERVICE].store.get_message(message.id)
    assert b"MAIL FROM:<victim@example.com>" in stored.raw


async def test_overlong_lines_are_refused_and_the_session_goes_on(client):
    def session():
        s = RawSession(port_of(client))
        s.ehlo()
        replies = [s.command(b"NOOP " + b"x" * 5000 + b"\r\n")]
        replies.append(s.command(b"HELO " + b"y" * 2_000_000 + b"\r\n"))  # far over the buffer
        replies.append(s.command(b"MAIL FROM:<a@example.com>\r\n"))
        replies.append(s.command(REQUEST_RCPT))
        replies.append(s.command(b"DATA\r\n"))
        replies.append(s.command(b"Subject: x\r\n\r\n" + b"z" * 5000 + b"\r\n.\r\n"))
        replies.append(s.command(b"NOOP\r\n"))
        s.close()
        return replies

    replies = await in_thread(session)
    assert replies[0].startswith(b"500") and b"too long" in replies[0]
    assert replies[1].startswith(b"500") and b"too long" in replies[1]
    assert [r[:3] for r in replies[2:5]] == [b"250", b"250", b"354"]
    assert replies[5].startswith(b"500 Line too long")
    assert replies[6].startswith(b"250")
    assert await stored_messages(client) == 0


@pytest.mark.parametrize("mail_from", [b"MAIL FROM:<\xe9t\xe9@example.org>\r\n",
                                       b"MAIL FROM:<\xff\xfe@example.org> SMTPUTF8\r\n"])
async def test_a_sender_address_that_is_not_utf8_is_refused_at_mail_not_after_the_message(client, caplog, mail_from):
    """Before: 250 at MAIL and RCPT, then 451 at DATA (the store could not keep the sender), and
    the sending server retried it until it gave up: a message never stored, and no one told."""
    def session():
        s = RawSession(port_of(client))
        s.ehlo()
        replies = [s.command(mail_from), s.command(b"MAIL FROM:<fine@example.org>\r\n"), s.command(REQUEST_RCPT),
                   s.command(b"DATA\r\n"), s.command(b"Subject: x\r\n\r\nunsubscribe\r\n.\r\n")]
        s.close()
        return replies

    replies = await in_thread(session)
    assert replies[0].startswith(b"553 5.1.7") and b"UTF-8" in replies[0]
    assert [r[:3] for r in replies[1:]] == [b"250", b"250", b"354", b"250"]
    assert await stored_messages(client) == 1
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("mail_from", [b"MAIL FROM:<\r\n", b"MAIL FROM:\"\r\n", b"MAIL FROM:<@[\t>\r\n",
                                       b"MAIL FROM:<1@[>\r\n"])
async def test_an_address_the_mail_parser_fails_on_is_refused_as_malformed_not_retried(client, caplog, mail_from):
    """Before: the standard library's parser raised IndexError on "<" (UnboundLocalError on
    "<@[\t", AttributeError on "<1@[>"): a logged traceback and 451, which tells the sender's
    server to try again for days."""
    def session():
        s = RawSession(port_of(client))
        s.ehlo()
        replies = [s.command(mail_from), s.command(b"RCPT TO:<\r\n"), s.command(b"MAIL FROM:<fine@example.org>\r\n"),
                   s.command(b"RCPT TO:<\r\n"), s.command(REQUEST_RCPT)]
        s.close()
        return replies

    replies = await in_thread(session)
    assert [r[:3] for r in replies] == [b"553", b"503", b"250", b"553", b"250"]  # malformed: permanent
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def open_sessions(port: int, sources: list[str]) -> tuple[list[RawSession], list[bytes]]:
    """Sessions from the given source addresses, and the first line each was sent."""
    sessions = [RawSession(port, source) for source in sources]
    return sessions, [s.line() for s in sessions]


async def test_one_client_cannot_hold_every_session(client):
    holders, greetings = await in_thread(open_sessions, port_of(client), ["127.0.0.2"] * 4)
    try:
        assert [g[:3] for g in greetings] == [b"220"] * 3 + [b"421"]
        assert greetings[3].startswith(b"421 4.7.0 Too many connections from your address")
        assert await in_thread(holders[3].line) == b""  # and closed
        await still_serves_others(client)  # from 127.0.0.1
    finally:
        for holder in holders:
            holder.close()
    # Places are given back when sessions end (bounded wait for the server to see the closes).
    gate = client.app[SMTP_SERVER].gate
    assert await wait_until(lambda: asyncio.sleep(0, result="127.0.0.2" not in gate.open))
    again, greetings = await in_thread(open_sessions, port_of(client), ["127.0.0.2"] * 3)
    assert [g[:3] for g in greetings] == [b"220"] * 3
    for session in again:
        session.close()


async def test_one_network_cannot_hold_every_session(client):
    # Ten addresses in one /24 held every place (20 each, 200 in all): a network gets its share.
    sources = ["127.0.0.20"] * 3 + ["127.0.0.21"] * 2 + ["127.0.0.22", "127.0.5.1"]
    holders, greetings = await in_thread(open_sessions, port_of(client), sources)
    try:
        assert [g[:3] for g in greetings] == [b"220"] * 5 + [b"421", b"220"]
        assert greetings[5].startswith(b"421 4.7.0 Too many connections from your network")
    finally:
        for holder in holders:
            holder.close()
    gate = client.app[SMTP_SERVER].gate
    assert await wait_until(lambda: asyncio.sleep(0, result=not gate.in_network and gate.count == 0))
    await still_serves_others(client)  # from 127.0.0.1, in that network


async def test_too_many_sessions_in_all_are_refused(client):
    sources = [f"127.{n // 3 + 10}.0.1" for n in range(10)] + ["127.0.1.1"]
    holders, greetings = await in_thread(open_sessions, port_of(client), sources)
    try:
        assert [g[:3] for g in greetings] == [b"220"] * 10 + [b"421"]
        assert greetings[10].startswith(b"421 4.7.0 Too many connections")
    finally:
        for holder in holders:
            holder.close()
    await still_serves_others(client)


@pytest.mark.sqlite_only  # the session's timers, the same whatever the store: five seconds of waiting once
@pytest.mark.parametrize("settings", [{"idle_timeout_seconds": 1, "max_session_seconds": 2}], indirect=True)
async def test_slow_clients_are_closed_idle_or_busy(client):
    def idle():
        s = RawSession(port_of(client))
        s.ehlo()
        rest = s.replies_until_closed()  # sends nothing: closed by the idle timeout
        s.close()
        return rest

    def trickle():
        s = RawSession(port_of(client))
        s.ehlo()
        for count in range(1, 400):
            # A NOOP every 50 ms keeps it from idling; the 421, sent unasked, comes before its answer.
            reply = s.command(b"NOOP\r\n")
            if not reply.startswith(b"250"):
                s.close()
                return count, reply
            time.sleep(0.05)
        s.close()
        return None, b""

    def slow_message():
        # A message sent a line every 0.3 s, past the idle timeout: still arriving, so not idle
        # (lines without a final "." too, which no read of the message returns before its end).
        s = RawSession(port_of(client))
        s.ehlo()
        for command in (b"MAIL FROM:<slow@example.com>\r\n", b"RCPT TO:<PLUSinfo@plusnxt.com>\r\n", b"DATA\r\n"):
            s.command(command)
        s.sock.sendall(b"Subject: unsubscribe\r\n\r\n")
        for _ in range(5):
            time.sleep(0.3)
            s.sock.sendall(b"Please unsubscribe me\r\n")
        reply = s.command(b".\r\n")
        s.close()
        return reply

    assert await in_thread(idle) == []
    assert (await in_thread(slow_message)).startswith(b"250")
    count, reply = await in_thread(trickle)
    assert count is not None and reply.startswith(b"421 4.4.2 Session too long")


async def test_one_sender_gets_450_past_its_hourly_limit_and_others_do_not(client):
    for _ in range(3):
        code, _ = await in_thread(send, port_of(client), SIMPLE, mail_from="loud@example.com")
        assert code == 250

    def mail_from(sender: bytes) -> bytes:
        s = RawSession(port_of(client))
        s.ehlo()
        reply = s.command(b"MAIL FROM:<" + sender + b">\r\n")
        s.close()
        return reply

    assert (await in_thread(mail_from, b"LOUD@example.com")).startswith(b"450 4.7.1")
    await still_serves_others(client)
    # The null sender (bounces and reports) has a limit of its own, per client address; what
    # a message is, the SMTP edge does not read (the reader does, in its own process).
    codes = [(await in_thread(send, port_of(client), message, mail_from=""))[0]
             for message in (REPORT, REPORT, REPORT, SIMPLE, SIMPLE, SIMPLE)]
    assert codes == [250] * 6

    assert (await in_thread(mail_from, b"")).startswith(b"450 4.7.1")
    assert await stored_messages(client) == 10


REPORT = (
    b"From: MAILER-DAEMON@mx.example\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: failure\r\n"
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n"
)


def test_sliding_window_forgets_events_as_they_leave_its_span():
    now = [0.0]
    window = SlidingWindow(2, 10, clock=lambda: now[0])
    window.record("a")
    window.record("a")
    assert not window.allows("a") and window.allows("b")
    now[0] = 15.0  # half of the previous window still counts: 1 event
    assert window.allows("a")
    window.record("a")
    assert not window.allows("a")
    now[0] = 30.0  # two windows on: nothing counts
    assert window.allows("a")


def test_sliding_window_forgets_the_least_recent_keys_past_its_bound():
    window = SlidingWindow(1, 3600, clock=lambda: 0.0, max_keys=3)
    for key in ("a", "b", "c", "a", "d"):
        window.record(key)
    assert window.allows("b")  # forgotten, the least recently seen
    assert not window.allows("a") and not window.allows("c") and not window.allows("d")
