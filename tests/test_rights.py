"""The person's rights over real HTTP and the CLI (CONTRACT §5, §7): the proof of each opt-out,
access to everything held, and a list that is not for every sender."""

import hashlib
import json
import subprocess
import sys

import pytest

from handlers.state import INTAKE, SERVICE
from suppression.config import load_settings, warn_if_links_are_plain_http
from suppression.errors import ConfigError
from suppression.links import mint_link
from suppression.model import Scope
from tests.support.cli import _env, cli, run_cli
from tests.support.http import bearer, free_port
from tests.support.paths import ROOT
from tests.support.settings import make_settings, write_config

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def path_of(url: str) -> str:
    return "/u/" + url.rsplit("/", 1)[1]


async def test_the_whole_list_needs_a_sync_or_admin_key(client, check_key, sync_key, admin_key):
    for path in ("/v1/changes", "/v1/suppressions/jane@example.com/history"):
        refused = await client.get(path, headers=bearer(check_key))
        assert refused.status == 403 and "sync" in (await refused.json())["error"]
        assert (await client.get(path, headers=bearer(sync_key))).status == 200
        assert (await client.get(path, headers=bearer(admin_key))).status == 200
    # sync reads, and checks, but does not write or read people's mail
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(sync_key))).status == 200
    assert (await client.post("/v1/suppressions", json={"email": "a@example.com"}, headers=bearer(sync_key))).status == 403
    assert (await client.get("/v1/inbox", headers=bearer(sync_key))).status == 403
    assert (await client.get("/v1/subjects/jane@example.com", headers=bearer(sync_key))).status == 403


