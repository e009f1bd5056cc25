"""A link can only undo what its recipient just did, over real HTTP.

The review's attack: a newsletters link posted `action=resubscribe&scope=all` and lifted an
admin's `complaint` suppression for all mail; and since check keys may mint links, a check
key was in effect an admin write key.
"""

import re

import pytest

from handlers.state import SERVICE
from suppression.model import ALL_EMAILS, Scope
from tests.support.http import bearer


@pytest.fixture
async def service(client):
    return client.app[SERVICE]


def path_of(url: str) -> str:
    return "/u/" + url.rsplit("/", 1)[1]


def hidden_fields(html: str) -> list[tuple[str, str]]:
    form = html[html.index('value="resubscribe"') - 80:]
    return re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form)


async def test_a_link_cannot_lift_an_admins_suppression(client, service, admin_key, check_key):
    added = await client.post("/v1/suppressions", json={"email": "jane@example.com", "reason": "complaint"},
                              headers=bearer(admin_key))
    assert added.status == 200
    # A check key mints a link for the address, as the attacker did.
    minted = await client.post("/v1/links", json={"email": "jane@example.com", "topic": "newsletters"},
                               headers=bearer(check_key))
    path = path_of((await minted.json())["url"])
    for form in ({"action": "resubscribe", "scope": "all"}, {"action": "resubscribe", "scope": "newsletters"},
                 {"action": "resubscribe", "scope": "all", "undo": "forged.undo.token"}):
        answer = await client.post(path, data=form)
        assert answer.status == 400 and "Nothing was changed" in await answer.text()
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}


async def test_an_earlier_own_unsubscribe_is_not_lifted_by_a_link_either(client, service):
    path = path_of(service.links.mint_link("jane@example.com", Scope("newsletters")).url)
    assert (await client.post(path, data={"List-Unsubscribe": "One-Click"})).status == 200
    answer = await client.post(path, data={"action": "resubscribe", "scope": "newsletters"})
    assert answer.status == 400
    assert await service.suppressed_scopes("jane@example.com") == {Scope("newsletters")}


async def test_an_undo_of_one_address_does_nothing_for_another(client, service):
    jane = path_of(service.links.mint_link("jane@example.com", Scope("newsletters")).url)
    page = await client.post(jane, data={"action": "unsubscribe", "scope": "newsletters"})
    undo = hidden_fields(await page.text())
    bob = path_of(service.links.mint_link("bob@example.com", Scope("newsletters")).url)
    await client.post(bob, data={"action": "unsubscribe", "scope": "newsletters"})
    answer = await client.post(bob, data=undo)  # jane's undo on bob's link
    assert answer.status == 400
    assert await service.suppressed_scopes("bob@example.com") == {Scope("newsletters")}
    assert (await client.post(jane, data=undo)).status == 200  # on jane's own link it works
    assert await service.suppressed_scopes("jane@example.com") == set()


async def test_the_undo_lifts_only_the_suppression_it_was_given_for(client, service, admin_key):
    path = path_of(service.links.mint_link("jane@example.com", Scope("newsletters")).url)
    page = await client.post(path, data={"action": "unsubscribe", "scope": "all"})
    undo = hidden_fields(await page.text())
    # An admin replaces it in the meantime: lifted and suppressed again, now for a complaint.
    await client.delete("/v1/suppressions/jane@example.com", headers=bearer(admin_key))
    await client.post("/v1/suppressions", json={"email": "jane@example.com", "reason": "complaint"},
                      headers=bearer(admin_key))
    answer = await client.post(path, data=undo)
    html = await answer.text()
    assert answer.status == 200 and "Nothing was changed" in html
    assert "Still unsubscribed at" in html and "All emails from PLUS." in html
    assert await service.suppressed_scopes("jane@example.com") == {ALL_EMAILS}


async def test_after_an_undo_the_page_says_what_remains(client, service, admin_key):
    await client.post("/v1/suppressions", json={"email": "jane@example.com", "topic": "promotions"},
                      headers=bearer(admin_key))
    path = path_of(service.links.mint_link("jane@example.com", Scope("newsletters")).url)
    page = await client.post(path, data={"action": "unsubscribe", "scope": "newsletters"})
    answer = await client.post(path, data=hidden_fields(await page.text()))
    html = await answer.text()
    assert "You are subscribed again" in html and "Promotions and offers." in html
    assert await service.suppressed_scopes("jane@example.com") == {Scope("promotions")}
