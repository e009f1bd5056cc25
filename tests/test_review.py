"""The review desk through real SMTP and HTTP (CONTRACT §6): every message a person must decide
reaches an end, with the person who ended it in the audit trail."""

import smtplib

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.addresses import key_of_canonical
from suppression.model import ALL_EMAILS, Source
from tests.support.http import bearer
from tests.support.settings import make_settings
from tests.test_smtp import SIMPLE, in_thread, send, smtp_port
from tests.support.migrations import opened_store

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

FORGED = (
    b"Authentication-Results: mx.plusnxt.com; dmarc=fail header.from=example.com; spf=fail\r\n"
    b"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\n"
    b"Please unsubscribe me and my colleague bob@example.com.\r\n"
)
QUESTION = b"From: Ann <ann@example.com>\r\nSubject: hours\r\n\r\nWhen are you open?\r\n"


def desk_client(due_hours: int):
    async def make(aiohttp_client, tmp_path):
        settings = make_settings(tmp_path / "data", smtp={"trusted_authserv_ids": ["mx.plusnxt.com"]},
                                 review={"due_hours": due_hours})
        return await aiohttp_client(build_app(settings))
    return make


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    return await desk_client(48)(aiohttp_client, tmp_path)


async def received(client, raw: bytes, mail_from: str = "jane@example.com") -> int:
    code, reply = await in_thread(send, smtp_port(client), raw, mail_from=mail_from)
    assert code == 250
    await client.app[INTAKE].handle_pending()
    return int(reply.split()[-1])


async def resolve(client, key, message_id, body):
    answer = await client.post(f"/v1/inbox/{message_id}/resolve", json=body, headers=bearer(key))
    return answer.status, await answer.json()


async def test_a_dmarc_failing_request_is_reviewed_then_honoured_with_the_resolver_as_actor(client, admin_key):
    message_id = await received(client, FORGED)
    listed = await (await client.get("/v1/inbox", params={"status": "review"}, headers=bearer(admin_key))).json()
    (item,) = listed["messages"]
    assert (item["id"], item["sender"], item["subject"]) == (message_id, "jane@example.com", "unsubscribe")
    assert item["found"] == ["bob@example.com"] and item["due"] > item["received"]
    assert any("failed authentication" in r for r in item["reasons"])
    assert "Please unsubscribe me" in item["words"]
    assert not (await client.app[SERVICE].check("jane@example.com")).suppressed

    status, body = await resolve(client, admin_key, message_id,
                                 {"action": "suppress", "emails": ["jane@example.com"], "note": "verified by phone"})
    assert (status, body["status"], body["addresses"], body["note"]) == (200, "resolved", ["jane@example.com"],
                                                                          "verified by phone")
    assert body["resolved_by"] == "api:admin-tests"
    check = await client.app[SERVICE].check("jane@example.com")
    assert (check.suppressed, check.matched.reason, check.matched.source) == (True, "unsubscribe", "desk")
    changes = await (await client.get("/v1/changes", headers=bearer(admin_key))).json()
    assert [(c["email"], c["source"], c["actor"]) for c in changes["changes"]] == [
        ("jane@example.com", "desk", "api:admin-tests")]
    status, body = await resolve(client, admin_key, message_id, {"action": "dismiss", "note": "again"})
    assert status == 409 and "settled already" in body["error"]


async def test_regression_email_n_is_the_actor_of_a_request_by_mail_never_a_source(client, admin_key, sync_key):
    # A request the reader honours came by mail (source "email") from the person who sent that
    # message (actor "email:N"); a message decided at the desk came through the desk (source
    # "desk") from the person who decided (actor: their key). Before, the desk wrote the message
    # as its source ("email:N"), the reader's actor: one string, two meanings.
    honoured = await received(client, SIMPLE)
    decided = await received(client, FORGED)
    status, _ = await resolve(client, admin_key, decided, {"action": "suppress", "emails": ["bob@example.com"]})
    assert status == 200
    single = {email: await (await client.get(f"/v1/suppressions/{email}", headers=bearer(admin_key))).json()
              for email in ("jane@example.com", "bob@example.com")}
    assert [(single[e]["suppressed"], single[e]["source"]) for e in single] == [(True, "email"), (True, "desk")]
    feed = (await (await client.get("/v1/changes", headers=bearer(sync_key))).json())["changes"]
    assert [(c["email"], c["source"], c["actor"]) for c in feed] == [
        ("jane@example.com", "email", f"email:{honoured}"), ("bob@example.com", "desk", "api:admin-tests")]
    history = (await (await client.get("/v1/suppressions/bob@example.com/history", headers=bearer(sync_key))).json())
    assert [(c["source"], c["actor"]) for c in history["history"]] == [("desk", "api:admin-tests")]
    assert {c["source"] for c in feed} <= set(Source)  # every source is one of the fixed set
    # Statistics count the desk's decision with the email requests, as before.
    stats = await (await client.get("/v1/stats", params={"by": "source"}, headers=bearer(sync_key))).json()
    assert [(row["key"], row["created"]) for row in stats["rows"]] == [("email", 2)]


