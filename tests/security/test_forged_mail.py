"""Forged reports and requests over real SMTP: one message can no longer empty a mailing list.

The review sent one bounce from <> naming 20,000 Final-Recipients and all were suppressed for
all mail; ARF's Original-Rcpt-To did the same; one request naming 300 addresses suppressed
all 300; a new From header per message got 12 of 12 past the per-sender limit.
"""

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.links import mint_link
from suppression.model import ALL_EMAILS
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, send, smtp_port

KEY = "forged-mail-tests-signing-key-0123456789"
TO = "PLUSinfo@plusnxt.com"


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    settings = make_settings(tmp_path / "data", signing={"secret_keys": [KEY]}, smtp={"sender_requests_per_day": 10})
    return await aiohttp_client(build_app(settings))


async def deliver(client, raw: bytes, mail_from: str) -> dict:
    """Send over SMTP, let the intake handle it, and return the stored outcome."""
    code, reply = await in_thread(send, smtp_port(client), raw, mail_from=mail_from)
    assert code == 250, reply
    await client.app[INTAKE].handle_pending()
    message_id = int(reply.split()[-1])
    message = await client.app[SERVICE].review.inbox_message(message_id)
    return {"status": message.status, "addresses": message.addresses, "reasons": message.reasons}


async def suppressed_count(client) -> int:
    return await client.app[SERVICE].store.count()


def token_of(email: str) -> str:
    return mint_link(email, ALL_EMAILS, base_url="https://u.example", secret_keys=KEY, request_address=TO).url.rsplit("/", 1)[1]


def dsn(recipients: list[str], returned_headers: str = "", field: str = "Final-Recipient") -> bytes:
    blocks = "\r\n\r\n".join(f"{field}: rfc822; {r}\r\nAction: failed\r\nStatus: 5.1.1" for r in recipients)
    return (
        f"From: MAILER-DAEMON@mx.example\r\nTo: {TO}\r\nSubject: Undelivered Mail\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        f"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n{blocks}\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: news@plusnxt.com\r\nSubject: News\r\n{returned_headers}\r\n"
        "--b--\r\n"
    ).encode()


def arf(rcpt_to: list[str], returned_headers: str = "") -> bytes:
    fields = "".join(f"Original-Rcpt-To: <{r}>\r\n" for r in rcpt_to)
    return (
        f"From: fbl@isp.example\r\nTo: {TO}\r\nSubject: complaint\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n"
        f"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n{fields}\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: deals@plusnxt.com\r\nSubject: Deals\r\n{returned_headers}\r\n"
        "--b--\r\n"
    ).encode()


def request(from_header: str, text: str) -> bytes:
    return f"From: {from_header}\r\nTo: {TO}\r\nSubject: unsubscribe\r\n\r\n{text}\r\n".encode()


async def test_a_forged_bounce_naming_20000_recipients_suppresses_nobody(client):
    outcome = await deliver(client, dsn([f"victim{i}@example.com" for i in range(20_000)]), mail_from="")
    assert (outcome["status"], outcome["addresses"]) == ("review", [])
    assert any("no link token of ours" in r for r in outcome["reasons"])
    assert any("not read" in r for r in outcome["reasons"])  # only the first hundred were looked at
    assert await suppressed_count(client) == 0


async def test_a_forged_complaint_suppresses_nobody(client):
    outcome = await deliver(client, arf(["victim@example.com", "other@example.com"]), mail_from="")
    assert (outcome["status"], outcome["addresses"]) == ("review", [])
    assert await suppressed_count(client) == 0


async def test_a_bounce_of_our_own_mail_suppresses_the_recipient_it_proves(client):
    returned = f"To: gone@example.com\r\nList-Unsubscribe: <https://u.example/u/{token_of('gone@example.com')}>"
    outcome = await deliver(client, dsn(["gone@example.com", "victim@example.com"], returned), mail_from="")
    # The proven one is suppressed as a bounce; the other is left to a person.
    assert (outcome["status"], outcome["addresses"]) == ("review", ["gone@example.com"])
    check = await client.app[SERVICE].check("gone@example.com")
    assert (check.suppressed, check.matched.reason) == (True, "bounce")
    assert not (await client.app[SERVICE].check("victim@example.com")).suppressed


async def test_a_complaint_about_our_mail_suppresses_the_complainant(client):
    returned = f"To: angry@example.com\r\nList-Unsubscribe: <https://u.example/u/{token_of('angry@example.com')}>"
    outcome = await deliver(client, arf(["angry@example.com"], returned), mail_from="")
    assert (outcome["status"], outcome["addresses"]) == ("complaint", ["angry@example.com"])


async def test_the_original_recipient_is_preferred_over_the_final_one(client):
    returned = f"List-Unsubscribe: <https://u.example/u/{token_of('first@example.com')}>"
    raw = dsn(["first@example.com"], returned, field="Original-Recipient").replace(
        b"Action: failed", b"Final-Recipient: rfc822; forwarded@elsewhere.example\r\nAction: failed")
    outcome = await deliver(client, raw, mail_from="")
    assert (outcome["status"], outcome["addresses"]) == ("bounce", ["first@example.com"])


async def test_one_request_naming_300_addresses_suppresses_nobody(client):
    names = "\r\n".join(f"person{i}@example.com" for i in range(300))
    outcome = await deliver(client, request("<attacker@example.net>", f"Please unsubscribe:\r\n{names}"),
                            mail_from="attacker@example.net")
    assert (outcome["status"], outcome["addresses"]) == ("review", [])
    assert await suppressed_count(client) == 0


async def test_the_request_limit_counts_addresses_of_one_envelope_sender_whatever_its_from_or_tag(client):
    honoured = 0
    for i in range(12):
        # A new From header and a new +tag each time: still one sender.
        outcome = await deliver(client, request(f"<someone{i}@example.org>", f"Unsubscribe person{i}@example.com"),
                                mail_from=f"attacker+{i}@example.net")
        honoured += outcome["status"] == "request"
    assert honoured == 10
    # A message naming several others is a person's to decide, whatever the counts: it names
    # them on nobody's proof (test_smtp.py, "naming several addresses").
    names = " ".join(f"b{i}@example.com" for i in range(9))
    outcome = await deliver(client, request("<x@example.org>", f"Unsubscribe {names}"), mail_from="fresh@example.net")
    assert (outcome["status"], outcome["addresses"]) == ("review", [])
    assert any("names 9 addresses" in r for r in outcome["reasons"])
