"""Reading trails storing (issue 14, faster intake): while mail keeps arriving the intake task
lets the 250s go first, but no message waits past the trail to be read."""

import asyncio
import sqlite3
import threading

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from tests.support.latency import longest_hold
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, send, smtp_port, wait_until

REQUEST = b"From: {who}@example.com\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n"


def request(who: str) -> bytes:
    return REQUEST.replace(b"{who}", who.encode())


async def test_while_mail_keeps_coming_reading_waits_for_a_quiet_moment(client):
    intake = client.app[INTAKE]
    intake.quiet_seconds, intake.trail_seconds = 30.0, 60.0
    for n in range(5):
        code, _ = await in_thread(send, smtp_port(client), request(f"burst{n}"), f"burst{n}@example.com")
        assert code == 250
    await asyncio.sleep(0)  # the intake task has been woken by each message
    assert intake.handled == 0  # all stored, none read yet: no quiet moment has come
    assert len((await client.app[SERVICE].review.inbox("pending", None, 100))[0]) == 5
    assert await intake.handle_pending() == 5  # a direct call reads at once


async def test_a_stream_that_never_pauses_is_still_read_within_the_trail(client):
    intake = client.app[INTAKE]
    intake.quiet_seconds, intake.trail_seconds = 30.0, 0.3
    stop = threading.Event()
    sent = []

    def stream():
        n = 0
        while not stop.is_set():
            send(smtp_port(client), request(f"stream{n}"), f"stream{n}@example.com")
            sent.append(n)
            n += 1

    sender = asyncio.create_task(in_thread(stream))
    try:
        # Never quiet for 30 s, yet read: the oldest reached its trail while mail kept coming.
        assert await wait_until(lambda: _true(intake.handled > 0), attempts=1000)
        assert not sender.done()
    finally:
        stop.set()
        await sender
    assert (await client.app[SERVICE].check("stream0@example.com")).suppressed


async def _true(value: bool) -> bool:
    return value


async def test_a_direct_call_returns_once_mail_set_aside_as_slow_is_settled_too(aiohttp_client, tmp_path):
    # With a first look too short for any message, each is set aside and read by the second
    # reader (suppression/slow_mail.py); a direct call (a test, the CLI) still returns with all read.
    settings = make_settings(tmp_path / "data", smtp={"message_first_look_seconds": 0.001})
    client = await aiohttp_client(build_app(settings))
    slow = (b"From: aside@example.com\r\nSubject: unsubscribe\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\n" * 5000
            + b"--b\r\nContent-Type: text/plain\r\n\r\nPlease unsubscribe me.\r\n--b--\r\n")  # some 70 ms
    code, _ = await in_thread(send, smtp_port(client), slow, "aside@example.com")
    assert code == 250
    intake = client.app[INTAKE]
    await intake.handle_pending()
    assert intake.reader.restarts == 1  # the first look's child, ended when it overran
    assert intake.unread == 0 and not intake.slow.ids
    assert (await client.app[SERVICE].check("aside@example.com")).suppressed


async def test_the_recount_of_mail_from_many_senders_leaves_the_loop_free(client):
    """Before: every 300 s the mail kept was counted again per sender on the loop, 1.5 µs a
    sender: a stranger's 300,000 empty messages, each from a new sender, held checks 467 ms."""
    intake = client.app[INTAKE]
    with sqlite3.connect(client.app[SERVICE].store.path) as db:
        db.executemany("INSERT INTO inbox (received_at, mail_from, rcpt_to, size, raw, status, network)"
                       " VALUES ('2026-12-06T00:00:00Z', ?, '[]', 1, x'', 'review', '127.0.0')",
                       ((f"s{n % 150_000}+{n}@evil.example",) for n in range(300_000)))
    _, held = await longest_hold(intake._recount())
    assert intake.shares.by_sender["s7@evil.example"] == 2  # its two tags, folded into one sender
    assert intake.shares.by_network["127.0.0"] == 300_000
    assert held.waiting < 0.1, f"the loop waited {held}"
