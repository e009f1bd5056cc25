"""Campaigns, statistics and the dashboard (CONTRACT §10) over real HTTP, SMTP and the CLI, on
both stores: a campaign travels hidden in a link to the suppression it makes; the counts come
from the rollup the change log's triggers keep, whoever writes; the dashboard draws them."""

import json
import re
from datetime import datetime, timedelta, timezone
from functools import partial

import pytest

from handlers.app import build_app
from handlers.state import SERVICE, SMTP_SERVER
from suppression.config import load_settings, settings_from_mapping
from suppression.keyfile import signing_keys
from suppression.model import ALL_EMAILS
from suppression.tokens import mint_token, verify_token
from tests.conftest import bearer, cli, free_port, make_settings, run_cli, write_config
from tests.support.writes import execute, execute_many
from tests.test_desk import csrf_of, sign_in, under_review as _under_review
from tests.security.test_forged_mail import arf, dsn
from tests.test_smtp import in_thread, send, wait_until
from tests.webhook_receiver import Receiver, new_secret
from tests.support.migrations import opened_store

pytestmark = pytest.mark.both_stores

CAMPAIGN = "spring-2026.a_1"


async def link_of(client, key: str, email: str, **extra) -> dict:
    answer = await client.post("/v1/links", json={"email": email, **extra}, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


def token_of(link: dict) -> str:
    return link["url"].rsplit("/", 1)[1]


async def history(client, key: str, email: str) -> list[dict]:
    answer = await client.get(f"/v1/suppressions/{email}/history", headers=bearer(key))
    assert answer.status == 200
    return (await answer.json())["history"]


async def stats(client, key: str, **query) -> dict:
    answer = await client.get("/v1/stats", params=query, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def under_review(client, sender: str = "jane@example.com") -> int:
    """A message only a person can decide (it asks nothing of us)."""
    raw = f"From: <{sender}>\r\nSubject: hours\r\n\r\nWhen are you open?\r\n".encode()
    return await _under_review(client, raw, sender)


def rows_by_key(report: dict) -> dict:
    return {row["key"]: row for row in report["rows"]}


# -- campaigns ------------------------------------------------------------------------------


async def test_a_campaign_rides_hidden_in_the_link_to_each_suppression_it_makes(client, admin_key, check_key):
    service = client.app[SERVICE]
    one_click = await link_of(client, check_key, "ann@example.com", campaign=CAMPAIGN)
    page = await link_of(client, check_key, "bob@example.com", topic="newsletters", campaign=CAMPAIGN)
    mailto = await link_of(client, check_key, "cat@example.com", campaign=CAMPAIGN)
    for made in (one_click, page, mailto):  # hidden as the address is: nowhere readable in what is sent
        assert not any(part in json.dumps(made) for part in ("spring", "2026.a", "ann@", "bob@", "cat@"))

    answer = await client.post(f"/u/{token_of(one_click)}", data={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200
    answer = await client.post(f"/u/{token_of(page)}", data={"action": "unsubscribe", "scope": "newsletters",
                                                              "why": "too-many"})
    assert answer.status == 200
    raw = (f"From: Cat <cat@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe {token_of(mailto)}"
           "\r\n\r\n").encode()
    code, _ = await in_thread(send, client.app[SMTP_SERVER].port, raw, "cat@example.com")
    assert code == 250
    assert await wait_until(lambda: _suppressed(service, "cat@example.com"))

    for email, source in (("ann@example.com", "one-click"), ("bob@example.com", "link"), ("cat@example.com", "email")):
        (change,) = await history(client, admin_key, email)
        assert (change["source"], change["campaign"]) == (source, CAMPAIGN)
    feed = await (await client.get("/v1/changes", headers=bearer(admin_key))).json()
    assert [c.get("campaign") for c in feed["changes"]] == [CAMPAIGN] * 3
    counted = rows_by_key(await stats(client, admin_key, by="campaign"))
    assert counted[CAMPAIGN] == {"key": CAMPAIGN, "created": 3, "lifted": 0}  # no `sent` recorded yet


async def test_bounces_and_complaints_proven_by_a_campaign_token_record_it(client, admin_key):
    service = client.app[SERVICE]
    for email, report in (("gone@example.com", dsn), ("angry@example.com", arf)):
        url = service.links.mint_link(email, ALL_EMAILS, "summer").url
        raw = report([email], f"To: {email}\r\nList-Unsubscribe: <{url}>")
        code, _ = await in_thread(send, client.app[SMTP_SERVER].port, raw, "")
        assert code == 250
    assert await wait_until(lambda: _suppressed(service, "gone@example.com"))
    assert await wait_until(lambda: _suppressed(service, "angry@example.com"))
    for email, reason in (("gone@example.com", "bounce"), ("angry@example.com", "complaint")):
        (change,) = await history(client, admin_key, email)
        assert (change["reason"], change["campaign"]) == (reason, "summer")
    sources = rows_by_key(await stats(client, admin_key, by="source"))
    assert (sources["bounce"]["created"], sources["complaint"]["created"]) == (1, 1)
    assert rows_by_key(await stats(client, admin_key, by="campaign"))["summer"]["created"] == 2


async def _suppressed(service, email: str) -> bool:
    return (await service.check(email)).suppressed


async def test_links_without_a_campaign_work_as_before_and_record_none(client, admin_key):
    service = client.app[SERVICE]
    # A token minted before campaigns existed: the same two-part payload as now without one.
    old = mint_token(service.signing_keys, "old@example.com", ALL_EMAILS)
    assert verify_token(service.signing_keys, old).campaign is None
    assert (await client.post(f"/u/{old}", data={"List-Unsubscribe": "One-Click"})).status == 200
    (change,) = await history(client, admin_key, "old@example.com")
    assert "campaign" not in change and change["source"] == "one-click"
    assert rows_by_key(await stats(client, admin_key, by="campaign"))[None]["created"] == 1


@pytest.mark.parametrize("campaign", ["", "a" * 65, "spring sale", "été", "a/b", 7, ["x"]])
async def test_a_campaign_is_1_to_64_letters_digits_dots_dashes_or_underscores(client, check_key, campaign):
    answer = await client.post("/v1/links", json={"email": "a@example.com", "campaign": campaign},
                               headers=bearer(check_key))
    assert answer.status == 400
    assert "campaign" in (await answer.json())["error"]


async def test_the_number_sent_is_set_idempotently_and_gives_the_rate(client, admin_key, sync_key, check_key):
    made = await link_of(client, admin_key, "ann@example.com", campaign="may")
    await client.post(f"/u/{token_of(made)}", data={"List-Unsubscribe": "One-Click"})
    for _ in range(2):  # a repeat sets the same number again
        answer = await client.post("/v1/campaigns/may", json={"sent": 400}, headers=bearer(sync_key))
        assert answer.status == 200 and await answer.json() == {"campaign": "may", "sent": 400}
    # Recorded in the range but nobody left: a row of zeros.
    assert (await client.post("/v1/campaigns/june", json={"sent": 10}, headers=bearer(admin_key))).status == 200
    counted = rows_by_key(await stats(client, admin_key, by="campaign"))
    assert counted["may"] == {"key": "may", "created": 1, "lifted": 0, "sent": 400, "rate": 0.0025}
    assert counted["june"] == {"key": "june", "created": 0, "lifted": 0, "sent": 10, "rate": 0.0}
    assert (await client.post("/v1/campaigns/zero", json={"sent": 0}, headers=bearer(admin_key))).status == 200
    assert "rate" not in rows_by_key(await stats(client, admin_key, by="campaign"))["zero"]
    refused = await client.post("/v1/campaigns/may", json={"sent": 1}, headers=bearer(check_key))
    assert refused.status == 403


async def test_a_report_of_many_campaigns_reads_as_a_short_one_does(client, admin_key):
    """Past 100 rows the report is built beside the loop, and it is always written there
    (80,000 campaigns held it 255-283 ms, a probing helper's): the same rows, in the same
    order, with the same rates, as JSON with its length."""
    service = client.app[SERVICE]
    for n in range(150):
        await service.record_sent(f"c{n:03d}", 1000 - n)
    made = await link_of(client, admin_key, "ann@example.com", campaign="c149")
    await client.post(f"/u/{token_of(made)}", data={"List-Unsubscribe": "One-Click"})
    answer = await client.get("/v1/stats", params={"by": "campaign"}, headers=bearer(admin_key))
    assert answer.content_type == "application/json" and answer.content_length == len(await answer.read())
    report = await answer.json()
    assert [row["key"] for row in report["rows"]] == ["c149", *(f"c{n:03d}" for n in range(149))]
    assert report["rows"][0] == {"key": "c149", "created": 1, "lifted": 0, "sent": 851, "rate": 0.001175}
    assert report == (await service.statistics.report(None, None, "campaign")).as_dict()


@pytest.mark.parametrize("path, body, says", [
    ("/v1/campaigns/may", {"sent": -1}, "whole number"),
    ("/v1/campaigns/may", {"sent": "5"}, "whole number"),
    ("/v1/campaigns/may", {"sent": 1.5}, "whole number"),
    ("/v1/campaigns/may", {"sent": True}, "whole number"),
    ("/v1/campaigns/may", {"sent": 2**60}, "whole number"),
    ("/v1/campaigns/may", {}, "`sent` is required"),
    ("/v1/campaigns/may", {"sent": 1, "spent": 2}, "unknown field"),
    ("/v1/campaigns/spring%20sale", {"sent": 1}, "campaign is 1 to 64"),
    (f"/v1/campaigns/{'x' * 65}", {"sent": 1}, "campaign is 1 to 64"),
])
async def test_a_bad_sent_count_or_campaign_id_is_a_400_with_the_reason(client, admin_key, path, body, says):
    answer = await client.post(path, json=body, headers=bearer(admin_key))
    assert answer.status == 400 and says in (await answer.json())["error"]


# -- statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize("query, says", [
    ({"by": "colour"}, "`by` must be one of"),
    ({"by": ""}, "`by` must be one of"),
    ({"from": "2026-1-1"}, "YYYY-MM-DD"),
    ({"to": ""}, "YYYY-MM-DD"),
    ({"from": "20260101"}, "YYYY-MM-DD"),
    ({"to": "2026-02-30"}, "not a date of the calendar"),
    ({"to": "0001-01-05"}, "must be from 1970-01-01 to 9998-12-31"),  # before: 500, the default `from` before year 1
    ({"from": "9999-12-31", "to": "9999-12-31", "by": "campaign"}, "must be from"),  # before: 500, the day after
    ({"from": "2026-03-02", "to": "2026-03-01"}, "must not be after"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 1100 days"),
    ({"email": "a@example.com"}, "unknown parameter"),
])
async def test_stats_parameters_are_checked_with_reasons(client, sync_key, query, says):
    answer = await client.get("/v1/stats", params=query, headers=bearer(sync_key))
    assert answer.status == 400 and says in (await answer.json())["error"]


async def test_stats_need_a_sync_or_admin_key(client, check_key, sync_key):
    assert (await client.get("/v1/stats")).status == 401
    assert (await client.get("/v1/stats", headers=bearer(check_key))).status == 403
    assert (await client.get("/v1/stats", headers=bearer(sync_key))).status == 200


async def test_by_day_lists_every_day_of_the_range_with_its_counts(client, admin_key):
    await client.post("/v1/suppressions", json={"email": "a@example.com"}, headers=bearer(admin_key))
    await client.post("/v1/suppressions", json={"email": "b@example.com", "topic": "promotions"},
                      headers=bearer(admin_key))
    await client.delete("/v1/suppressions/a@example.com", headers=bearer(admin_key))
    today = datetime.now(timezone.utc).date()
    report = await stats(client, admin_key, by="day", **{"from": str(today - timedelta(days=6)), "to": str(today)})
    assert report["from"] == str(today - timedelta(days=6)) and report["to"] == str(today) and report["by"] == "day"
    assert [row["key"] for row in report["rows"]] == [str(today - timedelta(days=n)) for n in range(6, -1, -1)]
    assert report["rows"][-1] == {"key": str(today), "created": 2, "lifted": 1}
    assert all(row["created"] == row["lifted"] == 0 for row in report["rows"][:-1])
    topics = rows_by_key(await stats(client, admin_key, by="topic"))
    assert topics == {None: {"key": None, "created": 1, "lifted": 1},
                      "promotions": {"key": "promotions", "created": 1, "lifted": 0}}
    # Nothing before the range, nothing after it.
    assert (await stats(client, admin_key, by="day", **{"from": "2025-01-01", "to": "2025-01-31"}))["rows"][0][
        "created"] == 0


async def test_sources_are_a_few_buckets_and_a_lift_counts_where_its_suppression_came_from(client, admin_key):
    service = client.app[SERVICE]
    made = await link_of(client, admin_key, "ann@example.com", campaign="june")
    done = await client.post(f"/u/{token_of(made)}", data={"action": "unsubscribe", "scope": "all", "why": "other"})
    undo = re.findall(r'name="undo" value="([^"]+)"', await done.text())
    assert len(undo) == 1
    # The person takes it back on the confirmation page: a lift of the campaign's suppression.
    again = await client.post(f"/u/{token_of(made)}", data={"action": "resubscribe", "undo": undo[0]})
    assert again.status == 200
    # Two messages decided at the desk (source "desk"): counted with the email requests.
    for sender in ("dan@example.com", "eve@example.com"):
        message_id = await under_review(client, sender)
        answer = await client.post(f"/v1/inbox/{message_id}/resolve", json={"action": "suppress"},
                                   headers=bearer(admin_key))
        assert answer.status == 200
    await service.suppress("fay@example.com", ALL_EMAILS, "bounce", "email", "email:99")
    await service.suppress("gus@example.com", ALL_EMAILS, "manual", "api", "tests")
    await service.suppress("hal@example.com", ALL_EMAILS, "manual", "somewhere-new", "tests")
    sources = rows_by_key(await stats(client, admin_key, by="source"))
    assert sources == {
        "email": {"key": "email", "created": 2, "lifted": 0},
        "link": {"key": "link", "created": 1, "lifted": 1},
        "bounce": {"key": "bounce", "created": 1, "lifted": 0},
        "api": {"key": "api", "created": 1, "lifted": 0},
        "other": {"key": "other", "created": 1, "lifted": 0},
    }
    assert rows_by_key(await stats(client, admin_key, by="campaign"))["june"] == {
        "key": "june", "created": 1, "lifted": 1}
    assert rows_by_key(await stats(client, admin_key, by="why"))["other"] == {"key": "other", "created": 1, "lifted": 1}
    reasons = rows_by_key(await stats(client, admin_key, by="reason"))
    assert reasons["unsubscribe"] == {"key": "unsubscribe", "created": 3, "lifted": 1}
    assert reasons["bounce"]["created"] == 1 and reasons["manual"]["created"] == 2


async def test_an_erasure_keeps_every_count_and_no_answer_names_an_address(client, admin_key):
    made = await link_of(client, admin_key, "zoe@example.com", campaign="july")
    await client.post(f"/u/{token_of(made)}", data={"action": "unsubscribe", "scope": "all", "why": "too-many"})
    before = {by: await stats(client, admin_key, by=by) for by in ("day", "campaign", "topic", "source", "reason",
                                                                   "why")}
    erased = await client.post("/v1/subjects/zoe@example.com/erase", headers=bearer(admin_key))
    assert erased.status == 200
    for by, report in before.items():
        assert await stats(client, admin_key, by=by) == report
        assert "zoe" not in json.dumps(report)
    assert rows_by_key(before["campaign"])["july"]["created"] == 1


async def test_the_webhook_event_of_a_campaign_suppression_names_it(aiohttp_client, tmp_path):
    receiver = Receiver(free_port(), new_secret()).start()
    try:
        settings = make_settings(tmp_path / "data", store=None)
        hooks = settings_from_mapping({"webhooks": [{"url": receiver.url, "secret": receiver.secret}]}).webhooks
        settings = settings.with_overrides(webhooks=hooks)
        client = await aiohttp_client(build_app(settings))
        token = token_of({"url": client.app[SERVICE].links.mint_link("ann@example.com", ALL_EMAILS, "autumn").url})
        assert (await client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})).status == 200
        (delivery,) = await in_thread(receiver.wait_for, 1)
        assert delivery["payload"]["type"] == "suppression.created"
        assert delivery["payload"]["data"]["campaign"] == "autumn"
    finally:
        receiver.close()



# -- claims (migration 15) and the rollup -----------------------------------------------------


async def test_a_claim_lifted_while_another_holds_is_not_counted_and_the_last_lift_is(client, admin_key):
    made = await link_of(client, admin_key, "ann@example.com", campaign="june")
    done = await client.post(f"/u/{token_of(made)}", data={"action": "unsubscribe", "scope": "all"})
    undo = re.findall(r'name="undo" value="([^"]+)"', await done.text())
    assert len(undo) == 1
    # Another party's claim on the same address: a suppress of its own, counted where it came from.
    answer = await client.post("/v1/suppressions", json={"email": "ann@example.com", "reason": "complaint"},
                               headers=bearer(admin_key))
    assert answer.status == 200
    # The person takes their own opt-out back: the complaint still holds the address (a `lift`).
    again = await client.post(f"/u/{token_of(made)}", data={"action": "resubscribe", "undo": undo[0]})
    assert again.status == 200
    steps = await history(client, admin_key, "ann@example.com")
    assert [(step["action"], step.get("campaign")) for step in steps] == [
        ("suppress", "june"), ("suppress", None), ("lift", None)]
    assert rows_by_key(await stats(client, admin_key, by="campaign"))["june"] == {
        "key": "june", "created": 1, "lifted": 0}
    assert rows_by_key(await stats(client, admin_key, by="source")) == {
        "link": {"key": "link", "created": 1, "lifted": 0}, "api": {"key": "api", "created": 1, "lifted": 0}}
    # The last claim goes: an `unsuppress`, counted where the newest suppression came from.
    assert (await client.delete("/v1/suppressions/ann@example.com", headers=bearer(admin_key))).status == 200
    assert (await history(client, admin_key, "ann@example.com"))[-1]["action"] == "unsuppress"
    assert rows_by_key(await stats(client, admin_key, by="source")) == {
        "link": {"key": "link", "created": 1, "lifted": 0}, "api": {"key": "api", "created": 1, "lifted": 1}}


async def test_a_pause_through_a_campaigns_link_is_that_campaigns_claim(client, admin_key):
    made = await link_of(client, admin_key, "bob@example.com", campaign="june")
    paused = await client.post(f"/u/{token_of(made)}", data={"action": "pause", "days": "30"})
    assert paused.status == 200
    (step,) = await history(client, admin_key, "bob@example.com")
    assert step["action"] == "suppress" and step["campaign"] == "june" and step["until"]
    (claim,) = await client.app[SERVICE].store.claims_of("bob@example.com")
    assert claim.campaign == "june" and claim.reason == "pause"
    assert rows_by_key(await stats(client, admin_key, by="reason"))["pause"] == {
        "key": "pause", "created": 1, "lifted": 0}
    assert rows_by_key(await stats(client, admin_key, by="campaign"))["june"]["created"] == 1


async def test_an_import_counts_the_claims_it_adds_to_addresses_suppressed_already(client, admin_key):
    service = client.app[SERVICE]
    await service.suppress("old@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    # old@ takes a hard claim of its own (a bounce where none was); new@ is new; kept@ adds nothing.
    await service.suppress("kept@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    report = await service.import_lines(
        ["email,reason", "old@example.com,bounce", "new@example.com,unsubscribe", "kept@example.com,unsubscribe"],
        "tests")
    assert report.added == 2
    sources = rows_by_key(await stats(client, admin_key, by="source"))
    assert sources["import"] == {"key": "import", "created": 2, "lifted": 0}
    reasons = rows_by_key(await stats(client, admin_key, by="reason"))
    assert reasons["bounce"] == {"key": "bounce", "created": 1, "lifted": 0}
    assert reasons["unsubscribe"] == {"key": "unsubscribe", "created": 3, "lifted": 0}



async def test_the_history_before_migration_14_is_counted_once_and_changes_after_17_by_the_triggers(
        settings, monkeypatch):
    pg = bool(settings.store.url)
    history_rows = [  # as the program before statistics wrote them
        ("2026-01-01T10:00:00.000Z", "suppress", "a@example.com", "", "unsubscribe", "link", '{"why": "too-many"}'),
        ("2026-01-02T10:00:00.000Z", "unsuppress", "a@example.com", "", None, "api", None),
        ("2026-01-02T11:00:00.000Z", "suppress", "b@example.com", "news", "bounce", "email", None),
    ]
    async with opened_store(settings, monkeypatch, 13) as old:
        sql = ("INSERT INTO changes (at, action, email, topic, reason, source, actor, detail)"
               " VALUES (?, ?, ?, ?, ?, ?, 'old', ?)")
        if pg:
            async with old._conn() as conn:
                for row in history_rows:
                    await conn.execute(sql.replace("?", "%s"), row)
        else:
            await old._write(partial(execute_many, sql, history_rows))
    async with opened_store(settings) as store:
        by_day = {row[0]: row[1:] for row in await store.daily_counts("2026-01-01", "2026-01-02", ("day",))}
        assert by_day == {"2026-01-01": (1, 0), "2026-01-02": (1, 1)}
        assert sorted(await store.daily_counts("2026-01-01", "2026-01-02", ("source", "why"))) == [
            ("bounce", "", 1, 0), ("link", "too-many", 1, 1)]
        # After the migrations, each write is counted by 17's triggers, its campaign with it.
        placed = await store.claim("c@example.com", 3, ALL_EMAILS, "unsubscribe", "one-click", "tests",
                                   campaign="june")
        assert placed.change_id is not None
        today = datetime.now(timezone.utc).date().isoformat()
        assert await store.daily_counts(today, today, ("campaign", "source")) == [("june", "one-click", 1, 0)]
        # The change log is still append-only (15 rebuilt it on SQLite, with its guards).
        if pg:
            with pytest.raises(Exception, match="append-only"):
                async with store._conn() as conn:
                    await conn.execute("UPDATE changes SET actor = 'someone else'")
            with pytest.raises(Exception, match="append-only"):
                async with store._conn() as conn:
                    await conn.execute("DELETE FROM changes")
        else:
            names = {row[0] for row in await store._read(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'changes'")}
            assert names == {"changes_append_only_update", "changes_append_only_delete", "events_of_changes",
                             "daily_changes_of_suppress", "daily_changes_of_lift"}
            for statement in ("UPDATE changes SET actor = 'someone else'", "DELETE FROM changes"):
                with pytest.raises(Exception, match="append-only"):
                    await store._write(partial(execute, statement, ()))

# -- every writer: the CLI too --------------------------------------------------------------


def test_the_cli_links_with_a_campaign_records_sends_and_prints_stats(tmp_path):
    config = write_config(tmp_path / "c.toml", tmp_path / "data", free_port(), free_port())
    # `campaign sent` and `stats` run as programs (forked: tests/support/launcher.py); the other
    # commands here run in this process (tests/test_cli.py runs each as a program, cold).
    made = cli("link", "ann@example.com", "--campaign", "cli-1", config=config)
    assert made.returncode == 0, made.stderr
    url = made.stdout.splitlines()[0]
    assert "cli-1" not in made.stdout
    claim = verify_token(signing_keys(load_settings(config)), url.rsplit("/", 1)[1])
    assert (claim.email, claim.campaign) == ("ann@example.com", "cli-1")
    bad = cli("link", "ann@example.com", "--campaign", "no spaces", config=config)
    assert bad.returncode == 2 and "campaign" in bad.stderr
    assert cli("add", "bob@example.com", config=config).returncode == 0
    assert cli("remove", "bob@example.com", config=config).returncode == 0
    assert cli("add", "cy@example.com", config=config).returncode == 0
    # An import is counted by its own statement: what it added, not what it found already there.
    csv = tmp_path / "list.csv"
    csv.write_text("email,topic\ncy@example.com,\ndee@example.com,\neli@example.com,newsletters\n"
                   "dee@example.com,\n", encoding="utf-8")
    assert cli("import", str(csv), config=config).returncode == 0
    assert run_cli("campaign", "sent", "cli-1", "250", config=config).returncode == 0
    counted = run_cli("stats", "--by", "source", config=config)
    assert counted.returncode == 0, counted.stderr
    assert [json.loads(line) for line in counted.stdout.splitlines()] == [
        {"key": "cli", "created": 2, "lifted": 1}, {"key": "import", "created": 2, "lifted": 0}]
    topics = [json.loads(line) for line in cli("stats", "--by", "topic", config=config).stdout.splitlines()]
    assert topics == [{"key": None, "created": 3, "lifted": 1}, {"key": "newsletters", "created": 1, "lifted": 0}]
    campaigns = cli("stats", "--by", "campaign", config=config)
    assert json.loads(campaigns.stdout.splitlines()[0]) == {"key": "cli-1", "created": 0, "lifted": 0, "sent": 250,
                                                            "rate": 0.0}
    wrong = cli("stats", "--from", "yesterday", config=config)
    assert wrong.returncode == 2 and "YYYY-MM-DD" in wrong.stderr
    far = cli("stats", "--to", "0001-01-05", config=config)  # before: a traceback
    assert far.returncode == 2 and far.stderr.count("\n") == 1 and "must be from" in far.stderr


# -- the desk's days --------------------------------------------------------------------------


async def test_the_desks_days_count_received_settled_and_overdue(client, admin_key):
    service = client.app[SERVICE]
    waiting = await under_review(client)
    settled = await under_review(client, "ann@example.com")
    answer = await client.post(f"/v1/inbox/{settled}/resolve", json={"action": "dismiss", "note": "not a request"},
                               headers=bearer(admin_key))
    assert answer.status == 200 and waiting
    now = datetime.now(timezone.utc)
    today = now.date()
    # Three days on (an injected clock): the one still waiting is overdue from the end of the day
    # its 48 hours ran out; the settled one never is.
    service.statistics.clock = lambda: now + timedelta(days=3)
    board = await service.statistics.dashboard()
    days = {d.day: d for d in board.desk}
    assert len(board.desk) == 90 and board.desk[-1].day == str(today + timedelta(days=3))
    assert (days[str(today)].received, days[str(today)].settled) == (2, 1)
    assert [days[str(today + timedelta(days=n))].overdue for n in range(4)] == [0, 0, 1, 1]
    assert sum(d.received for d in board.desk) == 2 and sum(d.settled for d in board.desk) == 1


# -- the dashboard ----------------------------------------------------------------------------


async def test_the_dashboard_is_behind_the_desks_sign_in(client, check_key):
    page = await client.get("/admin/stats")
    html = await page.text()
    assert page.status == 200 and 'action="/admin/signin"' in html and "<svg" not in html
    token = csrf_of(html)
    refused = await client.post("/admin/signin", data={"csrf": token, "key": check_key})
    assert refused.status == 403
    assert "<svg" not in await (await client.get("/admin/stats")).text()


async def test_the_dashboard_draws_each_figure_with_its_table_in_the_readers_language(client, admin_key):
    service = client.app[SERVICE]
    made = await link_of(client, admin_key, "ann@example.com", campaign="welcome")
    await client.post(f"/u/{token_of(made)}", data={"action": "unsubscribe", "scope": "all", "why": "not-relevant"})
    await client.post("/v1/campaigns/welcome", json={"sent": 8}, headers=bearer(admin_key))
    await service.suppress("bob@example.com", ALL_EMAILS, "manual", "api", "tests")
    await under_review(client)
    assert (await sign_in(client, admin_key)).status == 303
    page = await client.get("/admin/stats")
    html = await page.text()
    assert page.status == 200 and '<html lang="en">' in html
    assert html.count("<svg") == 4 and html.count("<table>") == 4 and "<script" not in html
    assert 'role="img"' in html and "style=" not in html  # the CSP allows only our stylesheet
    assert page.headers["Content-Security-Policy"] == (await client.get("/admin/")).headers["Content-Security-Policy"]
    assert "welcome" in html and "12.50%" in html  # 1 of 8
    assert "The emails are not relevant to me" in html and "Unsubscribe page" in html and "API" in html
    assert "ann@example.com" not in html and "bob@example.com" not in html
    german = await (await client.get("/admin/stats?lang=de")).text()
    assert '<html lang="de">' in german and "Statistik" in german and "12,50" in german
    japanese = await (await client.get("/admin/stats", headers={"Accept-Language": "ja"})).text()
    assert '<html lang="ja">' in japanese and "統計" in japanese
    desk = await (await client.get("/admin/")).text()
    assert 'href="/admin/stats"' in desk