async def test_a_desk_decision_stored_before_migration_18_reads_as_source_desk(settings, monkeypatch):
    # A database at migration 17 holding desk decisions as the old program wrote them (the
    # message as the source), opened by this program.
    async with opened_store(settings, monkeypatch, 17) as old:
        for email, reason, message in (("bob@example.com", "unsubscribe", 7), ("fay@example.com", "bounce", 8)):
            await old.claim(email, key_of_canonical(email), ALL_EMAILS, reason, f"email:{message}", "api:old")
        await old.claim("kim@example.com", key_of_canonical("kim@example.com"), ALL_EMAILS, "unsubscribe", "email",
                        "email:9")
    async with opened_store(settings) as store:
        for email in ("bob@example.com", "fay@example.com"):
            assert [(c.source, c.actor) for c in await store.claims_of(email)] == [("desk", "api:old")]
            assert [row.source for row in await store.suppressions_of(email)] == ["desk"]
            assert [(c.source, c.actor) for c in await store.changes_of(email)] == [("desk", "api:old")]
        assert [(c.source, c.actor) for c in await store.claims_of("kim@example.com")] == [("email", "email:9")]
        # A lift of a decision made before counts where the decision was counted: a bounce.
        await store.unsuppress("fay@example.com", ALL_EMAILS, "api", "api:new")
        rows = await store.daily_counts("2000-01-01", "2999-12-31", ("source",))
        assert sorted(tuple(r) for r in rows) == [("bounce", 1, 1), ("email", 2, 0)]


async def test_without_emails_the_found_addresses_else_the_sender_are_suppressed(client, admin_key):
    forged = await received(client, FORGED)
    status, body = await resolve(client, admin_key, forged, {"action": "suppress", "topic": "promotions"})
    assert (status, body["addresses"], body["topic"]) == (200, ["bob@example.com"], "promotions")
    question = await received(client, QUESTION, "ann@example.com")
    status, body = await resolve(client, admin_key, question, {"action": "suppress"})
    assert (status, body["addresses"]) == (200, ["ann@example.com"])


async def test_a_request_for_the_sender_beside_another_is_asked_and_the_desk_offers_both(client, admin_key):
    # Honoured by the reader for anna@... alone, the sender who asked too stayed on the list.
    raw = (b"From: Jane <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Unsubscribe\r\n\r\n"
           b"Please unsubscribe both me and my wife, anna@example.org. We get everything twice.\r\n")
    message_id = await received(client, raw)
    listed = await (await client.get("/v1/inbox", params={"status": "review"}, headers=bearer(admin_key))).json()
    (item,) = listed["messages"]
    assert item["id"] == message_id and item["found"] == ["anna@example.org", "jane@example.com"]
    assert "the sender's own address too" in item["reasons"][-1]
    for email in ("anna@example.org", "jane@example.com"):  # nothing suppressed before a person decides
        assert not (await (await client.get(f"/v1/suppressions/{email}", headers=bearer(admin_key))).json())["suppressed"]
    status, body = await resolve(client, admin_key, message_id, {"action": "suppress"})
    assert (status, body["addresses"]) == (200, ["anna@example.org", "jane@example.com"])


async def test_a_dismissal_suppresses_nothing(client, admin_key):
    message_id = await received(client, FORGED)
    status, body = await resolve(client, admin_key, message_id, {"action": "dismiss", "note": "a prank"})
    assert (status, body["status"], body["addresses"]) == (200, "dismissed", [])
    assert await client.app[SERVICE].store.count() == 0


