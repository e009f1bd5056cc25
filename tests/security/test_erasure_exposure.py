"""Erasure does not show (issue 21, item 4), on both stores.

Before: a check key's single check of an erased address that was never suppressed answered
`reason: "erasure"` (the person asked to be forgotten: not a sender's business), and a sync key
could match a guessed address to its keyed hash, and so to its pseudonymised history, through
`/v1/suppressions/{email}/history`. Now a check or sync key sees the suppression an erasure made
as an administrator's entry by hand (which is what it is), and the history of an erased address
as that of an address never seen; an admin sees both as they are.
"""

import json

import pytest

from suppression.addresses import mask_addresses_in
from suppression.outbox import Event
from suppression.records import event_record
from tests.support.http import bearer

pytestmark = pytest.mark.both_stores


async def get(client, path, key):
    answer = await client.get(path, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def test_check_and_sync_keys_see_an_erased_address_as_a_plain_suppression(client, admin_key, sync_key, check_key):
    assert (await client.post("/v1/subjects/ghost@example.com/erase", headers=bearer(admin_key))).status == 200
    assert (await client.post("/v1/suppressions", json={"email": "added@example.com"},
                              headers=bearer(admin_key))).status == 200
    for key in (check_key, sync_key):
        erased = await get(client, "/v1/suppressions/ghost@example.com", key)
        added = await get(client, "/v1/suppressions/added@example.com", key)
        assert "erasure" not in json.dumps(erased)
        shape = lambda body: {k: v for k, v in body.items() if k not in ("email", "since")}  # noqa: E731
        assert shape(erased) == shape(added) == {"topic": None, "suppressed": True, "scope": "all",
                                                 "reason": "manual", "source": "api"}
    # The admin, who made it, sees what it is.
    assert (await get(client, "/v1/suppressions/ghost@example.com", admin_key))["reason"] == "erasure"


async def test_an_erased_addresss_own_opt_out_reads_as_before(client, admin_key, check_key):
    await client.post("/v1/suppressions", json={"email": "left@example.com", "reason": "bounce"}, headers=bearer(admin_key))
    before = await get(client, "/v1/suppressions/left@example.com", check_key)
    assert (await client.post("/v1/subjects/left@example.com/erase", headers=bearer(admin_key))).status == 200
    assert await get(client, "/v1/suppressions/left@example.com", check_key) == before


async def test_a_sync_keys_history_of_an_erased_address_is_that_of_one_never_seen(client, admin_key, sync_key):
    await client.post("/v1/suppressions", json={"email": "gone@example.com"}, headers=bearer(admin_key))
    assert (await client.post("/v1/subjects/gone@example.com/erase", headers=bearer(admin_key))).status == 200
    erased = await get(client, "/v1/suppressions/Gone@example.com/history", sync_key)
    never = await get(client, "/v1/suppressions/never.seen@example.com/history", sync_key)
    assert erased == {"email": "gone@example.com", "history": []}
    assert never == {"email": "never.seen@example.com", "history": []}
    # An admin sees the pseudonymised trail: the suppression and the erasure, under the keyed hash.
    trail = (await get(client, "/v1/suppressions/gone@example.com/history", admin_key))["history"]
    assert [c["action"] for c in trail] == ["suppress", "erase"]
    assert all(c["email"].startswith("erased:") for c in trail)


@pytest.mark.parametrize("written, shown", [
    ("named jane@example.org", "named j\u2022\u2022\u2022@example.org"),
    ("named jane\uff20example.org", "named j\u2022\u2022\u2022@example.org"),
    ("named jane\ufe6bexample.org", "named j\u2022\u2022\u2022@example.org"),
    ("named jane%40example.org", "named j\u2022\u2022\u2022@example.org"),
    ("the sender's own words ask to unsubscribe (judged 1.00); the sender's own address",
     "the sender's own words ask to unsubscribe (judged 1.00); the sender's own address"),
])
def test_a_log_line_masks_an_address_in_every_spelling_and_nothing_else(written, shown):
    assert mask_addresses_in(written) == shown


def test_review_opened_reasons_mask_addresses_in_every_spelling():
    event = Event(3, "review.opened", "2026-12-03T10:00:00.000Z", message=(
        9, "2026-12-03T10:00:00.000Z", ["addresses named in the text: ERASE.TARGET@BÜCHER.DE, jane@example.org"]))
    body = json.dumps(event_record(event, "2026-12-05T10:00:00.000Z", "https://u.example/admin/"), ensure_ascii=False)
    assert "ERASE.TARGET" not in body and "jane@" not in body
    assert "E\u2022\u2022\u2022@" in body and "j\u2022\u2022\u2022@example.org" in body
