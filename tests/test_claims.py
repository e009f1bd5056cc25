"""A suppression is the set of everyone who asked (claims), pauses that end by themselves, and
checks for transactional mail (CONTRACT §10), over real HTTP on both stores. Time is an
injected clock: no test sleeps."""

import hashlib
import logging
import re
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from handlers.app import build_app
from handlers.state import SERVICE
from handlers.webhooks import event_body
from suppression.model import ALL_EMAILS, Change, Scope, utc_iso
from suppression.rights import with_pause_ends
from suppression.service import SuppressionService
from suppression.config import settings_from_mapping
from tests.conftest import bearer
from tests.postgres import available as postgres_available, shared_server
from tests.support.migrations import opened_store
from tests.support.writes import execute_many
from tests.test_smtp import wait_until

pytestmark = pytest.mark.both_stores

SIGNING = ("claims-test-signing-key-" + "x" * 16,)


class Clock:
    """The service's idea of now, moved by the test."""

    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def link_path(service, email="jane@example.com", topic=None) -> str:
    return "/u/" + service.links.mint_link(email, Scope.of_topic(topic)).url.rsplit("/", 1)[1]


def undo_form(html: str) -> list[tuple[str, str]]:
    form = html[html.index('value="resubscribe"') - 80:]
    form = form[:form.index("</form>")]
    return re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form)


