"""The access export says to whom the address went, why each kind of data is held and how long
(GDPR Art. 15(1)(a), (c), (d); issue 21, standards), on both stores.

Before: `GET /v1/subjects/{email}` listed the data only: not the webhook receivers that were sent
the address, nor the purposes, nor the retention.
"""

import base64
import dataclasses

import pytest

from handlers.state import SERVICE, SETTINGS
from suppression.config import WebhookSettings
from tests.support.http import bearer
from tests.support.settings import make_settings

pytestmark = pytest.mark.both_stores

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def settings(tmp_path, store):
    base = make_settings(tmp_path / "data", store, retention={"raw_message_days": 30})
    return dataclasses.replace(base, webhooks=(
        WebhookSettings(url="http://127.0.0.1:9/hooks/crm?token=secret", secret=SECRET),
        WebhookSettings(url="http://127.0.0.1:9/hooks/desk", secret=SECRET, events=("review.opened",)),
    ))


async def test_the_export_names_recipients_purposes_and_retention(client, admin_key):
    await client.post("/v1/suppressions", json={"email": "jane@example.com"}, headers=bearer(admin_key))
    assert await client.app[SERVICE].store.claim_reply("jane@example.com", "2026-11-25")
    record = await (await client.get("/v1/subjects/jane@example.com", headers=bearer(admin_key))).json()
    # The receiver of suppression events was sent it (by its host and a digest of its URL: never
    # its path or query, which may hold its secret; an operator's `name` if it has one); the
    # desk's receiver gets only review.opened, which masks addresses.
    crm = client.app[SETTINGS].webhooks[0].label
    assert crm.startswith("127.0.0.1:9#") and "crm" not in crm and "secret" not in crm
    assert record["recipients"] == [
        {"kind": "webhook", "receiver": crm, "events": ["suppression.created", "suppression.removed"]},
        {"kind": "mail relay", "receiver": "127.0.0.1:25", "events": ["confirmation replies"]},
    ]
    kinds = ["suppressions", "history", "messages", "replies", "rate_limits", "come_back_requests"]
    assert [p["data"] for p in record["purposes"]] == kinds and all(p["purpose"] for p in record["purposes"])
    assert [r["data"] for r in record["retention"]] == kinds
    assert "30 days" in next(r["kept"] for r in record["retention"] if r["data"] == "messages")
    # Someone never seen was sent to no one.
    nobody = await (await client.get("/v1/subjects/nobody@example.com", headers=bearer(admin_key))).json()
    assert nobody["recipients"] == [] and [p["data"] for p in nobody["purposes"]] == kinds
