"""The desk teaches the reader: every resolve and dismiss is a labelled example that
`suppression inbox export-labels` writes in the corpus format, which the training script
reads; an erasure takes a person's examples away with everything else."""

import json

from handlers.app import build_app
from handlers.state import SERVICE
from suppression.inbound.corpus import REQUEST, STAY, read_batch
from tests.security.helpers import send_raw
from tests.support.cli import cli, run_cli
from tests.support.http import bearer
from tests.support.settings import make_settings, write_config
from tests.test_smtp import in_thread, smtp_port, wait_until

TRUSTED = "mx.plusnxt.com"


def mail(sender: str, subject: str, body: str, authentication: str = "") -> bytes:
    return (f"From: <{sender}>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: {subject}\r\n{authentication}"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").encode()


async def test_resolved_and_dismissed_messages_export_as_labels_and_erasure_removes_them(aiohttp_client, tmp_path):
    data = tmp_path / "data"
    client = await aiohttp_client(build_app(make_settings(data, smtp={"trusted_authserv_ids": [TRUSTED]})))
    key = await client.app[SERVICE].api_keys.create_api_key("desk", "admin")
    forged = f"Authentication-Results: {TRUSTED}; dmarc=fail header.from=example.com\r\n"
    _, asked = await in_thread(send_raw, smtp_port(client), mail(
        "jane@example.com", "Old addresses", "Please stop sending to my old address bob@example.org.", forged),
        "jane@example.com")
    _, question = await in_thread(send_raw, smtp_port(client), mail(
        "alice@example.com", "Opening hours", "Are you open on Sunday afternoons?"), "alice@example.com")

    async def both_in_review():
        page, _ = await client.app[SERVICE].review.inbox("review", None, 10)
        return {m.id for m in page} == {asked, question}

    assert await wait_until(both_in_review)
    answer = await client.post(f"/v1/inbox/{asked}/resolve", json={"action": "suppress", "emails": ["bob@example.org"]},
                               headers=bearer(key))
    assert answer.status == 200
    answer = await client.post(f"/v1/inbox/{question}/resolve", json={"action": "dismiss", "note": "a question"},
                               headers=bearer(key))
    assert answer.status == 200

    config = write_config(tmp_path / "config.toml", data, 1, 1)
    exported = await in_thread(run_cli, "inbox", "export-labels", config=config)
    assert exported.returncode == 0, exported.stderr
    labels = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(row["id"], row["label"], row["names"]) for row in labels] == [
        (f"desk-{asked}", REQUEST, ["bob@example.org"]), (f"desk-{question}", STAY, []),
    ]
    assert "old address" in labels[0]["body"] and "Sunday" in labels[1]["body"]
    path = tmp_path / "desk.jsonl"
    path.write_text(exported.stdout, encoding="utf-8")
    assert [record.label for record in read_batch(path)] == [REQUEST, STAY]  # what train.py --labels reads

    erased = await in_thread(run_cli, "subject", "erase", "alice@example.com", config=config)
    assert erased.returncode == 0, erased.stderr
    exported = await in_thread(cli, "inbox", "export-labels", config=config)
    assert [json.loads(line)["id"] for line in exported.stdout.splitlines()] == [f"desk-{asked}"]
    assert "Sunday" not in exported.stdout and "alice" not in exported.stdout