async def add(client, key, email, **body):
    answer = await client.post("/v1/suppressions", json={"email": email, **body}, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def single(client, key, email, **params):
    answer = await client.get(f"/v1/suppressions/{email}", params=params, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def bulk_forms(client, key, emails: list[str], **params) -> dict[str, list[str]]:
    """What each bulk form (JSON, text, hashed sha256) says is suppressed, as addresses."""
    as_json = await client.post("/v1/check", params=params, json={"emails": emails}, headers=bearer(key))
    as_text = await client.post("/v1/check", params=params, data="\n".join(emails) + "\n",
                                headers={**bearer(key), "Content-Type": "text/plain"})
    digests = {hashlib.sha256(e.encode()).hexdigest(): e for e in emails}
    hashed = await client.post("/v1/check", params={**params, "hash": "sha256"}, data="\n".join(digests) + "\n",
                               headers={**bearer(key), "Content-Type": "text/plain"})
    for answer in (as_json, as_text, hashed):
        assert answer.status == 200, await answer.text()
    return {
        "json": (await as_json.json())["suppressed"],
        "text": (await as_text.text()).split(),
        "hashed": [digests[line] for line in (await hashed.text()).split()],
    }


async def history(client, key, email) -> list[dict]:
    answer = await client.get(f"/v1/suppressions/{email}/history", headers=bearer(key))
    return (await answer.json())["history"]


# -- claims: lifting removes only what the lifter may lift --------------------------------------


@pytest.mark.parametrize("reason", ["bounce", "complaint", "manual", "block"])
async def test_an_undo_never_lifts_a_later_bounce_complaint_or_admin_entry(client, admin_key, check_key, sync_key,
                                                                          reason):
    # Before: one row per address and scope; the admin's entry found it suppressed (created:
    # false) and the replayed undo deleted the row: the address was mailed again.
    service = client.app[SERVICE]
    path = link_path(service)
    done = await client.post(path, data={"action": "unsubscribe", "scope": "all"})
    undo = undo_form(await done.text())
    await add(client, admin_key, "jane@example.com", reason=reason)
    replayed = await client.post(path, data=undo)
    assert replayed.status == 200
    answer = await single(client, check_key, "jane@example.com")
    assert answer["suppressed"] is True and answer["reason"] == reason and answer["source"] == "api"
    assert (await bulk_forms(client, check_key, ["jane@example.com"]))["json"] == ["jane@example.com"]
    assert [(c["action"], c["source"], c["reason"]) for c in await history(client, sync_key, "jane@example.com")] == [
        ("suppress", "link", "unsubscribe"), ("suppress", "api", reason), ("lift", "link", "unsubscribe"),
    ]


async def test_an_undo_still_lifts_its_own_click_when_nobody_else_asked(client, check_key, sync_key):
    service = client.app[SERVICE]
    path = link_path(service)
    done = await client.post(path, data={"action": "unsubscribe", "scope": "all"})
    await client.post(path, data=undo_form(await done.text()))
    assert (await single(client, check_key, "jane@example.com"))["suppressed"] is False
    feed = [c["action"] for c in await history(client, sync_key, "jane@example.com")]
    assert feed == ["suppress", "unsuppress"]


async def test_an_admin_lift_removes_every_claim_and_the_feed_says_so(client, admin_key, check_key, sync_key):
    service = client.app[SERVICE]
    await client.post(link_path(service), data={"List-Unsubscribe": "One-Click"})
    await add(client, admin_key, "jane@example.com", reason="bounce")
    removed = await client.delete("/v1/suppressions/jane@example.com", headers=bearer(admin_key))
    assert (await removed.json())["removed"] is True
    assert (await single(client, check_key, "jane@example.com"))["suppressed"] is False
    changes = (await (await client.get("/v1/changes", headers=bearer(sync_key))).json())["changes"]
    assert [(c["action"], c["after"]) for c in changes] == [
        ("suppress", {"suppressed": True, "until": None}),
        ("suppress", {"suppressed": True, "until": None}),
        ("unsuppress", {"suppressed": False, "until": None}),
    ]


async def test_coming_back_lifts_only_the_persons_own_opt_outs(client, admin_key, check_key):
    service = client.app[SERVICE]
    await client.post(link_path(service), data={"List-Unsubscribe": "One-Click"})
    await client.post(link_path(service, topic="newsletters"), data={"action": "unsubscribe", "scope": "newsletters"})
    await add(client, admin_key, "jane@example.com", reason="complaint")
    await client.post(link_path(service, "solo@example.com"), data={"List-Unsubscribe": "One-Click"})
    now = utc_iso(datetime.now(timezone.utc))
    lifted = await service.lift_own_opt_outs("jane@example.com", now)
    assert set(lifted) == {ALL_EMAILS, Scope("newsletters")}
    answer = await single(client, check_key, "jane@example.com", topic="newsletters")
    assert answer["suppressed"] is True and answer["reason"] == "complaint"  # the complaint stays
    claims = await service.store.claims_of("jane@example.com")
    assert [(c.scope, c.reason, c.source) for c in claims] == [(ALL_EMAILS, "complaint", "api")]
    assert await service.lift_own_opt_outs("solo@example.com", now) == [ALL_EMAILS]
    assert (await single(client, check_key, "solo@example.com"))["suppressed"] is False


async def test_every_existing_suppression_becomes_one_claim_when_migrated(settings, monkeypatch):
    # A database at migration 13 (before claims) with suppressions, opened by this program.
    async with opened_store(settings, monkeypatch, 13) as old:
        # The old rows, written as the old program wrote them.
        if settings.store.url:
            async with old._conn() as conn:
                for email, topic, reason in (("a@example.com", "", "unsubscribe"), ("b@example.com", "news", "bounce")):
                    await conn.execute(
                        "INSERT INTO suppressions (email, topic, key, reason, source, created_at)"
                        " VALUES (%s, %s, 1, %s, 'api', '2026-01-01T00:00:00.000Z')", (email, topic, reason))
                    await conn.execute(
                        "INSERT INTO changes (at, action, email, topic, reason, source, actor)"
                        " VALUES ('2026-01-01T00:00:00.000Z', 'suppress', %s, %s, %s, 'api', 'api:old')",
                        (email, topic, reason))
        else:
            rows = [("a@example.com", "", "unsubscribe"), ("b@example.com", "news", "bounce")]
            await old._write(partial(execute_many, "INSERT INTO suppressions (email, topic, key, reason, source,"
                                     " created_at) VALUES (?, ?, 1, ?, 'api', '2026-01-01T00:00:00.000Z')", rows))
            await old._write(partial(execute_many, "INSERT INTO changes (at, action, email, topic, reason, source,"
                                     " actor) VALUES ('2026-01-01T00:00:00.000Z', 'suppress', ?, ?, ?, 'api',"
                                     " 'api:old')", rows))
    async with opened_store(settings) as store:
        a = await store.claims_of("a@example.com")
        b = await store.claims_of("b@example.com")
        assert [(c.reason, c.source, c.actor, c.since, c.until) for c in a] == [
            ("unsubscribe", "api", "api:old", "2026-01-01T00:00:00.000Z", None)]
        assert [(c.scope, c.reason, c.actor) for c in b] == [(Scope("news"), "bounce", "api:old")]
        (row,) = await store.suppressions_of("b@example.com")
        assert row.hard is True and row.until is None
        _, rows = await store.load_index()
        assert rows[Scope("news")].hard.tolist() == [1]


# -- pauses --------------------------------------------------------------------------------------


async def test_a_pause_ends_by_itself_with_no_write_and_never_ends_a_later_opt_out(client, admin_key, check_key,
                                                                                 sync_key):
    service = client.app[SERVICE]
    clock = service.clock = Clock()
    until = utc_iso(clock.now + timedelta(days=30))
    made = await add(client, admin_key, "paused@example.com", until=until)
    assert made["until"] == until and made["created"] is True
    await add(client, admin_key, "both@example.com", until=until)
    await add(client, admin_key, "both@example.com", reason="unsubscribe", until=None)  # an opt-out made later
    emails = ["paused@example.com", "both@example.com", "never@example.com"]
    assert (await single(client, check_key, "paused@example.com"))["until"] == until
    assert "until" not in await single(client, check_key, "both@example.com")
    assert await bulk_forms(client, check_key, emails) == {form: emails[:2] for form in ("json", "text", "hashed")}
    newest = await service.store.newest_change()

    clock.advance(days=30, seconds=1)
    assert (await single(client, check_key, "paused@example.com")) == {
        "email": "paused@example.com", "topic": None, "suppressed": False}
    assert (await single(client, check_key, "both@example.com"))["suppressed"] is True
    assert await bulk_forms(client, check_key, emails) == {form: emails[1:2] for form in ("json", "text", "hashed")}
    assert await service.store.newest_change() == newest  # nothing was written at the end
    ended = await history(client, sync_key, "paused@example.com")
    assert [(c["action"], c["at"], c["cursor"]) for c in ended][1] == ("expire", until, None)
    changes = (await (await client.get("/v1/changes", headers=bearer(sync_key))).json())["changes"]
    assert (changes[0]["until"], changes[0]["after"]) == (until, {"suppressed": True, "until": until})
    assert changes[2]["after"] == {"suppressed": True, "until": None}  # the opt-out outlives the pause


async def test_until_must_be_a_future_timestamp_and_a_domain_entry_is_not_paused(client, admin_key):
    client.app[SERVICE].clock = Clock()
    for body in ({"until": "yesterday"}, {"until": "2001-01-01T00:00:00Z"}, {"until": 5}):
        answer = await client.post("/v1/suppressions", json={"email": "a@example.com", **body}, headers=bearer(admin_key))
        assert answer.status == 400 and "until" in (await answer.json())["error"]
    later = utc_iso(datetime.now(timezone.utc) + timedelta(days=3))
    answer = await client.post("/v1/suppressions", json={"email": "*@example.com", "until": later},
                               headers=bearer(admin_key))
    assert answer.status == 400


async def test_the_snapshot_keeps_a_pause_that_then_ends_after_a_restart(settings, caplog):
    clock = Clock()
    settings.service.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)  # SQLite's has it already; no app here to make PostgreSQL's
    first = SuppressionService.of_settings(settings, SIGNING)
    first.clock = clock
    await first.start()
    until = utc_iso(clock.now + timedelta(days=30))
    await first.suppress("paused@example.com", ALL_EMAILS, "manual", "api", "t", until=until)
    await first.suppress("block@example.com", ALL_EMAILS, "block", "api", "t")
    await first.stop()
    second = SuppressionService.of_settings(settings, SIGNING)
    second.clock = clock
    with caplog.at_level(logging.INFO, logger="suppression.index.live"):
        await second.start()
    try:
        assert "index loaded from snapshot" in caplog.text
        assert (await second.check("paused@example.com")).suppressed is True
        assert await second.suppressed_texts(["block@example.com"], ALL_EMAILS, "transactional") == ["block@example.com"]
        clock.advance(days=31)
        assert (await second.check("paused@example.com")).suppressed is False
        assert await second.suppressed_texts(["paused@example.com", "block@example.com"], ALL_EMAILS) == [
            "block@example.com"]
    finally:
        await second.stop()


async def test_the_preference_centre_pauses_all_emails_for_the_offered_days(client, check_key):
    service = client.app[SERVICE]
    clock = service.clock = Clock()
    path = link_path(service)
    page = await (await client.get(path)).text()
    assert "Pause all emails for 30 days" in page and "Pause all emails for 90 days" in page
    german = await (await client.get(path, headers={"Accept-Language": "de"})).text()
    assert "Alle E-Mails für 90 Tage pausieren" in german
    refused = await client.post(path, data={"action": "pause", "days": "7"})
    assert refused.status == 400
    assert (await single(client, check_key, "jane@example.com"))["suppressed"] is False
    paused = await client.post(path, data={"action": "pause", "days": "30"})
    html = await paused.text()
    assert paused.status == 200 and "Your emails are paused" in html
    assert (clock.now + timedelta(days=30)).strftime("%Y-%m-%d") in html
    answer = await single(client, check_key, "jane@example.com")
    assert answer["suppressed"] is True and answer["reason"] == "pause"
    assert answer["until"] == utc_iso(clock.now + timedelta(days=30))
    assert "paused until" in await (await client.get(path)).text()
    await client.post(path, data=undo_form(html))  # the undo the paused page offers
    assert (await single(client, check_key, "jane@example.com"))["suppressed"] is False


# -- purpose: transactional mail ----------------------------------------------------------------


async def test_transactional_checks_count_only_bounces_complaints_and_blocks(client, admin_key, check_key):
    service = client.app[SERVICE]
    clock = service.clock = Clock()
    await add(client, admin_key, "optout@example.com", reason="unsubscribe")
    await add(client, admin_key, "topic@example.com", reason="unsubscribe", topic="newsletters")
    await add(client, admin_key, "paused@example.com", reason="bounce", until=utc_iso(clock.now + timedelta(days=9)))
    await add(client, admin_key, "manual@example.com")
    await add(client, admin_key, "bounce@example.com", reason="bounce")
    await add(client, admin_key, "complaint@example.com", reason="complaint")
    await add(client, admin_key, "block@example.com", reason="block")
    await add(client, admin_key, "*@blocked.example", reason="block")
    await client.post(link_path(service, "both@example.com"), data={"List-Unsubscribe": "One-Click"})
    await add(client, admin_key, "both@example.com", reason="block")  # a block on an opted-out address
    # A topic's suppression, whatever its reason, does not count (CONTRACT §10); before, a
    # topic's bounce, complaint or block did.
    await add(client, admin_key, "topic-bounce@example.com", reason="bounce", topic="newsletters")
    await add(client, admin_key, "topic-block@example.com", reason="block", topic="promotions")
    await add(client, admin_key, "*@topic-blocked.example", reason="block", topic="promotions")
    emails = ["optout@example.com", "topic@example.com", "paused@example.com", "manual@example.com",
              "bounce@example.com", "complaint@example.com", "block@example.com", "anyone@blocked.example",
              "both@example.com", "never@example.com", "topic-bounce@example.com", "topic-block@example.com",
              "anyone@topic-blocked.example"]
    hard = ["bounce@example.com", "complaint@example.com", "block@example.com", "anyone@blocked.example",
            "both@example.com"]
    for email in emails:
        answer = await single(client, check_key, email, purpose="transactional")
        assert answer["suppressed"] is (email in hard), email
    both = await single(client, check_key, "both@example.com", purpose="transactional")
    assert both["reason"] == "block" and both["purpose"] == "transactional"
    transactional = await bulk_forms(client, check_key, emails, purpose="transactional")
    hashed_hard = [e for e in hard if not e.endswith("blocked.example")]  # digests never match a domain entry
    assert transactional == {"json": hard, "text": hard, "hashed": hashed_hard}
    # The default, promotional: everything counts, as before (the topic opt-out only for its topic).
    promotional = await bulk_forms(client, check_key, emails)
    assert promotional["json"] == [e for e in emails if "topic" not in e and e != "never@example.com"]
    assert (await single(client, check_key, "topic@example.com", topic="newsletters"))["suppressed"] is True


async def test_an_unknown_purpose_is_400_in_every_form(client, check_key):
    answers = [
        await client.get("/v1/suppressions/a@example.com", params={"purpose": "marketing"}, headers=bearer(check_key)),
        await client.post("/v1/check", params={"purpose": "marketing"}, json={"emails": ["a@example.com"]},
                          headers=bearer(check_key)),
        await client.post("/v1/check", params={"purpose": "marketing"}, data="a@example.com\n",
                          headers={**bearer(check_key), "Content-Type": "text/plain"}),
    ]
    for answer in answers:
        assert answer.status == 400 and "purpose" in (await answer.json())["error"]


# -- several instances ----------------------------------------------------------------------------


@pytest.mark.sqlite_only  # run once, not once a store: it makes its own PostgreSQL database for two instances
@pytest.mark.skipif(not postgres_available(), reason="needs Debian's postgresql package (.ci/run installs it)")
async def test_a_pause_ends_on_every_instance_with_no_write(aiohttp_client, tmp_path):
    url = shared_server().create_database()
    clients = []
    for name in ("one", "two"):
        settings = settings_from_mapping({"service": {"data_dir": str(tmp_path / name)}, "smtp": {"port": 0},
                                          "store": {"url": url}})
        clients.append(await aiohttp_client(build_app(settings)))
    one, two = clients
    admin = await one.app[SERVICE].api_keys.create_api_key("admin", "admin")
    check = await one.app[SERVICE].api_keys.create_api_key("check", "check")
    clock = Clock()
    for c in clients:
        c.app[SERVICE].clock = clock
    until = utc_iso(clock.now + timedelta(days=30))
    await add(one, admin, "paused@example.com", until=until)

    async def two_has_heard():  # another instance's change: answered within a second (CONTRACT §8)
        return (await single(two, check, "paused@example.com"))["suppressed"]

    assert await wait_until(two_has_heard)
    for c in clients:
        assert (await single(c, check, "paused@example.com"))["until"] == until
        assert (await bulk_forms(c, check, ["paused@example.com"]))["text"] == ["paused@example.com"]
    newest = await two.app[SERVICE].store.newest_change()
    clock.advance(days=30, milliseconds=1)
    for c in clients:
        assert (await single(c, check, "paused@example.com"))["suppressed"] is False
        assert await bulk_forms(c, check, ["paused@example.com"]) == {"json": [], "text": [], "hashed": []}
    assert await two.app[SERVICE].store.newest_change() == newest


async def test_webhook_events_say_when_a_pause_was_made_and_when_one_claim_of_two_is_lifted(client, admin_key):
    service = client.app[SERVICE]
    service.clock = Clock()
    await service.store.sync_receivers(["https://crm.example.com/hooks"])  # events are kept while a receiver is configured
    until = utc_iso(service.clock.now + timedelta(days=30))
    await add(client, admin_key, "jane@example.com", until=until)
    path = link_path(service)
    done = await client.post(path, data={"action": "unsubscribe", "scope": "all"})
    await client.post(path, data={"action": "resubscribe", "undo": dict(undo_form(await done.text()))["undo"]})
    bodies = [event_body(service, event) for event in await service.store.events_after(0, 10)]
    assert [(b["type"], b["data"]["action"], b["data"].get("until"), b["data"]["after"]) for b in bodies] == [
        ("suppression.created", "suppress", until, {"suppressed": True, "until": until}),
        ("suppression.created", "suppress", None, {"suppressed": True, "until": None}),
        ("suppression.claim_removed", "lift", None, {"suppressed": True, "until": until}),  # the pause still holds
    ]
    assert all("jane" not in str(b["data"].get("why_text", "")) for b in bodies)


async def test_an_import_adds_a_block_to_an_opted_out_address_and_replaces_nothing(client, admin_key, check_key):
    service = client.app[SERVICE]
    await client.post(link_path(service, "out@example.com"), data={"List-Unsubscribe": "One-Click"})
    await add(client, admin_key, "manual@example.com")
    report = await service.import_lines(
        ["email,type", "out@example.com,Blocked", "manual@example.com,unsubscribed", "new@example.com,hard bounce"],
        "cli:test")
    assert report.added == 2  # the block beside the opt-out, and the new bounce; the second opt-out adds nothing
    answers = {e: (await single(client, check_key, e, purpose="transactional"))["suppressed"]
               for e in ("out@example.com", "manual@example.com", "new@example.com")}
    assert answers == {"out@example.com": True, "manual@example.com": False, "new@example.com": True}
    shown = await single(client, check_key, "out@example.com")
    assert (shown["reason"], shown["source"]) == ("unsubscribe", "one-click")  # an import never replaces what shows


async def test_an_undo_never_lifts_a_bounce_that_came_back_by_mail(client, check_key):
    from handlers.state import INTAKE

    service = client.app[SERVICE]
    path = link_path(service)
    done = await client.post(path, data={"action": "unsubscribe", "scope": "all"})
    undo = undo_form(await done.text())
    returned = service.links.mint_link("jane@example.com").url  # our link in the returned message proves it was ours
    dsn = (
        "From: MAILER-DAEMON@mx.example\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        "Final-Recipient: rfc822; jane@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\nTo: jane@example.com\r\nList-Unsubscribe: <{returned}>\r\n\r\nhi\r\n"
        "--b--\r\n").encode()
    intake = client.app[INTAKE]
    await intake.receive(dsn, "", ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    await client.post(path, data=undo)
    answer = await single(client, check_key, "jane@example.com", purpose="transactional")
    assert answer["suppressed"] is True and answer["reason"] == "bounce"
    assert (await single(client, check_key, "jane@example.com"))["suppressed"] is True


def _pause_ends_by_asking_every_later_change(changes: list[Change], now: str) -> list[Change]:
    """with_pause_ends as it was written first, each pause asking every later change: the spec."""
    ends = []
    for i, change in enumerate(changes):
        if change.action != "suppress" or change.until is None or change.until > now:
            continue
        if not any(later.action == "unsuppress" and later.scope == change.scope and later.at < change.until
                   for later in changes[i + 1:]):
            ends.append(Change(0, change.until, "expire", change.email, change.scope, change.reason, change.source,
                               "clock", None, change.campaign, change.until, None))
    return sorted(changes + ends, key=lambda c: (c.at, c.id == 0, c.id)) if ends else changes


_MOMENTS = st.integers(0, 30).map(lambda n: f"2026-12-{n // 10 + 1:02d}T{n % 10:02d}:00:00Z")
_CHANGES = st.lists(st.tuples(st.sampled_from(["suppress", "unsuppress", "erase"]), _MOMENTS,
                              st.sampled_from([ALL_EMAILS, Scope("news"), Scope("offers")]),
                              st.one_of(st.none(), _MOMENTS)), max_size=40)


@given(_CHANGES, _MOMENTS)
@hypothesis_settings(max_examples=500, deadline=None)
def test_the_ends_of_pauses_are_those_of_asking_every_later_change(rows, now):
    # Times in any order, as changes logged by several instances can be: the earliest later lift counts.
    changes = [Change(n + 1, at, action, "a@example.com", scope, "unsubscribe", "api", "t", until=until)
               for n, (action, at, scope, until) in enumerate(rows)]
    assert with_pause_ends(changes, now) == _pause_ends_by_asking_every_later_change(changes, now)
