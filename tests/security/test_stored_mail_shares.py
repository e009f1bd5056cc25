"""The room for raw mail cannot be filled on purpose (suppression/mail_shares.py).

The review: rotating envelope senders filled max_stored_mail_bytes; afterwards real requests
and real bounces got 452 until retention or an operator freed space. Now one client network
and one sender hold at most their share, and the last part of the room is kept for mail that
carries our token: a mailto request, and a bounce quoting the mail we sent.
"""

import smtplib

import pytest

from handlers.app import build_app
from handlers.state import SERVICE
from suppression.links import mint_link
from suppression.model import ALL_EMAILS
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, smtp_port

pytestmark = pytest.mark.both_stores

ROOM = 100_000
# On a listener the internet reaches directly: no relay in front, loopback a client as any.
SHARES = {"max_stored_mail_bytes": ROOM, "stored_mail_percent_per_network": 20,
          "stored_mail_percent_per_sender": 10, "stored_mail_percent_reserved": 20, "trusted_relays": []}
REQUEST_ADDRESS = "PLUSinfo@plusnxt.com"


def mail(size: int, subject: str = "hello", headers: str = "") -> bytes:
    """A message of about `size` bytes (its lines are at most 100 octets)."""
    lines = b"\r\n".join([b"x" * 98] * (size // 100))
    return f"From: <a@example.com>\r\nSubject: {subject}\r\n{headers}\r\n".encode() + lines + b"\r\n"


def send_from(client_ip: str, port: int, raw: bytes, mail_from: str) -> int:
    """One SMTP session from a loopback address of our choosing (all of 127/8 is this host)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60, source_address=(client_ip, 0)) as session:
        session.ehlo("client.example")
        session.mail(mail_from)
        session.rcpt(REQUEST_ADDRESS)
        try:
            code, _ = session.data(raw)
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code
    return code


async def service(aiohttp_client, tmp_path, store):
    return await aiohttp_client(build_app(make_settings(tmp_path / "data", store, smtp=SHARES)))


async def send(client, client_ip: str, raw: bytes, mail_from: str) -> int:
    return await in_thread(send_from, client_ip, smtp_port(client), raw, mail_from)


async def test_one_network_holds_at_most_its_share_whatever_its_senders(aiohttp_client, tmp_path, store):
    client = await service(aiohttp_client, tmp_path, store)
    codes = [await send(client, "127.0.0.9", mail(9_000), f"rotating{n}@evil.example") for n in range(4)]
    assert codes == [250, 250, 452, 452]  # 20% of the room is two such messages
    assert await send(client, "127.0.1.9", mail(9_000), "someone@elsewhere.example") == 250  # another network

    # The share is of what is kept, counted from the database after a restart too.
    await client.close()
    again = await service(aiohttp_client, tmp_path, store)
    assert await send(again, "127.0.0.10", mail(9_000), "fresh@evil.example") == 452
    assert await send(again, "127.0.2.9", mail(9_000), "fresh@elsewhere.example") == 250


async def test_one_sender_holds_at_most_its_share_and_tags_do_not_reset_it(aiohttp_client, tmp_path, store):
    client = await service(aiohttp_client, tmp_path, store)
    assert await send(client, "127.0.0.9", mail(9_000), "big@example.org") == 250
    assert await send(client, "127.0.0.9", mail(9_000), "big+2@example.org") == 452  # 10% is one such message
    assert await send(client, "127.0.0.9", mail(9_000), "other@example.org") == 250


async def test_the_last_of_the_room_is_kept_for_mail_carrying_our_token(aiohttp_client, tmp_path, store):
    client = await service(aiohttp_client, tmp_path, store)
    for network in range(1, 5):  # 8 messages from 4 networks fill the open 80% of the room
        for n in range(2):
            assert await send(client, f"127.0.{network}.1", mail(9_000), f"filler{network}.{n}@example.com") == 250
    assert await send(client, "127.0.9.1", mail(9_000), "plain@example.com") == 452

    keys = client.app[SERVICE].signing_keys
    by_mailto = mint_link("mailto.person@example.net", ALL_EMAILS, base_url="http://x", secret_keys=keys,
                          request_address=REQUEST_ADDRESS)
    subject = by_mailto.mailto.split("subject=")[1].replace("%20", " ")
    assert await send(client, "127.0.9.1", mail(9_000, subject=subject), "mailto.person@example.net") == 250

    sent = mint_link("bounced.person@example.net", ALL_EMAILS, base_url="http://x", secret_keys=keys,
                     request_address=REQUEST_ADDRESS)
    # A bounce quoting, after its own long text, the headers of the mail we sent.
    report = (mail(9_000, subject="Undelivered Mail Returned to Sender").rstrip(b"\r\n")
              + f"\r\n\r\nMessage-ID: {sent.message_id}\r\nTo: bounced.person@example.net\r\n".encode())
    assert await send(client, "127.0.9.1", report, "") == 250

    forged = mail(9_000, subject="unsubscribe abcdefgh.abcdef.abcdefghijklmnopqrstuvwxyz")  # the shape, unsigned
    assert await send(client, "127.0.9.1", forged, "forger@example.com") == 452