async def test_the_history_proves_each_change_with_its_source_and_actor(client, admin_key, sync_key):
    service = client.app[SERVICE]
    await client.post(path_of(service.links.mint_link("Jane@Example.com", Scope("newsletters")).url),
                      data={"List-Unsubscribe": "One-Click"})
    await client.post("/v1/suppressions", json={"email": "jane@example.com", "reason": "complaint"},
                      headers=bearer(admin_key))
    await client.delete("/v1/suppressions/jane@example.com", params={"topic": "newsletters"}, headers=bearer(admin_key))
    intake = client.app[INTAKE]
    message_id = await intake.receive(b"From: jane@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n",
                                      "jane@example.com", ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    answer = await client.get("/v1/suppressions/JANE@example.com/history", headers=bearer(sync_key))
    body = await answer.json()
    assert body["email"] == "jane@example.com"
    assert [(c["action"], c["topic"], c["reason"], c["source"], c["actor"]) for c in body["history"]] == [
        ("suppress", "newsletters", "unsubscribe", "one-click", "recipient"),
        ("suppress", None, "complaint", "api", "api:admin-tests"),
        ("unsuppress", "newsletters", None, "api", "api:admin-tests"),
        # Suppressed for all already, but the person's own request is a claim of its own (it
        # outlives the complaint being lifted): the history shows each claim.
        ("suppress", None, "unsubscribe", "email", "email:1"),
    ]
    assert (await service.review.inbox_message(message_id)).status == "request"
    assert all(c["at"] for c in body["history"])


async def test_a_bad_address_is_400_and_an_unknown_one_has_an_empty_record(client, admin_key, sync_key):
    assert (await client.get("/v1/suppressions/nope/history", headers=bearer(sync_key))).status == 400
    assert (await client.get("/v1/subjects/nope", headers=bearer(admin_key))).status == 400
    empty = await (await client.get("/v1/subjects/nobody@example.com", headers=bearer(admin_key))).json()
    held = {k: v for k, v in empty.items() if k not in ("purposes", "retention")}
    assert held == {"email": "nobody@example.com", "suppressions": [], "history": [], "messages": [],
                    "replies": [], "rate_limits": [], "come_back_requests": [], "recipients": []}


async def test_the_subject_record_holds_everything_about_the_address(client, admin_key):
    intake, service = client.app[INTAKE], client.app[SERVICE]
    own = await intake.receive(b"From: Jane <jane@example.com>\r\nSubject: unsubscribe\r\n\r\nPlease.\r\n",
                               "jane@example.com", ["PLUSinfo@plusnxt.com"])
    # (Not "Please unsubscribe jane@example.com.": the addresses' model leaves that bare sentence
    # to a person, and a request for review spends no stranger's budget: docs/email.md.)
    naming = await intake.receive(b"From: bob@example.org\r\nSubject: hi\r\n\r\nPlease remove jane@example.com from your list.\r\n",
                                  "bob@example.org", ["PLUSinfo@plusnxt.com"])
    await intake.receive(b"From: carl@example.org\r\nSubject: hi\r\n\r\nWhen are you open?\r\n",
                         "carl@example.org", ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    await service.store.claim_reply("jane@example.com", "2026-11-25")
    record = await (await client.get("/v1/subjects/jane@example.com", headers=bearer(admin_key))).json()
    assert [s["scope"] for s in record["suppressions"]] == ["all"]
    assert [c["source"] for c in record["history"]] == ["email"]
    assert [m["id"] for m in record["messages"]] == [own, naming]  # from it, and naming it; not carl's
    assert "Please remove jane@example.com from your list." in record["messages"][1]["raw"]
    assert [r["day"] for r in record["replies"]] == ["2026-11-25"]
    bob = await (await client.get("/v1/subjects/bob@example.org", headers=bearer(admin_key))).json()
    assert [(r["message"], r["addresses"]) for r in bob["rate_limits"]] == [(naming, 1)]


def digest(algorithm: str, email: str) -> str:
    return hashlib.new(algorithm, email.encode()).hexdigest()


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
async def test_partners_check_digests_without_seeing_addresses(client, admin_key, check_key, algorithm):
    await client.post("/v1/suppressions", json={"email": "jane@example.com"}, headers=bearer(admin_key))
    await client.post("/v1/suppressions", json={"email": "bob@example.com", "topic": "promotions"},
                      headers=bearer(admin_key))
    lines = [digest(algorithm, "jane@example.com").upper(), digest(algorithm, "bob@example.com"),
             digest(algorithm, "carl@example.com"), "not-a-digest", ""]
    body = "\n".join(lines) + "\n"

    async def check(topic=None):
        params = {"hash": algorithm, **({"topic": topic} if topic else {})}
        answer = await client.post("/v1/check", params=params, data=body.encode(),
                                   headers={**bearer(check_key), "Content-Type": "text/plain"})
        assert answer.status == 200
        return (await answer.text()).splitlines()

    assert await check() == [lines[0]]  # as given, case and all
    assert await check("promotions") == [lines[0], lines[1]]
    # The digests follow the list as it changes.
    await client.post("/v1/suppressions", json={"email": "carl@example.com"}, headers=bearer(admin_key))
    await client.delete("/v1/suppressions/jane@example.com", headers=bearer(admin_key))
    assert await check() == [lines[2]]


async def test_an_unknown_hash_is_400(client, check_key):
    answer = await client.post("/v1/check?hash=sha1", data=b"x\n", headers={**bearer(check_key), "Content-Type": "text/plain"})
    assert answer.status == 400 and "sha256" in (await answer.json())["error"]


def test_the_cli_gives_history_subject_records_and_digests(tmp_path):
    # The three commands run as programs; what they act on is written in this process.
    config = write_config(tmp_path / "config.toml", tmp_path / "data", free_port(), free_port())
    assert cli("add", "Jane@Example.com", "--reason", "bounce", config=config).returncode == 0
    assert cli("add", "jane@example.com", "--topic", "newsletters", config=config).returncode == 0
    history = run_cli("history", "jane@example.com", config=config)
    assert [json.loads(line)["topic"] for line in history.stdout.splitlines()] == [None, "newsletters"]
    record = json.loads(run_cli("subject", "export", "jane@example.com", config=config).stdout)
    assert sorted(s["scope"] for s in record["suppressions"]) == ["all", "newsletters"]
    assert json.loads(cli("subject", "export", "nobody@example.com", config=config).stdout)["history"] == []
    hashed = run_cli("export", "--hash", "sha256", config=config)
    assert hashed.stdout == digest("sha256", "jane@example.com") + "\n"
    created = cli("apikey", "create", "partner", "--scope", "sync", config=config)
    assert created.returncode == 0 and created.stdout.strip().splitlines()[-1].startswith("sk_")
    assert cli("history", "not an address", config=config).returncode == 2


@pytest.mark.parametrize("days", [1, 30, 59])
def test_links_that_expire_before_60_days_stop_start_up(tmp_path, days):
    http = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", http, free_port(),
                          extra=f"\n[signing]\nmax_age_days = {days}\n")
    with pytest.raises(ConfigError, match="at least 60 days"):
        load_settings(config)
    if days == 59:  # and the service refuses to start on it, as a program: once is enough
        started = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], capture_output=True,
                                 text=True, timeout=60, cwd=tmp_path, env=_env())
        assert started.returncode == 2 and "at least 60 days" in started.stderr


@pytest.mark.parametrize("days", [0, 60, 400])
def test_links_may_last_60_days_or_more_or_for_ever(tmp_path, days):
    assert make_settings(tmp_path, signing={"max_age_days": days}).signing.max_age_days == days


@pytest.mark.parametrize("host, warned", [("0.0.0.0", True), ("192.0.2.1", True), ("127.0.0.1", False), ("::1", False)])
def test_plain_http_links_on_an_open_listener_are_warned_about(tmp_path, caplog, host, warned):
    warn_if_links_are_plain_http(make_settings(tmp_path, http={"host": host}))
    assert ("travel in the clear" in caplog.text) is warned
    caplog.clear()
    warn_if_links_are_plain_http(make_settings(tmp_path, http={"host": host}, service={"base_url": "https://u.example"}))
    assert "travel in the clear" not in caplog.text


def test_the_mailto_percent_encodes_the_request_address():
    link = mint_link("jane@example.com", base_url="https://u.example", secret_keys=["k" * 40],
                     request_address="PLUS+info@plusnxt.com")
    assert link.mailto.startswith("mailto:PLUS%2Binfo@plusnxt.com?subject=unsubscribe%20")


def test_regression_plain_http_links_to_another_host_are_warned_about_on_a_loopback_listener(tmp_path, caplog):
    # Before: a proxy-style setup (loopback listener) with base_url http://u.example said nothing.
    warn_if_links_are_plain_http(make_settings(tmp_path, service={"base_url": "http://u.example"}))
    assert "travel in the clear" in caplog.text and "RFC 8058" in caplog.text
