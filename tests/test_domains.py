"""Domain entries (CONTRACT §5): `*@DOMAIN` suppresses every address at that exact domain."""

import json

import pytest

from handlers.state import INTAKE
from tests.reliability.helpers import call, deploy
from tests.reliability.test_disk_faults import wait_for
from tests.support.cli import cli, run_cli
from tests.support.http import bearer
from tests.support.service import ServiceProcess

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


async def add(client, key, email, topic=None):
    answer = await client.post("/v1/suppressions", json={"email": email, **({"topic": topic} if topic else {})},
                               headers=bearer(key))
    return answer.status, await answer.json()


async def single(client, key, email, topic=None):
    params = {"topic": topic} if topic else {}
    return await (await client.get(f"/v1/suppressions/{email}", params=params, headers=bearer(key))).json()


async def test_a_domain_entry_suppresses_every_address_at_that_exact_domain(client, admin_key, check_key):
    status, body = await add(client, admin_key, " *@Example.COM ")
    assert (status, body["email"], body["scope"]) == (200, "*@example.com", "all")
    for email in ("jane@example.com", "Bob.Smith@EXAMPLE.com"):
        answer = await single(client, check_key, email, "promotions")
        assert (answer["suppressed"], answer["scope"], answer["reason"]) == (True, "all", "manual")
    for email in ("jane@sub.example.com", "jane@example.com.evil.org", "jane@example.org"):
        assert (await single(client, check_key, email))["suppressed"] is False
    lines = ["jane@example.com", "jane@sub.example.com", " ann@EXAMPLE.com ", "not an address", "x@example.org"]
    text = await client.post("/v1/check", data="\n".join(lines).encode(),
                             headers={**bearer(check_key), "Content-Type": "text/plain"})
    assert (await text.text()).splitlines() == ["jane@example.com", " ann@EXAMPLE.com "]
    as_json = await (await client.post("/v1/check", json={"emails": lines}, headers=bearer(check_key))).json()
    assert as_json["suppressed"] == ["jane@example.com", " ann@EXAMPLE.com "]


async def test_a_domain_entry_can_be_for_one_topic_and_is_lifted_like_any(client, admin_key, check_key):
    await add(client, admin_key, "*@bücher.de", "newsletters")
    assert (await single(client, check_key, "jane@xn--bcher-kva.de", "newsletters"))["suppressed"] is True
    assert (await single(client, check_key, "jane@BÜCHER.de", "promotions"))["suppressed"] is False
    removed = await client.delete("/v1/suppressions/*@xn--bcher-kva.de", params={"topic": "newsletters"},
                                  headers=bearer(admin_key))
    assert (await removed.json())["removed"] is True
    assert (await single(client, check_key, "jane@bücher.de", "newsletters"))["suppressed"] is False
    feed = await (await client.get("/v1/changes", headers=bearer(admin_key))).json()
    assert [(c["action"], c["email"]) for c in feed["changes"]] == [
        ("suppress", "*@xn--bcher-kva.de"), ("unsuppress", "*@xn--bcher-kva.de")]


async def test_an_address_of_its_own_wins_over_its_domain_in_the_details(client, admin_key, check_key):
    await add(client, admin_key, "*@example.com", "newsletters")
    await client.post("/v1/suppressions", json={"email": "jane@example.com", "reason": "complaint"},
                      headers=bearer(admin_key))
    answer = await single(client, check_key, "jane@example.com", "newsletters")
    assert (answer["scope"], answer["reason"]) == ("all", "complaint")


@pytest.mark.parametrize("entry", ["*@", "*@nodot", "*@exa mple.com", "*@localhost", "*@*@example.com"])
async def test_a_bad_domain_entry_is_400(client, admin_key, entry):
    status, body = await add(client, admin_key, entry)
    assert status == 400 and "error" in body


async def test_only_an_admin_makes_a_domain_entry_never_a_link_or_a_mail(client, admin_key, check_key):
    assert (await client.get("/v1/suppressions/*@example.com", headers=bearer(admin_key))).status == 400
    link = await client.post("/v1/links", json={"email": "*@gmail.com"}, headers=bearer(check_key))
    assert link.status == 400  # else a check key could one-click a whole domain away
    intake = client.app[INTAKE]
    for raw, sender in ((b"From: <*@gmail.com>\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "*@gmail.com"),
                        (b"From: a@example.org\r\nSubject: hi\r\n\r\nPlease unsubscribe *@gmail.com\r\n", "a@example.org")):
        await intake.receive(raw, sender, ["PLUSinfo@plusnxt.com"])
    await intake.handle_pending()
    assert (await single(client, check_key, "anyone@gmail.com"))["suppressed"] is False


def test_the_cli_and_imports_take_domain_entries_and_a_running_service_honours_them(tmp_path):
    deployment = deploy(tmp_path)
    listing = tmp_path / "domains.csv"
    listing.write_text("email,topic\n*@imported.example,\njane@example.org,\n", encoding="utf-8")
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        assert call(deployment, "GET", "/v1/suppressions/a@cli.example")[1]["suppressed"] is False
        assert run_cli("add", "*@CLI.example", config=deployment.config).returncode == 0
        assert run_cli("import", str(listing), config=deployment.config).returncode == 0
        # Written by another process: the service follows its change log.
        assert wait_for(lambda: all(call(deployment, "GET", f"/v1/suppressions/{email}")[1]["suppressed"]
                                    for email in ("a@cli.example", "someone@imported.example")))
        status, body = call(deployment, "POST", "/v1/check", {"emails": ["x@cli.example", "y@other.example"]})
        assert body["suppressed"] == ["x@cli.example"]
    exported = cli("export", config=deployment.config).stdout
    assert "*@cli.example,,manual,cli," in exported and "*@imported.example" in exported
    assert json.loads(cli("remove", "*@cli.example", config=deployment.config).stdout)["removed"] is True


async def test_the_bulk_check_compares_domains_exactly_whatever_their_endings_share(client, admin_key, check_key):
    # Short and long domains sharing endings with addresses that are not at them: the quick
    # comparison of line endings only picks lines to compare in full.
    for entry in ("*@a.io", "*@hotmail.com", "*@mail.example.net"):
        assert (await add(client, admin_key, entry))[0] == 200
    lines = ["x@a.io", "x@ba.io", "a.io@b.io", "x@gmail.com", "y@hotmail.com", "x@hotmail.com.au",
             "x@mail.example.net", "x@gmail.example.net", "x@sub.mail.example.net", "hotmail.com", "@a.io", "x@y@a.io"]
    text = await client.post("/v1/check", data="\n".join(lines).encode(),
                             headers={**bearer(check_key), "Content-Type": "text/plain"})
    assert (await text.text()).splitlines() == ["x@a.io", "y@hotmail.com", "x@mail.example.net"]
    assert (await add(client, admin_key, "*@b.io"))[0] == 200  # a change is seen by the next check
    text = await client.post("/v1/check", data="a.io@b.io\n".encode(),
                             headers={**bearer(check_key), "Content-Type": "text/plain"})
    assert (await text.text()).splitlines() == ["a.io@b.io"]
