"""Confirmations never go to a forged From (RFC 3834 §4): to the envelope sender, or to From only
when DMARC passed at a trusted authserv-id. A real relay (aiosmtpd on loopback) records them."""

from handlers.app import build_app
from handlers.state import INTAKE
from tests.support.settings import make_settings
from tests.test_replies import KEY, relay  # noqa: F401 (the relay fixture)


async def intake_of(aiohttp_client, tmp_path, relay_port):
    settings = make_settings(
        tmp_path / "data", signing={"secret_keys": [KEY]},
        smtp={"trusted_authserv_ids": ["mx.plusnxt.com"]}, reply={"enabled": True, "relay_port": relay_port},
    )
    return (await aiohttp_client(build_app(settings))).app[INTAKE]


def request(results: str = "") -> bytes:
    header = f"Authentication-Results: mx.plusnxt.com; {results}\r\n" if results else ""
    return (f"{header}From: Victim <victim@example.com>\r\nSubject: unsubscribe\r\n"
            "Message-ID: <b1@example.net>\r\n\r\nPlease unsubscribe me.\r\n").encode()


async def answered(intake, raw: bytes, mail_from: str) -> None:
    await intake.receive(raw, mail_from, ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    await intake.replies_sent()


async def test_a_forged_from_gets_no_confirmation_the_envelope_sender_does(aiohttp_client, tmp_path, relay):  # noqa: F811
    intake = await intake_of(aiohttp_client, tmp_path, relay.port)
    await answered(intake, request(), mail_from="bounces@sender.example")
    assert [e.rcpt_tos for e in relay.envelopes] == [["bounces@sender.example"]]


async def test_a_from_that_passed_dmarc_at_our_mta_is_answered(aiohttp_client, tmp_path, relay):  # noqa: F811
    intake = await intake_of(aiohttp_client, tmp_path, relay.port)
    await answered(intake, request("dmarc=pass header.from=example.com; spf=pass"), mail_from="bounces@sender.example")
    assert [e.rcpt_tos for e in relay.envelopes] == [["victim@example.com"]]


async def test_a_dmarc_pass_written_by_someone_else_counts_for_nothing(aiohttp_client, tmp_path, relay):  # noqa: F811
    intake = await intake_of(aiohttp_client, tmp_path, relay.port)
    forged = request("dmarc=pass").replace(b"mx.plusnxt.com", b"mx.attacker.example")
    await answered(intake, forged, mail_from="bounces@sender.example")
    assert [e.rcpt_tos for e in relay.envelopes] == [["bounces@sender.example"]]
