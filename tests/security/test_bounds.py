"""Disk and memory are bounded against anyone who can reach SMTP or HTTP.

The review: 20 messages of 9.2 MB from <> grew the database by 200 MB in 3.4 s; +tags and <>
slipped past the per-sender limit; a 60 MB JSON body of `{}`s held 1.6 GB; deep nesting and
cursors past 2^63 answered 500.
"""

import json
import urllib.request
from pathlib import Path

import pytest

from handlers.app import build_app
from tests.reliability.helpers import deploy
from tests.security.helpers import send_raw
from tests.support.http import bearer
from tests.support.service import ServiceProcess
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, smtp_port


def mail(size: int, subject: str = "hello") -> bytes:
    lines = b"\r\n".join([b"x" * 98] * (size // 100))  # SMTP lines are at most 1,000 octets
    return f"From: <a@example.com>\r\nSubject: {subject}\r\n\r\n".encode() + lines + b"\r\n"


async def smtp_client(aiohttp_client, tmp_path, **smtp):
    return await aiohttp_client(build_app(make_settings(tmp_path / "data", smtp=smtp)))


async def data_code(client, raw: bytes, mail_from: str) -> int:
    return (await in_thread(send_raw, smtp_port(client), raw, mail_from))[0]


async def test_mail_past_the_stored_total_gets_452_and_is_not_kept(aiohttp_client, tmp_path, caplog):
    # The total alone (its shares per network and sender: test_stored_mail_shares.py).
    client = await smtp_client(aiohttp_client, tmp_path, max_stored_mail_bytes=25_000, stored_mail_percent_per_network=100,
                               stored_mail_percent_per_sender=100, stored_mail_percent_reserved=1)
    codes = [await data_code(client, mail(10_000), f"sender{i}@example.com") for i in range(3)]
    assert codes == [250, 250, 452]
    assert "max_stored_mail_bytes" in caplog.text
    assert await data_code(client, mail(100), "small@example.com") == 250  # what still fits is taken


async def test_bytes_per_sender_an_hour_are_limited_and_tags_do_not_reset_them(aiohttp_client, tmp_path):
    client = await smtp_client(aiohttp_client, tmp_path, sender_bytes_per_hour=25_000)
    codes = [await data_code(client, mail(10_000), f"big+{i}@example.com") for i in range(3)]
    assert codes == [250, 250, 450]
    assert await data_code(client, mail(10_000), "other@example.com") == 250


async def test_the_null_sender_is_limited_per_client_in_bytes_too(aiohttp_client, tmp_path):
    client = await smtp_client(aiohttp_client, tmp_path, sender_bytes_per_hour=25_000)
    codes = [await data_code(client, mail(10_000), "") for _ in range(3)]
    assert codes == [250, 250, 450]


async def test_tags_and_the_null_sender_count_as_one_sender_for_messages(aiohttp_client, tmp_path):
    client = await smtp_client(aiohttp_client, tmp_path, sender_messages_per_hour=3, null_sender_messages_per_hour=2)
    assert [await data_code(client, mail(10), f"loud+{i}@example.com") for i in range(4)] == [250, 250, 250, 450]
    # The null sender, per client address, under its own limit.
    assert [await data_code(client, mail(10), "") for _ in range(3)] == [250, 250, 450]


def peak_rss_mb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) // 1024


def post(url: str, key: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**bearer(key), "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_60_mb_body_of_objects_is_refused_without_building_them(tmp_path):
    deployment = deploy(tmp_path)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        before = peak_rss_mb(service.process.pid)
        body = b'{"emails": [' + b"{}," * 19_999_999 + b"{}]}"  # 20 million objects (a join took 1-4 s)
        status, answer = post(deployment.base_url + "/v1/check", deployment.admin_key, body)
        assert status == 400 and "flat" in answer["error"]
        # The body itself (60 MB) was read; the 20 million objects in it were never built.
        assert peak_rss_mb(service.process.pid) - before < 400
        status, _ = post(deployment.base_url + "/v1/check", deployment.admin_key, b'{"emails": ["a@example.com"]}')
        assert status == 200


@pytest.mark.parametrize("path", ["/v1/suppressions", "/v1/links", "/v1/check"])
async def test_deep_nesting_is_a_400(client, admin_key, path):
    for body in (b"[" * 50_000, b'{"email": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"):
        answer = await client.post(path, data=body, headers={**bearer(admin_key), "Content-Type": "application/json"})
        assert answer.status in (400, 413), await answer.text()
        assert "error" in await answer.json()


async def test_a_small_endpoint_takes_no_large_body(client, admin_key):
    body = json.dumps({"email": "a@example.com", "reason": "x" * 100_000}).encode()
    answer = await client.post("/v1/suppressions", data=body,
                               headers={**bearer(admin_key), "Content-Type": "application/json"})
    assert answer.status == 413 and "larger than" in (await answer.json())["error"]


@pytest.mark.parametrize("path", ["/v1/changes", "/v1/inbox"])
@pytest.mark.parametrize("after", [str(2**63), str(2**64 + 5), "9" * 40])
async def test_cursors_past_the_database_range_are_400(client, admin_key, path, after):
    answer = await client.get(path, params={"after": after}, headers=bearer(admin_key))
    assert answer.status == 400 and "cursor" in (await answer.json())["error"]


def test_the_cache_of_recent_api_keys_is_bounded_and_holds_only_what_verified():
    from suppression.apikeys import ApiKey, RecentKeys, mint_api_key, split_api_key

    recent = RecentKeys(size=3)
    minted = [mint_api_key() for _ in range(5)]
    for n, (full, key_id, secret_hash) in enumerate(minted):
        recent.put(ApiKey(key_id, f"k{n}", "check", secret_hash), read_at=float(n))
        assert recent.verified(key_id, split_api_key(full)[1], full) is not None
    assert len(recent) == 3  # the two read longest ago were dropped
    assert [recent.read_at(key_id) for _, key_id, _ in minted] == [None, None, 2.0, 3.0, 4.0]
    full, key_id, _ = minted[4]
    assert recent.recent(full, since=4.0).name == "k4"
    assert recent.recent(full, since=4.5) is None  # read too long ago: verified afresh
    assert recent.recent(full[:-1] + ("A" if full[-1] != "A" else "B"), since=0.0) is None
    recent.forget_name("k4")
    assert recent.recent(full, since=0.0) is None and len(recent) == 2