@pytest.mark.parametrize("body, says", [
    ({"action": "honour"}, "unknown action"),
    ({}, "action"),
    ({"action": "suppress", "extra": 1}, "unknown field"),
    ({"action": "suppress", "emails": "jane@example.com"}, "list of strings"),
    ({"action": "suppress", "emails": ["jane@example.com", "not an address"]}, "not an email address"),
    ({"action": "suppress", "topic": "sports"}, "unknown topic"),
    ({"action": "dismiss"}, "note"),
    ({"action": "dismiss", "note": "x", "emails": ["a@example.com"]}, "suppresses nothing"),
])
async def test_bad_resolutions_are_400_and_change_nothing(client, admin_key, body, says):
    message_id = await received(client, FORGED)
    status, answer = await resolve(client, admin_key, message_id, body)
    assert status == 400 and says in answer["error"]
    assert (await client.app[SERVICE].review.inbox_message(message_id)).status == "review"
    assert await client.app[SERVICE].store.count() == 0


async def test_unknown_ids_are_404_and_check_keys_403(client, admin_key, check_key):
    assert (await resolve(client, admin_key, 999, {"action": "dismiss", "note": "x"}))[0] == 404
    assert (await resolve(client, admin_key, "abc", {"action": "dismiss", "note": "x"}))[0] == 400
    message_id = await received(client, FORGED)
    assert (await resolve(client, check_key, message_id, {"action": "dismiss", "note": "x"}))[0] == 403


async def metric(client, name: str) -> float:
    text = await (await client.get("/metrics")).text()
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


async def test_gauges_and_healthz_follow_the_desk(client, admin_key):
    assert (await metric(client, "suppression_review_open"), await metric(client, "suppression_review_overdue")) == (0, 0)
    first = await received(client, FORGED)
    await received(client, QUESTION, "ann@example.com")
    assert await metric(client, "suppression_review_open") == 2
    assert await metric(client, "suppression_review_overdue") == 0  # due in 48 hours
    assert await metric(client, "suppression_review_oldest_age_seconds") >= 0
    assert (await (await client.get("/healthz")).json())["review"] == "ok"
    await resolve(client, admin_key, first, {"action": "dismiss", "note": "done"})
    assert await metric(client, "suppression_review_open") == 1


async def test_with_due_hours_0_every_open_message_is_overdue(aiohttp_client, tmp_path):
    client = await desk_client(0)(aiohttp_client, tmp_path)
    assert (await (await client.get("/healthz")).json())["review"] == "ok"  # nothing open
    await received(client, QUESTION, "ann@example.com")
    assert await metric(client, "suppression_review_overdue") == 1
    health = await client.get("/healthz")
    assert health.status == 200 and (await health.json())["review"] == "overdue"


def rcpt_reply(port: int, recipient: str) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as session:
        session.ehlo("client.example")
        session.mail("mailer-daemon@mx.example")
        return session.rcpt(recipient)[0]


@pytest.mark.parametrize("recipient, code", [
    ("postmaster@plusnxt.com", 250), ("PostMaster@PLUSNXT.com", 250), ("<postmaster>", 250), ("postmaster", 250),
    ("postmaster@elsewhere.example", 550), ("abuse@plusnxt.com", 550),
])
async def test_postmaster_is_taken_at_our_domains_and_bare(client, recipient, code):
    assert await in_thread(rcpt_reply, smtp_port(client), recipient) == code


async def test_postmaster_mail_is_kept_and_never_read_as_a_request(client, admin_key):
    raw = b"From: Jane <jane@example.com>\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n"
    code, reply = await in_thread(send, smtp_port(client), raw, rcpt=("Postmaster@plusnxt.com",))
    assert code == 250
    await client.app[INTAKE].handle_pending()
    message = await client.app[SERVICE].review.inbox_message(int(reply.split()[-1]))
    assert (message.status, message.addresses) == ("postmaster", [])
    assert "RFC 5321" in message.reasons[0]
    assert not (await client.app[SERVICE].check("jane@example.com")).suppressed
    listed = await (await client.get("/v1/inbox", params={"status": "postmaster"}, headers=bearer(admin_key))).json()
    assert [m["id"] for m in listed["messages"]] == [message.id]


async def test_a_long_page_of_the_inbox_reads_as_its_short_pages_do(client, admin_key):
    # Past 100 rows the page's rows are read in a thread (a stranger's words and addresses: 10,000
    # rows held the loop 258 ms, a probing helper): the same messages, in the same order.
    store = client.app[SERVICE].store
    for n in range(130):
        await store.add_message(b"Subject: x %d\r\n\r\nunsubscribe\r\n" % n, f"s{n}@example.com",
                                ["PLUSinfo@plusnxt.com"])
    whole = await store.list_messages(None, 0, 130)
    pieces = [m for after in (0, 50, 100) for m in await store.list_messages(None, after, 50)]
    assert len(whole) == 130 and whole == pieces
    assert [m.mail_from for m in whole] == [f"s{n}@example.com" for n in range(130)]
