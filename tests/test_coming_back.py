"""Coming back (CONTRACT §10): asked on the link's page, confirmed from the mailbox through a real
SMTP relay (an aiosmtpd sink on loopback), lifted only by a POST, and only the person's own
opt-outs; the asking page is the same whatever applies."""

import asyncio
import email
import email.header
import re
import time
from email.message import Message
from functools import partial

import pytest
from aiosmtpd.smtp import SMTP

from handlers.app import build_app
from handlers.state import COMING_BACK, RETURN_MAILER, SERVICE
from suppression.config import settings_from_mapping
from suppression.model import ALL_EMAILS, Scope, utc_now
from suppression.returning import ComingBack
from suppression.tokens import ReturnClaim, mint_return, mint_undo
from tests.support.http import bearer, free_port
from tests.support.outside import execute_from_outside
from tests.support.settings import make_settings
from tests.support.relay import RecordingRelay
from tests.test_replies import relay  # noqa: F401  (the relay fixture)
from tests.support.webhook_receiver import Receiver, data_of, new_secret, types_of
from tests.test_smtp import in_thread, send, smtp_port, wait_until

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

KEY = "coming-back-signing-key-not-secret-0123456789"
ASK = {"action": "come-back"}
WEEK = 7 * 86400


async def serve(aiohttp_client, tmp_path, relay, *, webhooks=(), enabled=True, **reply):
    settings = make_settings(tmp_path / "data", signing={"secret_keys": [KEY]},
                             reply={"enabled": enabled, "relay_port": relay.port, **reply})
    if webhooks:
        settings = settings.with_overrides(webhooks=settings_from_mapping({"webhooks": list(webhooks)}).webhooks)
    return await aiohttp_client(build_app(settings))


def link_path(client, address: str, topic: str | None = None) -> str:
    return "/u/" + client.app[SERVICE].links.mint_link(address, Scope.of_topic(topic)).url.rsplit("/", 1)[1]


async def confirmations(client, relay: RecordingRelay) -> list[Message]:
    """The come-back confirmations the relay has been given (not the replies to email requests)."""
    await client.app[RETURN_MAILER].sent_all()
    mails = [email.message_from_bytes(e.original_content) for e in relay.envelopes]
    return [m for m in mails if m["Auto-Submitted"] == "auto-generated"]


def confirmation_path(message: Message) -> str:
    body = message.get_payload(decode=True).decode("utf-8")
    return re.search(r"http://127\.0\.0\.1:8080(/return/\S+)", body).group(1)


async def scopes(client, address: str) -> set[Scope]:
    return await client.app[SERVICE].suppressed_scopes(address)


