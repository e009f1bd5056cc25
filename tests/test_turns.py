"""Whose mail is read next (suppression/turns.py): one network's flood of mail delays another's
request by a message, not by the flood; and a round of slow messages is short."""

import asyncio

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.turns import Pace, UnreadMail
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, send, smtp_port


def test_each_network_in_turn_one_message_each_oldest_first():
    unread = UnreadMail()
    for message_id, network in [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, None), (6, "a"), (7, "b")]:
        unread.add(message_id, network, at=float(message_id))
    assert len(unread) == 7 and unread.oldest_since() == 1.0
    assert unread.take(50) == [1, 4, 5]  # one of each network, however many it has waiting
    assert unread.take(50) == [2, 7]
    assert unread.take(1) == [3]
    assert unread.take(50) == [6]
    assert unread.take(50) == []
    assert len(unread) == 7  # taken to be read, not yet read


def test_a_network_served_goes_to_the_back_and_what_was_read_another_way_is_let_go():
    unread = UnreadMail()
    for message_id, network in [(1, "a"), (2, "b"), (3, "c"), (4, "a"), (5, "b"), (6, "c")]:
        unread.add(message_id, network, at=0.0)
    assert unread.take(2) == [1, 2]
    for message_id in (1, 2, 3, 4):  # 3 and 4 read as the oldest of all meanwhile
        unread.discard(message_id)
    assert unread.take(3) == [6, 5]  # c, then a (back of the line, nothing left), then b
    assert len(unread) == 2 and unread.oldest_since() == 0.0
    unread.add(7, "a", at=1.0)
    unread.clear()
    assert len(unread) == 0 and unread.take(50) == []


def test_a_quarter_of_each_round_is_kept_for_the_oldest_of_all():
    # Before: with as many networks waiting as a round is long, every place went to a turn, and
    # mail no turn names (stored before a restart, or by a stopped instance) was never read.
    unread = UnreadMail()
    for network in range(60):
        unread.add(network, f"198.51.{network}.0/24", at=0.0)
    assert len(unread.turns_in(50)) == 38
    assert len(unread.turns_in(4)) == 3
    rounds_of_one = [len(unread.turns_in(1)) for _ in range(4)]
    assert rounds_of_one in ([1, 0, 1, 0], [0, 1, 0, 1])  # a turn every other round


def test_what_the_database_did_not_give_for_a_round_is_not_waiting_any_more():
    # Read by another instance, or settled another way: kept, it held the reading's trail at 0
    # and the count of unread mail up, for good.
    unread = UnreadMail()
    for message_id in (1, 2, 3):
        unread.add(message_id, "a" if message_id < 3 else "b", at=float(message_id))
    taken = unread.take(50)
    assert taken == [1, 3]
    unread.not_pending(taken, read=[3])
    assert len(unread) == 2 and unread.oldest_since() == 2.0  # 1 went; 3 is being read


def test_a_round_is_as_long_as_a_second_of_the_last_ones_reading():
    pace = Pace(50)
    assert pace.size == 8  # how long mail takes to read is not known yet
    pace.read(8, 0.002)  # fast mail: as many as allowed
    assert pace.size == 50
    pace.read(50, 0.01)
    assert pace.size == 50
    pace.read(50, 12.5)  # 0.25 s a message
    assert pace.size == 4
    pace.read(1, 3.0)  # one slower than the second: one at a time
    assert pace.size == 1
    pace.read(0, 0.0)  # nothing read says nothing
    assert pace.size == 1
    pace.read(1, 0.001)
    assert pace.size == 50


def _relayed(network: int, who: str) -> bytes:
    # Through a trusted relay (loopback, by default): the client its Received header names.
    return (f"Received: from client.example (client.example [198.51.{network}.7])\r\n"
            f"\tby mx.example with ESMTP; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            f"From: {who}\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n").encode()


async def test_a_flood_from_one_network_does_not_hold_back_the_request_of_another(aiohttp_client, tmp_path):
    # Before: read oldest first, 120 messages of one network were all read and settled before the
    # one request of another network that came after them (a stranger's 250 held it 60 s).
    settings = make_settings(tmp_path / "data", smtp={"unproven_requests_per_network_per_hour": 1000,
                                                      "unproven_requests_per_hour": 1000})
    client = await aiohttp_client(build_app(settings))
    intake = client.app[INTAKE]
    intake.quiet_seconds, intake.trail_seconds = 30.0, 60.0  # all stored before any is read
    flood = [f"flood{n}@example.com" for n in range(120)]

    def send_all():
        for who in flood:
            assert send(smtp_port(client), _relayed(100, who), who)[0] == 250
        assert send(smtp_port(client), _relayed(101, "honest@example.org"), "honest@example.org")[0] == 250

    await in_thread(send_all)
    await asyncio.sleep(0)
    assert intake.handled == 0
    assert await intake.handle_pending() == 121
    changes = await client.app[SERVICE].store.changes_after(0, 1000)
    order = [change.email for change in changes]
    assert sorted(order) == sorted([*flood, "honest@example.org"])
    # Settled in the first round (50), beside the flood's oldest, not after all 120 of them.
    assert order.index("honest@example.org") < 50, order.index("honest@example.org")


async def test_after_a_round_of_slow_messages_the_next_rounds_are_shorter(client):
    # A batch is settled once it is all read: 50 messages of 0.2 s held the first of them 10 s.
    slow = (b"From: slow{n}@example.com\r\nSubject: hello\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\n" * 10000
            + b"--b\r\nContent-Type: text/plain\r\n\r\nA question about my order.\r\n--b--\r\n")
    intake = client.app[INTAKE]
    intake.quiet_seconds, intake.trail_seconds = 30.0, 60.0

    def send_fast():
        for n in range(8):
            assert send(smtp_port(client), _relayed(100, f"fast{n}@example.com"), f"fast{n}@example.com")[0] == 250

    for _ in range(2):  # the first round also starts the reader's child
        await in_thread(send_fast)
        assert await intake.handle_pending() == 8
    assert intake.pace.size == 50  # quick to read: rounds as long as they were

    def send_slow():
        for n in range(8):
            assert send(smtp_port(client), slow.replace(b"{n}", b"%d" % n), f"slow{n}@example.com")[0] == 250

    await in_thread(send_slow)
    assert await intake.handle_pending() == 8
    assert intake.pace.size < 50  # as many as a second of such messages


def test_reading_waits_while_mail_keeps_coming_but_not_past_the_oldests_trail():
    unread = UnreadMail()
    assert unread.trail(now=10.0, last_stored=10.0, quiet=0.05, trail=2.0) == 0.0  # nothing to wait for
    unread.add(1, None, at=10.0)
    assert unread.trail(now=10.01, last_stored=10.0, quiet=0.05, trail=2.0) == pytest.approx(0.05)  # mail still coming
    assert unread.trail(now=10.06, last_stored=10.0, quiet=0.05, trail=2.0) == 0.0  # quiet now
    assert unread.trail(now=11.99, last_stored=11.98, quiet=0.05, trail=2.0) == pytest.approx(0.01)  # its trail's end
    assert unread.trail(now=12.0, last_stored=11.99, quiet=0.05, trail=2.0) == 0.0  # the oldest's trail
