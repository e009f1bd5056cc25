"""The optional confirmation reply, through a real SMTP relay (an aiosmtpd sink on loopback)."""

import email
import socket
import threading
from pathlib import Path

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.model import ALL_EMAILS
from tests.support.http import free_port
from tests.support.relay import recording_relay
from tests.support.settings import make_settings

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

CORPUS = Path(__file__).parent / "corpus"
KEY = "corpus-signing-key-not-secret-0123456789"
REQUEST = b"From: Jane <jane@example.com>\r\nSubject: unsubscribe\r\nMessage-ID: <r1@example.com>\r\n\r\nPlease.\r\n"


@pytest.fixture
async def relay():
    async with recording_relay() as handler:
        yield handler


async def serve(aiohttp_client, tmp_path, relay_port, enabled=True):
    settings = make_settings(
        tmp_path / "data", signing={"secret_keys": [KEY]},
        reply={"enabled": enabled, "relay_port": relay_port, "subject": "Done: unsubscribed"},
    )
    client = await aiohttp_client(build_app(settings))
    return client.app[INTAKE], client.app[SERVICE]


async def receive_and_handle(intake, raw, mail_from="jane@example.com"):
    message_id = await intake.receive(raw, mail_from, ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    await intake.replies_sent()
    return message_id


async def test_an_honoured_request_is_confirmed_once_a_day(aiohttp_client, tmp_path, relay):
    intake, service = await serve(aiohttp_client, tmp_path, relay.port)
    await receive_and_handle(intake, REQUEST)
    await receive_and_handle(intake, REQUEST.replace(b"r1@", b"r2@"))  # the same person again today
    assert len(relay.envelopes) == 1
    envelope = relay.envelopes[0]
    assert (envelope.mail_from, envelope.rcpt_tos) == ("<>", ["jane@example.com"])  # null sender: no loops
    reply = email.message_from_bytes(envelope.original_content)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<r1@example.com>"
    assert reply["Subject"] == "Done: unsubscribed"
    assert reply["From"] == "PLUSinfo@plusnxt.com"
    assert "j\u2022\u2022\u2022@example.com" in reply.get_payload(decode=True).decode()
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}


@pytest.mark.parametrize("name", ["auto_submitted_out_of_office", "mailto_with_auto_submitted", "dsn_permanent_failure",
                                  "arf_complaint", "unrelated_question"])
async def test_automatic_mail_and_non_requests_are_never_answered(aiohttp_client, tmp_path, relay, name):
    intake, _ = await serve(aiohttp_client, tmp_path, relay.port)
    await receive_and_handle(intake, (CORPUS / f"{name}.eml").read_bytes(), mail_from="x@example.com")
    assert relay.envelopes == []


async def test_replies_are_off_by_default(aiohttp_client, tmp_path, relay):
    intake, service = await serve(aiohttp_client, tmp_path, relay.port, enabled=False)
    await receive_and_handle(intake, REQUEST)
    assert relay.envelopes == []
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}


async def test_a_relay_that_is_down_never_costs_the_unsubscribe(aiohttp_client, tmp_path):
    intake, service = await serve(aiohttp_client, tmp_path, free_port())  # nothing listens there
    message_id = await receive_and_handle(intake, REQUEST)
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}
    assert (await service.store.get_message(message_id)).status == "request"


async def test_a_slow_relay_does_not_hold_up_the_next_request(aiohttp_client, tmp_path):
    import socket

    # A relay that accepts the connection and never says a word.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        intake, service = await serve(aiohttp_client, tmp_path, silent.getsockname()[1])
        await intake.receive(REQUEST, "jane@example.com", ["PLUSinfo@plusnxt.com"])
        await intake.receive(REQUEST.replace(b"jane@", b"bob@"), "bob@example.com", ["PLUSinfo@plusnxt.com"])
        await intake.handle_pending()  # returns while the first reply still waits on the relay
        assert await service.suppressed_scopes("bob@example.com") == {ALL_EMAILS}
    finally:
        silent.close()


async def test_regression_plus_tags_do_not_buy_a_second_reply_the_same_day(aiohttp_client, tmp_path, relay):
    intake, _ = await serve(aiohttp_client, tmp_path, relay.port)
    for tag in ("a", "b", "c"):
        raw = REQUEST.replace(b"jane@", f"jane+{tag}@".encode()).replace(b"r1@", f"r{tag}@".encode())
        await receive_and_handle(intake, raw, mail_from=f"jane+{tag}@example.com")
    assert len(relay.envelopes) == 1  # one inbox, one confirmation a day


async def test_a_reply_is_composed_without_looking_up_this_hosts_name(aiohttp_client, tmp_path, relay, monkeypatch):
    """make_msgid() alone asks the resolver for this host's name at each call, a lookup that
    blocked the loop where DNS is slow (a probing helper's): the Message-ID is at the sender's domain."""
    looked_up_on_the_loop = []

    def lookup(*_):  # aiosmtplib's own, for its EHLO, is made in a thread
        looked_up_on_the_loop.append(threading.current_thread() is threading.main_thread())
        return "localhost"
    monkeypatch.setattr(socket, "getfqdn", lookup)
    intake, _ = await serve(aiohttp_client, tmp_path, relay.port)
    await receive_and_handle(intake, REQUEST)
    (envelope,) = relay.envelopes
    assert email.message_from_bytes(envelope.original_content)["Message-ID"].endswith("@plusnxt.com>")
    assert not any(looked_up_on_the_loop)


async def test_a_sender_at_an_international_domain_gets_its_replies_sent(aiohttp_client, tmp_path, relay):
    # A reviewing helper's: the Message-ID at "bücher.de" could not be written into an SMTP
    # message, and the error escaped unlogged: no reply went.
    settings = make_settings(tmp_path / "data", signing={"secret_keys": [KEY]},
                             reply={"enabled": True, "relay_port": relay.port, "from_address": "info@bücher.de"})
    client = await aiohttp_client(build_app(settings))
    await receive_and_handle(client.app[INTAKE], REQUEST)
    (envelope,) = relay.envelopes
    assert email.message_from_bytes(envelope.original_content)["Message-ID"].endswith("@xn--bcher-kva.de>")