async def test_a_person_asks_on_the_link_page_confirms_from_the_mailbox_and_is_back(aiohttp_client, tmp_path, relay):
    receiver = Receiver(free_port(), new_secret()).start()
    try:
        client = await serve(aiohttp_client, tmp_path, relay, webhooks=[{"url": receiver.url, "secret": receiver.secret}])
        admin = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
        path = link_path(client, "jane@example.com", "newsletters")
        assert (await client.post(path, data={"List-Unsubscribe": "One-Click"})).status == 200
        await client.post(path, data={"action": "unsubscribe", "scope": "promotions"})
        assert await scopes(client, "jane@example.com") == {Scope("newsletters"), Scope("promotions")}

        page = await (await client.get(path)).text()
        assert "Want our emails again?" in page and 'name="action" value="come-back"' in page
        asked = await client.post(path, data=ASK, headers={"Accept-Language": "de"})
        text = await asked.text()
        assert asked.status == 200 and '<html lang="de">' in text and "Sehen Sie in Ihr Postfach" in text
        assert await scopes(client, "jane@example.com") == {Scope("newsletters"), Scope("promotions")}

        [mail] = await confirmations(client, relay)
        envelope = relay.envelopes[-1]
        assert (envelope.mail_from, envelope.rcpt_tos) == ("<>", ["jane@example.com"])  # only to the mailbox
        assert mail["Content-Language"] == "de" and mail["To"] == "jane@example.com"
        assert "Bestätigen Sie" in str(email.header.make_header(email.header.decode_header(mail["Subject"])))
        confirm = confirmation_path(mail)
        assert confirm.endswith("?lang=de")

        shown = await client.get(confirm)  # a scanner fetching the link changes nothing
        assert shown.status == 200 and "Ja, senden Sie mir wieder E-Mails" in await shown.text()
        assert (await client.head(confirm)).status == 200
        other = await client.post(confirm, data={"action": "unsubscribe"})  # says something else
        assert other.status == 400
        assert (await client.post(confirm, json={"action": "come-back"})).status == 400  # no form at all
        assert await scopes(client, "jane@example.com") == {Scope("newsletters"), Scope("promotions")}

        done = await client.post(confirm.split("?")[0])  # a POST that says nothing: the link's one thing
        assert done.status == 200 and "You are subscribed again" in await done.text()
        assert await scopes(client, "jane@example.com") == set()
        check = await (await client.get("/v1/suppressions/jane@example.com", headers=bearer(admin))).json()
        assert check["suppressed"] is False
        again = await client.post(confirm.split("?")[0], data=ASK)  # idempotent
        assert again.status == 200 and "Nothing more to change" in await again.text()

        history = (await (await client.get("/v1/suppressions/jane@example.com/history", headers=bearer(admin))).json())
        lifts = [(c["action"], c["topic"], c["source"], c["actor"]) for c in history["history"][2:]]
        assert lifts == [("unsuppress", "newsletters", "return", "confirmation"),
                         ("unsuppress", "promotions", "return", "confirmation")]
        feed = (await (await client.get("/v1/changes", headers=bearer(admin))).json())["changes"]
        assert [c["source"] for c in feed] == ["one-click", "link", "return", "return"]
        assert await wait_until(lambda: _delivered(receiver, 4))
        assert types_of(receiver.deliveries)[2:] == ["suppression.removed", "suppression.removed"]
        assert [(d["source"], d["actor"]) for d in data_of(receiver.deliveries)[2:]] == [("return", "confirmation")] * 2
    finally:
        receiver.close()



async def test_no_confirmation_is_mailed_while_a_bounce_a_complaint_or_a_block_holds(aiohttp_client, tmp_path, relay):
    # Before: a person's own opt-out beside an admin's block (or a bounce, a complaint) got the
    # confirmation mailed, to an address nothing may be sent to, receipts included. The lift
    # itself was refused already.
    client = await serve(aiohttp_client, tmp_path, relay)
    service = client.app[SERVICE]
    answers = set()
    for case in ("bounce", "complaint", "block", "own"):
        address = f"a.{case}@example.com"
        await client.post(link_path(client, address), data={"List-Unsubscribe": "One-Click"})  # the person's own
        if case != "own":
            await service.suppress(address, ALL_EMAILS, case, "api", "api:admin")
        answer = await client.post(link_path(client, address), data=ASK)
        answers.add((answer.status, await answer.text()))
    assert len(answers) == 1  # the page says nothing of which applies
    assert [mail["To"] for mail in await confirmations(client, relay)] == ["a.own@example.com"]

async def _delivered(receiver, n):
    return len(receiver.deliveries) >= n


async def test_the_request_page_is_the_same_whatever_applies_and_only_an_own_opt_out_is_ever_lifted(
        aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    service = client.app[SERVICE]
    admin = await service.api_keys.create_api_key("admin", "admin")
    # Every address masks alike (a•••@example.com), so the pages can be compared byte for byte.
    cases = {
        "own": "a.own@example.com", "bounce": "a.bounce@example.com", "complaint": "a.complaint@example.com",
        "admin": "a.admin@example.com", "block": "a.block@example.com", "import": "a.import@example.com",
        "desk": "a.desk@example.com", "erased": "a.erased@example.com", "nothing": "a.nothing@example.com",
    }
    await client.post(link_path(client, cases["own"]), data={"List-Unsubscribe": "One-Click"})
    await service.suppress(cases["bounce"], ALL_EMAILS, "bounce", "email", "email:1")
    await service.suppress(cases["complaint"], ALL_EMAILS, "complaint", "email", "email:2")
    assert (await client.post("/v1/suppressions", json={"email": cases["admin"]}, headers=bearer(admin))).status in (200, 201)
    # An admin's entry with the person's own reason and source is still an admin's: the actor is not the person.
    await service.suppress(cases["block"], ALL_EMAILS, "manual", "cli", "cli")
    await service.suppress(cases["import"], ALL_EMAILS, "import", "import", "cli")
    await service.suppress(cases["desk"], ALL_EMAILS, "unsubscribe", "desk", "desk:admin")
    await client.post(link_path(client, cases["erased"]), data={"List-Unsubscribe": "One-Click"})
    assert (await client.post(f"/v1/subjects/{cases['erased']}/erase", headers=bearer(admin))).status == 200

    landing, answers = {}, {}
    for case, address in cases.items():
        landing[case] = await (await client.get(link_path(client, address))).text()
        answer = await client.post(link_path(client, address), data=ASK)
        answers[case] = (answer.status, await answer.text())
    assert len(set(answers.values())) == 1, "the answer must not say what applies"
    assert answers["own"][0] == 200 and "a\u2022\u2022\u2022@example.com" in answers["own"][1]
    suppressed = [c for c in cases if c != "nothing"]
    # The offer too is the same for each, an erased address's included (before: its page showed
    # it subscribed, and so told of the erasure).
    assert len({landing[c] for c in suppressed}) == 1
    assert "Want our emails again?" in landing["bounce"]

    [mail] = await confirmations(client, relay)
    assert mail["To"] == cases["own"]
    assert await scopes(client, cases["own"]) == {ALL_EMAILS}

    # Had a confirmation reached any of the others (a mail sent before an admin's entry replaced
    # an opt-out, say), it would lift nothing: minted here with the service's own helper.
    for case in ("bounce", "complaint", "admin", "block", "import", "desk", "erased"):
        token = mint_return([KEY], ReturnClaim(cases[case], utc_now(), None, "en"))
        answer = await client.post(f"/return/{token}", data=ASK)
        assert answer.status == 200 and "Nothing more to change" in await answer.text(), case
        assert (await service.check(cases[case])).suppressed, case
    lifted = await client.post(confirmation_path(mail), data=ASK)
    assert lifted.status == 200 and await scopes(client, cases["own"]) == set()


async def test_an_email_request_is_the_persons_own_and_can_be_withdrawn(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    raw = (b"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Unsubscribe\r\n"
           b"Message-ID: <simple@example.com>\r\n\r\nPlease unsubscribe me.\r\n")
    code, _ = await in_thread(send, smtp_port(client), raw)
    assert code == 250
    assert await wait_until(lambda: _suppressed(client, "jane@example.com"))
    await client.post(link_path(client, "jane@example.com"), data=ASK, headers={"Accept-Language": "ja"})
    [mail] = await confirmations(client, relay)
    assert mail["Content-Language"] == "ja" and "このリンク" in mail.get_payload(decode=True).decode("utf-8")
    assert (await client.post(confirmation_path(mail), data=ASK)).status == 200
    assert await scopes(client, "jane@example.com") == set()


async def _suppressed(client, address):
    return bool(await scopes(client, address))


async def test_a_confirmation_expires_after_a_week_and_no_other_token_is_one(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    coming_back = client.app[COMING_BACK]
    path = link_path(client, "jane@example.com")
    await client.post(path, data={"List-Unsubscribe": "One-Click"})
    asked_at = time.time()
    coming_back.clock = lambda: asked_at
    await client.post(path, data=ASK)
    [mail] = await confirmations(client, relay)
    confirm = confirmation_path(mail).split("?")[0]

    coming_back.clock = lambda: asked_at + WEEK + 60  # a week and a minute later
    for answer in (await client.get(confirm), await client.post(confirm, data=ASK)):
        assert answer.status == 400 and "This confirmation link is not valid" in await answer.text()
    assert await scopes(client, "jane@example.com") == {ALL_EMAILS}

    coming_back.clock = lambda: asked_at + WEEK - 60  # still within the week
    service = client.app[SERVICE]
    link_token = path.rsplit("/", 1)[1]
    [row] = await service.store.suppressions_of("jane@example.com")
    others = {
        "a link token": link_token,
        "an undo": mint_undo([KEY], "jane@example.com", ALL_EMAILS, row.since),
        "another key's": mint_return(["another-key-not-secret-0123456789abcdef"],
                                     ReturnClaim("jane@example.com", utc_now(), None, "en")),
        "a damaged one": confirm.rsplit("/", 1)[1][:-4] + "AAAA",
    }
    for name, token in others.items():
        answer = await client.post(f"/return/{token}", data=ASK)
        assert answer.status == 400, name
    assert (await client.get("/u/" + confirm.rsplit("/", 1)[1])).status == 400  # nor is it a link
    cut = await client.get("/return/")
    assert cut.status == 400 and "This confirmation link is not valid" in await cut.text()
    assert await scopes(client, "jane@example.com") == {ALL_EMAILS}
    assert (await client.post(confirm, data=ASK)).status == 200
    assert await scopes(client, "jane@example.com") == set()


async def test_an_opt_out_made_after_asking_is_not_lifted_by_the_earlier_confirmation(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    service = client.app[SERVICE]
    path = link_path(client, "jane@example.com", "newsletters")
    await client.post(path, data={"action": "unsubscribe", "scope": "newsletters"})
    [first] = await service.store.suppressions_of("jane@example.com")
    # The confirmation names when it was asked for: here, the moment of the first opt-out.
    token = mint_return([KEY], ReturnClaim("jane@example.com", first.since, None, "en"))
    assert await wait_until(_later_than(first.since))  # so the next opt-out is stamped after it
    await client.post(path, data={"action": "unsubscribe", "scope": "promotions"})
    answer = await client.post(f"/return/{token}", data=ASK)
    assert answer.status == 200
    assert await scopes(client, "jane@example.com") == {Scope("promotions")}
    assert "Still unsubscribed at" in await answer.text()


def _later_than(moment: str):
    async def later() -> bool:
        return utc_now() > moment
    return later


async def test_a_campaign_carried_by_the_confirmation_is_recorded_with_the_lift(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    admin = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    await client.post(link_path(client, "jane@example.com"), data={"List-Unsubscribe": "One-Click"})
    coming_back: ComingBack = client.app[COMING_BACK]
    assert await coming_back.ask("jane@example.com", "spring-sale.2026", "en")
    [mail] = await confirmations(client, relay)
    assert (await client.post(confirmation_path(mail), data=ASK)).status == 200
    feed = (await (await client.get("/v1/changes", headers=bearer(admin))).json())["changes"]
    assert (feed[-1]["source"], feed[-1]["campaign"]) == ("return", "spring-sale.2026")
    assert "campaign" not in feed[0]


async def test_each_inbox_gets_at_most_the_days_limit_of_confirmations(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay, come_back_per_day=2)
    for address in ("jane@example.com", "jane+news@example.com"):
        await client.post(link_path(client, address), data={"List-Unsubscribe": "One-Click"})
    answers = set()
    for address in ("jane@example.com", "jane+news@example.com", "jane@example.com"):  # one inbox
        answer = await client.post(link_path(client, address), data=ASK)
        answers.add((answer.status, (await answer.text()).replace("jane+news", "jane")))
    assert len(answers) == 1  # the page does not say the limit was reached either
    assert len(await confirmations(client, relay)) == 2
    rows = await in_thread(execute_from_outside, client.app[SERVICE].settings, "SELECT inbox, count FROM return_requests")
    assert [count for _, count in rows] == [3] and "jane" not in rows[0][0] and "@" not in rows[0][0]

    coming_back = client.app[COMING_BACK]
    coming_back.clock = lambda: time.time() + 86400  # the next day
    await client.post(link_path(client, "jane@example.com"), data=ASK)
    assert len(await confirmations(client, relay)) == 3
    admin = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    held = await (await client.get("/v1/subjects/jane@example.com", headers=bearer(admin))).json()
    assert [r["count"] for r in held["come_back_requests"]] == [3, 1]  # the right of access shows them too


async def test_without_a_relay_the_page_offers_nothing_and_says_so_alike(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay, enabled=False)
    path = link_path(client, "jane@example.com")
    await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert 'value="come-back"' not in await (await client.get(path)).text()
    answer = await client.post(path, data=ASK)
    assert answer.status == 400 and "This page cannot send confirmations" in await answer.text()
    assert relay.envelopes == [] and client.app[RETURN_MAILER].sent == 0


class HeldRelay(RecordingRelay):
    """A relay that holds each message until the test lets it go: a slow or hanging mail server."""

    def __init__(self):
        super().__init__()
        self.release = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):
        await self.release.wait()
        return await super().handle_DATA(server, session, envelope)


async def test_the_answer_does_not_wait_for_the_mail(aiohttp_client, tmp_path):
    """Sending happens beside the answer: were the page to wait for the relay, it would take
    longer exactly when there is something to lift. A relay that holds the message shows it."""
    held = HeldRelay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(partial(SMTP, held, loop=loop), "127.0.0.1", 0)
    held.port = server.sockets[0].getsockname()[1]
    try:
        client = await serve(aiohttp_client, tmp_path, held)
        path = link_path(client, "jane@example.com")
        await client.post(path, data={"List-Unsubscribe": "One-Click"})
        answer = await asyncio.wait_for(client.post(path, data=ASK), 60)  # a bound, not a timing claim
        assert answer.status == 200 and held.envelopes == []
        held.release.set()
        assert len(await confirmations(client, held)) == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_an_address_with_its_own_and_an_admins_entry_gets_back_only_its_own(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    admin = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    path = link_path(client, "jane@example.com", "newsletters")
    await client.post(path, data={"action": "unsubscribe", "scope": "newsletters"})
    entry = {"email": "jane@example.com", "topic": "promotions", "reason": "manual"}
    assert (await client.post("/v1/suppressions", json=entry, headers=bearer(admin))).status in (200, 201)
    await client.post(path, data=ASK)
    [mail] = await confirmations(client, relay)
    done = await client.post(confirmation_path(mail), data=ASK)
    html = await done.text()
    assert "You will receive these emails at" in html and "Email newsletters" in html
    assert "Still unsubscribed at" in html and "Promotions and offers" in html
    assert await scopes(client, "jane@example.com") == {Scope("promotions")}
    history = (await (await client.get("/v1/suppressions/jane@example.com/history", headers=bearer(admin))).json())
    assert [(c["action"], c["topic"], c["source"]) for c in history["history"]] == [
        ("suppress", "newsletters", "link"), ("suppress", "promotions", "api"), ("unsuppress", "newsletters", "return")]


async def test_a_scope_an_admins_entry_still_holds_is_not_said_to_be_back(aiohttp_client, tmp_path, relay):
    """The person's own opt-outs of newsletters and promotions are lifted; an admin's entry still
    holds promotions. A reviewing helper's: the page said promotions were back, and still off."""
    client = await serve(aiohttp_client, tmp_path, relay)
    admin = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    path = link_path(client, "cara@example.com", "newsletters")
    await client.post(path, data={"action": "unsubscribe", "scope": ["newsletters", "promotions"]})
    entry = {"email": "cara@example.com", "topic": "promotions", "reason": "manual"}
    assert (await client.post("/v1/suppressions", json=entry, headers=bearer(admin))).status in (200, 201)
    await client.post(path, data=ASK)
    [mail] = await confirmations(client, relay)
    html = await (await client.post(confirmation_path(mail), data=ASK)).text()
    back = re.search(r'<p role="status">([^<]*(?:<span[^>]*>[^<]*</span>[^<]*)*)</p>', html).group(1)
    assert "Email newsletters" in back and "Promotions" not in back
    assert "Still unsubscribed at" in html and "Promotions and offers" in html
    assert await scopes(client, "cara@example.com") == {Scope("promotions")}


async def _come_back(client, relay, email: str, unsubscribed: dict, *entries: dict) -> str:
    """The page a person sees confirming their return, after their own `unsubscribed` form and
    an admin's `entries`."""
    admin = await client.app[SERVICE].api_keys.create_api_key(f"admin-{email}", "admin")
    path = link_path(client, email)
    await client.post(path, data={"action": "unsubscribe", **unsubscribed})
    for entry in entries:
        assert (await client.post("/v1/suppressions", json=entry, headers=bearer(admin))).status in (200, 201)
    await client.post(path, data=ASK)
    [mail] = await confirmations(client, relay)
    return await (await client.post(confirmation_path(mail), data=ASK)).text()


def _status(html: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'<p role="status">(.*?)</p>', html, re.S).group(1))


async def test_when_every_scope_lifted_is_still_held_the_withdrawal_is_said_and_nothing_is_back(
        aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    html = await _come_back(client, relay, "dan@example.com", {"scope": "promotions"},
                            {"email": "dan@example.com", "topic": "promotions", "reason": "manual"})
    assert "You will receive these emails" not in html and "Your unsubscribe is withdrawn" in html
    assert "still held for another reason" in html
    assert "Still unsubscribed at" in html and "Promotions and offers" in html
    _, history = await client.app[SERVICE].rights.history("dan@example.com")
    assert [c.action for c in history][-1] == "lift"


async def test_a_domain_entry_holding_the_address_keeps_anything_from_being_said_to_be_back(
        aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    html = await _come_back(client, relay, "eve@example.com", {"scope": "newsletters"},
                            {"email": "*@example.com", "reason": "manual"})
    assert "You will receive these emails" not in html and "Your unsubscribe is withdrawn" in html
    assert "Still unsubscribed at" in html and "All emails" in html
    assert (await client.app[SERVICE].check("eve@example.com", Scope("newsletters"))).suppressed


async def test_all_emails_back_while_a_topic_is_held_is_said_as_the_topics_that_are_back(
        aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    html = await _come_back(client, relay, "fay@example.com", {"scope": "all"},
                            {"email": "fay@example.com", "topic": "promotions", "reason": "manual"})
    back = _status(html)
    assert "Email newsletters" in back and "Product updates" in back
    assert "Promotions" not in back and "All emails" not in back
    assert "Still unsubscribed at" in html and "Promotions and offers" in html


async def test_every_topic_held_by_an_admin_leaves_the_mail_of_no_topic_back(aiohttp_client, tmp_path, relay):
    """A reviewing helper's: the page said nothing was back, while a check of all emails let mail through."""
    client = await serve(aiohttp_client, tmp_path, relay)
    entries = [{"email": "gus@example.com", "topic": topic, "reason": "manual"}
               for topic in ("newsletters", "promotions", "product-updates")]
    html = await _come_back(client, relay, "gus@example.com", {"scope": "all"}, *entries)
    assert "You are subscribed again" in html and "All emails" in _status(html)
    assert not (await client.app[SERVICE].check("gus@example.com")).suppressed


async def test_the_persons_own_pause_is_not_said_to_be_anothers_entry(aiohttp_client, tmp_path, relay):
    client = await serve(aiohttp_client, tmp_path, relay)
    path = link_path(client, "hal@example.com")
    await client.post(path, data={"action": "unsubscribe", "scope": "newsletters"})
    assert (await client.post(path, data={"action": "pause", "days": "30"})).status == 200
    await client.post(path, data=ASK)
    [mail] = await confirmations(client, relay)
    html = await (await client.post(confirmation_path(mail), data=ASK)).text()
    assert "Your unsubscribe is withdrawn" in html and "not yours" not in html
    assert "still held for another reason" in html and "All emails" in html
