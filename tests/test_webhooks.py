"""Webhooks (CONTRACT §9) with real receivers over HTTP: signed per Standard Webhooks (verified
with the `standardwebhooks` library), every event type in the change log's order, retried
until taken, never lost across SIGKILL, and a hanging receiver delays nobody else."""

import asyncio
from datetime import datetime, timedelta, timezone
import json
import re
import signal
import time

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.config import settings_from_mapping
from suppression.errors import ConfigError
from suppression.outbox import retry_delay
from tests.support.cli import cli, run_cli
from tests.support.http import api_call, bearer, free_port
from tests.support.outside import count_from_outside, execute_from_outside
from tests.support.service import ServiceProcess
from tests.support.settings import make_settings, write_config
from tests.support.webhook_receiver import Receiver, cursor_of, data_of, new_secret, types_of
from tests.test_review import FORGED
from tests.test_smtp import in_thread, send, smtp_port, wait_until

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


def hook(receiver: Receiver, **extra) -> dict:
    return {"url": receiver.url, "secret": receiver.secret, **extra}


@pytest.fixture
def receivers():
    made: list[Receiver] = []

    def make(answers=lambda n: 200, delay=0.0, started=True) -> Receiver:
        receiver = Receiver(free_port(), new_secret(), answers, delay)
        made.append(receiver)
        return receiver.start() if started else receiver
    yield make
    for receiver in made:
        receiver.close()


async def app_with(aiohttp_client, tmp_path, *hooks):
    settings = make_settings(tmp_path / "data", smtp={"trusted_authserv_ids": ["mx.plusnxt.com"]})
    settings = settings.with_overrides(webhooks=settings_from_mapping({"webhooks": list(hooks)}).webhooks)
    client = await aiohttp_client(build_app(settings))
    key = await client.app[SERVICE].api_keys.create_api_key("hooks-admin", "admin")
    return client, key


async def suppress(client, key, email, **extra):
    answer = await client.post("/v1/suppressions", json={"email": email, **extra}, headers=bearer(key))
    assert answer.status in (200, 201), await answer.text()


async def arrived(receiver: Receiver, count: int) -> list[dict]:
    return await in_thread(receiver.wait_for, count)


# -- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("table, says", [
    ({"secret": new_secret()}, "webhooks[1].url: required"),
    ({"url": "ftp://crm.example.com/", "secret": new_secret()}, "expected an http(s) URL"),
    ({"url": "https://crm.example.com/", "secret": "not-a-secret"}, "expected a Standard Webhooks secret"),
    ({"url": "https://crm.example.com/", "secret": "whsec_!!!"}, "not base64"),
    ({"url": "https://crm.example.com/", "secret": "whsec_c2hvcnQ="}, "expected 24 to 64 bytes"),
    ({"url": "https://crm.example.com/", "secret": new_secret(), "events": ["suppression.maybe"]}, "unknown event type"),
    ({"url": "https://crm.example.com/", "secret": new_secret(), "timeout_seconds": 0}, "timeout_seconds"),
    ({"url": "https://crm.example.com/", "secret": new_secret(), "colour": "blue"}, "unknown config key: webhooks[1].colour"),
])
def test_a_receiver_that_cannot_work_is_refused_at_start_with_the_key_named(table, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        settings_from_mapping({"webhooks": [table]})


def test_two_receivers_may_not_share_a_url():
    table = {"url": "https://crm.example.com/hooks", "secret": new_secret()}
    with pytest.raises(ConfigError, match="same url"):
        settings_from_mapping({"webhooks": [table, dict(table, name="other")]})


def test_the_service_refuses_a_bad_secret_with_exit_2(tmp_path):
    config = write_config(tmp_path / "c.toml", tmp_path / "data", free_port(), free_port(),
                          '[[webhooks]]\nurl = "https://crm.example.com/h"\nsecret = "whsec_c2hvcnQ="\n')
    result = cli("check", "a@example.com", config=config)
    assert result.returncode == 2 and "webhooks[1].secret" in result.stderr


def test_retry_waits_double_with_jitter_up_to_the_longest_and_never_stop():
    import random
    rng = random.Random(7)
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (8, 640), (9, 1280), (11, 3600), (10_000, 3600)):
        waits = [retry_delay(attempts, 5, 3600, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 10  # jittered, not in lockstep
    # The contract's "at least 72 hours": the waits of the first 90 failures alone add up to more.
    assert sum(retry_delay(n, 5, 3600, random.Random(1)) for n in range(1, 90)) > 72 * 3600 / 2


# -- delivery -------------------------------------------------------------------------------


async def test_every_event_type_arrives_signed_in_the_change_logs_order(aiohttp_client, tmp_path, receivers):
    receiver = receivers()
    client, key = await app_with(aiohttp_client, tmp_path, hook(receiver, name="crm"))
    await suppress(client, key, "Ann@Example.com", topic="newsletters")
    answer = await client.delete("/v1/suppressions/ann@example.com", params={"topic": "newsletters"},
                                 headers=bearer(key))
    assert answer.status == 200
    await suppress(client, key, "bob@example.com")
    assert (await client.post("/v1/subjects/bob@example.com/erase", headers=bearer(key))).status == 200
    code, _ = await in_thread(send, smtp_port(client), FORGED)
    assert code == 250
    await client.app[INTAKE].handle_pending()

    got = await arrived(receiver, 5)
    assert receiver.unverified == []  # every delivery verified with the library
    assert types_of(got) == ["suppression.created", "suppression.removed", "suppression.created",
                             "subject.erased", "review.opened"]
    changes = [cursor_of(d) for d in got if d["payload"]["type"] != "review.opened"]
    assert changes == sorted(changes)
    created, removed, bob, erased, review = data_of(got)
    assert (created["email"], created["topic"], created["action"], created["source"]) == (
        "ann@example.com", "newsletters", "suppress", "api")
    assert (removed["email"], removed["action"], removed["actor"]) == ("ann@example.com", "unsuppress", "api:hooks-admin")
    assert int(removed["cursor"]) > int(created["cursor"])
    # The erasure names the cursors a receiver's copy must forget.
    assert erased["email"].startswith("erased:") and bob["cursor"] in erased["replaced"]
    assert set(review) == {"id", "received", "due", "reasons", "desk"} and review["desk"].endswith("/admin/")
    assert "jane@example.com" not in json.dumps(review)
    for delivery in got:
        assert set(delivery["payload"]) == {"type", "timestamp", "data"}
        assert abs(delivery["timestamp"] - time.time()) < 300
        assert re.fullmatch(r"evt_[0-9a-f]{32}", delivery["id"]), delivery["id"]  # 128 random bits
    assert len({delivery["id"] for delivery in got}) == len(got)


async def test_a_receiver_asks_for_only_some_event_types(aiohttp_client, tmp_path, receivers):
    everything, erasures = receivers(), receivers()
    client, key = await app_with(aiohttp_client, tmp_path, hook(everything),
                                 hook(erasures, events=["subject.erased"]))
    await suppress(client, key, "carl@example.com")
    assert (await client.post("/v1/subjects/carl@example.com/erase", headers=bearer(key))).status == 200
    assert types_of(await arrived(everything, 2)) == ["suppression.created", "subject.erased"]
    assert types_of(await arrived(erasures, 1)) == ["subject.erased"]
    # The one it skipped is not owed: it is caught up.
    assert await wait_until(lambda: _backlog(client, erasures.url, 0))


async def test_during_a_rotation_each_event_verifies_with_the_old_secret_and_with_the_new(aiohttp_client, tmp_path,
                                                                                         receivers):
    # Two receivers stand for one receiver before and after it switched to the new secret.
    still_old, already_new = receivers(), receivers()
    new = already_new.secret
    client, key = await app_with(aiohttp_client, tmp_path, hook(still_old, secret=new, previous_secret=still_old.secret),
                                 hook(already_new, previous_secret=new_secret()))
    await suppress(client, key, "rotating@example.com")
    assert types_of(await arrived(still_old, 1)) == ["suppression.created"]
    assert types_of(await arrived(already_new, 1)) == ["suppression.created"]
    assert still_old.unverified == [] and already_new.unverified == []


def test_a_previous_secret_is_checked_like_the_secret():
    table = {"url": "https://crm.example.com/hooks", "secret": new_secret(), "previous_secret": "whsec_c2hvcnQ="}
    with pytest.raises(ConfigError, match="webhooks\\[1\\].previous_secret: expected 24 to 64 bytes"):
        settings_from_mapping({"webhooks": [table]})


async def _backlog(client, url, expected) -> bool:
    state = await client.app[SERVICE].store.receiver(url)
    return (await client.app[SERVICE].store.backlog(state.cursor)).events == expected


async def test_a_receiver_down_for_a_while_then_up_gets_everything_in_order(aiohttp_client, tmp_path, receivers):
    receiver = receivers(started=False)  # nothing listens on its port yet
    client, key = await app_with(aiohttp_client, tmp_path,
                                 hook(receiver, first_retry_seconds=0.05, max_retry_seconds=0.5))
    emails = [f"down{n}@example.com" for n in range(6)]
    for email in emails:
        await suppress(client, key, email)
    service = client.app[SERVICE]
    # Erased while its suppression waits to be sent: what is sent names the keyed hash only.
    await suppress(client, key, "gone@example.com")
    assert (await client.post("/v1/subjects/gone@example.com/erase", headers=bearer(key))).status == 200

    async def failed_twice():
        return (state := await service.store.receiver(receiver.url)).attempts >= 2 and state.last_error
    assert await wait_until(failed_twice)
    state = await service.store.receiver(receiver.url)
    assert "Connect" in state.last_error and state.failing_since is not None and state.next_attempt_at
    metrics = await (await client.get("/metrics")).text()
    assert re.search(rf'suppression_webhook_backlog{{receiver="127\.0\.0\.1:{receiver.port}#[0-9a-f]{{8}}"}} 8\.0', metrics)

    receiver.start()
    got = await arrived(receiver, 8)
    assert [d["email"] for d in data_of(got)][:6] == emails
    created, erased = data_of(got)[6:]
    assert created["email"].startswith("erased:") and created["email"] == erased["email"]
    assert "gone@" not in json.dumps([d["payload"] for d in got])
    assert await wait_until(lambda: _backlog(client, receiver.url, 0))
    state = await service.store.receiver(receiver.url)
    assert (state.attempts, state.failing_since, state.last_error) == (0, None, None)


@pytest.mark.sqlite_only  # the delivery's naming, not the store's
async def test_a_password_or_token_in_a_receivers_url_is_never_shown_on_metrics_or_in_the_log(
        aiohttp_client, tmp_path, receivers, caplog):
    """/metrics answers anyone who reaches it, and the log is read by many: a receiver is called by
    its host, port and a digest of its URL, never by its user, password, path or query."""
    receiver = receivers(started=False)  # its attempts fail, and are logged
    url = f"http://hookuser:S3cretHookPassw0rd@127.0.0.1:{receiver.port}/hooks/catch-SECRETPATHTOKEN?key=QUERYSECRET"
    client, key = await app_with(aiohttp_client, tmp_path, {"url": url, "secret": receiver.secret,
                                                           "first_retry_seconds": 0.05, "max_retry_seconds": 0.5})
    await suppress(client, key, "a@example.com")

    async def failed_twice():
        return (await client.app[SERVICE].store.receiver(url)).attempts >= 2
    assert await wait_until(failed_twice)
    metrics = await (await client.get("/metrics")).text()
    shown = metrics + caplog.text
    assert f'suppression_webhook_backlog{{receiver="127.0.0.1:{receiver.port}#' in metrics
    assert "attempt 1 failed" in caplog.text  # the failures were logged, by the same name
    for secret in ("hookuser", "S3cretHookPassw0rd", "SECRETPATHTOKEN", "QUERYSECRET", "/hooks"):
        assert secret not in shown, secret


async def test_errors_and_slow_answers_are_retried_until_a_2xx(aiohttp_client, tmp_path, receivers):
    # 500, 429, 302 and a timeout, then it takes them: each event once, in order.
    script = {1: 500, 2: 429, 3: 302, 5: 503}
    receiver = receivers(answers=lambda n: script.get(n, 200))
    client, key = await app_with(aiohttp_client, tmp_path,
                                 hook(receiver, first_retry_seconds=0.02, max_retry_seconds=0.1))
    for n in range(3):
        await suppress(client, key, f"retry{n}@example.com")
    got = await arrived(receiver, 3)
    assert [d["email"] for d in data_of(got)] == [f"retry{n}@example.com" for n in range(3)]
    assert len(receiver.taken()) == 3 and receiver.requests == 7


async def test_a_410_disables_the_receiver_until_a_replay(aiohttp_client, tmp_path, receivers, caplog):
    gone = {"yes": True}
    receiver = receivers(answers=lambda n: 410 if gone["yes"] else 200)
    client, key = await app_with(aiohttp_client, tmp_path, hook(receiver, name="old-crm"))
    config = client.app[SERVICE].settings
    await suppress(client, key, "first@example.com")
    service = client.app[SERVICE]

    async def disabled():
        return (await service.store.receiver(receiver.url)).disabled_at is not None
    assert await wait_until(disabled)
    assert "old-crm: the receiver answered 410 Gone; it is disabled" in caplog.text
    await suppress(client, key, "second@example.com")
    assert (await service.store.receiver(receiver.url)).disabled_at is not None
    assert receiver.requests == 1  # nothing more was sent to it

    gone["yes"] = False
    toml = write_config(tmp_path / "cli.toml", config.service.data_dir, 1, 1,
                        f'[[webhooks]]\nname = "old-crm"\nurl = "{receiver.url}"\nsecret = "{receiver.secret}"\n')
    listed = await in_thread(run_cli, "webhooks", "list", config=toml)
    assert listed.returncode == 0, listed.stderr
    row = json.loads(listed.stdout)
    assert (row["receiver"], row["state"], row["backlog"]) == ("old-crm", "disabled", 2)
    replayed = await in_thread(run_cli, "webhooks", "replay", "old-crm", config=toml)
    assert replayed.returncode == 0, replayed.stderr
    got = await arrived(receiver, 2)
    assert [d["email"] for d in data_of(got)] == ["first@example.com", "second@example.com"]
    again = await in_thread(run_cli, "webhooks", "replay", "old-crm", "--from", "1", config=toml)
    assert again.returncode == 0, again.stderr
    assert await in_thread(lambda: wait_for_count(receiver, 3))
    assert receiver.taken()[-1]["id"] == got[1]["id"]  # the same event, the same webhook-id
    # The refusals in this process; the list and the replays above ran as programs.
    bad = await in_thread(cli, "webhooks", "replay", "nobody", config=toml)
    assert bad.returncode == 2 and "no receiver 'nobody'" in bad.stderr
    too_far = await in_thread(cli, "webhooks", "replay", "old-crm", "--from", "99", config=toml)
    assert too_far.returncode == 2 and "--from must be an event number from 0 to 2" in too_far.stderr


def wait_for_count(receiver: Receiver, count: int) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(receiver.taken()) >= count:
            return True
        time.sleep(0.02)
    return False


async def test_a_hanging_receiver_delays_neither_another_receiver_nor_any_answer(aiohttp_client, tmp_path, receivers):
    hanging = receivers(answers=lambda n: None)  # takes the request and never answers
    healthy = receivers()
    client, key = await app_with(aiohttp_client, tmp_path, hook(hanging, timeout_seconds=120), hook(healthy))
    for n in range(3):
        await suppress(client, key, f"hang{n}@example.com")
    got = await arrived(healthy, 3)
    assert [d["email"] for d in data_of(got)] == [f"hang{n}@example.com" for n in range(3)]
    assert hanging.requests == 1 and hanging.taken() == []  # still waiting on its first answer
    answer = await client.get("/v1/suppressions/hang0@example.com", headers=bearer(key))
    assert answer.status == 200 and (await answer.json())["suppressed"]


async def test_changes_made_by_the_cli_are_delivered_too(aiohttp_client, tmp_path, receivers):
    receiver = receivers()
    client, key = await app_with(aiohttp_client, tmp_path, hook(receiver))
    settings = client.app[SERVICE].settings
    toml = write_config(tmp_path / "cli.toml", settings.service.data_dir, 1, 1)
    # In a thread: the CLI returns once the running service has followed its change.
    result = await asyncio.to_thread(run_cli, "add", "from-cli@example.com", config=toml)
    assert result.returncode == 0, result.stderr
    (delivery,) = await arrived(receiver, 1)
    assert (delivery["payload"]["data"]["email"], delivery["payload"]["data"]["source"]) == ("from-cli@example.com", "cli")


async def test_delivered_events_are_forgotten_after_a_week_and_undelivered_ones_kept(aiohttp_client, tmp_path, receivers):
    receiver = receivers()
    client, key = await app_with(aiohttp_client, tmp_path, hook(receiver))
    for n in range(3):
        await suppress(client, key, f"old{n}@example.com")
    await arrived(receiver, 3)
    service = client.app[SERVICE]
    assert await wait_until(lambda: _backlog(client, receiver.url, 0))
    receiver.stop()
    await suppress(client, key, "waiting@example.com")
    # In a thread: the app runs in this loop, and the UPDATE may wait for a transaction of its own.
    await asyncio.to_thread(execute_from_outside, service.settings, "UPDATE events SET at = '2020-01-01T00:00:00.000Z'")
    assert await service.rights.prune_events() == 3  # the one it has not had stays, however old
    assert count_from_outside(service.settings, "events") == 1


# -- across a kill -----------------------------------------------------------------------------


def test_sigkill_mid_delivery_loses_nothing_and_redelivers_with_the_same_id(tmp_path, receivers):
    receiver = receivers(delay=0.03)  # slow enough that the kill lands mid-way
    http_port = free_port()
    config = write_config(tmp_path / "c.toml", tmp_path / "data", http_port, free_port(),
                          f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{receiver.secret}"\n')
    created = cli("apikey", "create", "k", "--scope", "admin", config=config)
    key = created.stdout.strip().splitlines()[-1]
    emails = [f"kill{n}@example.com" for n in range(60)]
    with ServiceProcess(config, http_port, tmp_path) as service:
        for email in emails:
            status, _ = api_call(service.base_url, "POST", "/v1/suppressions", key, {"email": email})
            assert status in (200, 201)
        receiver.wait_for(5)
        service.process.send_signal(signal.SIGKILL)
        service._finish()
    assert len(receiver.distinct()) < len(emails)  # the kill did land mid-delivery
    with ServiceProcess(config, http_port, tmp_path):
        got = receiver.wait_for(len(emails))
    assert [d["payload"]["data"]["email"] for d in got] == emails
    by_id = {}
    for delivery in receiver.taken():  # a redelivery is the same event: same id, same body
        assert by_id.setdefault(delivery["id"], delivery["body"]) == delivery["body"]
    first_seen = [cursor_of(d) for d in got]
    assert first_seen == sorted(first_seen)
    assert receiver.unverified == []


def test_webhooks_list_says_when_none_are_configured(tmp_path):
    config = write_config(tmp_path / "c.toml", tmp_path / "data", free_port(), free_port())
    listed = cli("webhooks", "list", config=config)
    assert (listed.returncode, listed.stdout) == (0, "")
    assert "no [[webhooks]] receivers in the config" in listed.stderr


async def test_a_message_stored_straight_into_review_is_announced_too(aiohttp_client, tmp_path, receivers):
    # As the mailbox intake stores a message over the size limit: kept for a person at once.
    receiver = receivers()
    client, _ = await app_with(aiohttp_client, tmp_path, hook(receiver))
    message_id = await client.app[SERVICE].store.add_message(
        b"Subject: big\r\n\r\n...", "", ["PLUSinfo@plusnxt.com"], ("review", ["larger than the limit"]))
    (delivery,) = await arrived(receiver, 1)
    assert delivery["payload"]["type"] == "review.opened"
    assert (delivery["payload"]["data"]["id"], delivery["payload"]["data"]["reasons"]) == (
        message_id, ["larger than the limit"])


async def test_regression_webhook_ids_do_not_repeat_after_a_restore_from_backup(tmp_path, store):
    # Before: "evt_<database id>_<seq>"; a database restored from a backup numbered its next
    # events as the lost ones had been, and receivers that drop repeats dropped real opt-outs.
    from suppression.model import ALL_EMAILS
    from suppression.service import SuppressionService
    from tests.support.outside import execute_from_outside
    from tests.support.settings import make_settings

    settings = make_settings(tmp_path / "data", store)
    service = SuppressionService.of_settings(settings, ("k" * 48,))
    await service.start(with_index=False)
    try:
        await service.store.sync_receivers(["https://receiver.example/hook"])
        await service.suppress("before@example.com", ALL_EMAILS, "manual", "api", "t")
        backup = execute_from_outside(settings, "SELECT max(seq) FROM events")[0][0]
        await service.suppress("lost@example.com", ALL_EMAILS, "manual", "api", "t")
        lost = (await service.store.events_after(backup, 10))[0]
        # The restore: the event after the backup is gone, and the next one takes its number.
        await asyncio.to_thread(execute_from_outside, settings, f"DELETE FROM events WHERE seq > {int(backup)}")
        if store == "sqlite":
            await asyncio.to_thread(execute_from_outside, settings,
                                    f"UPDATE sqlite_sequence SET seq = {int(backup)} WHERE name = 'events'")
        else:
            await asyncio.to_thread(execute_from_outside, settings, f"SELECT setval('events_seq_seq', {int(backup)})")
        await service.suppress("after@example.com", ALL_EMAILS, "manual", "api", "t")
        after = (await service.store.events_after(backup, 10))[0]
    finally:
        await service.stop()
    assert after.seq == lost.seq
    assert re.fullmatch(r"[0-9a-f]{32}", after.uid) and after.uid != lost.uid


def test_regression_review_opened_reasons_name_no_address():
    # Before: the reasons went out as the reader wrote them ("addresses named in the text: ..."),
    # though the README says the event names none.
    from suppression.outbox import Event
    from suppression.records import event_record

    event = Event(7, "review.opened", "2026-12-03T10:00:00.000Z",
                  message=(12, "2026-12-03T10:00:00.000Z", ["addresses named in the text: bob.smith@example.org"]))
    body = event_record(event, "2026-12-04T10:00:00.000Z", "https://u.example/admin/")
    assert "bob.smith@example.org" not in json.dumps(body)
    assert body["data"]["reasons"] == ["addresses named in the text: b\u2022\u2022\u2022@example.org"]


@pytest.mark.parametrize("answer", [(429, {"Retry-After": "120"}), (503, {"Retry-After": "120"})])
async def test_a_retry_after_is_honoured(aiohttp_client, tmp_path, receivers, answer):
    receiver = receivers(answers=lambda n: answer if n == 1 else 200)
    client, key = await app_with(aiohttp_client, tmp_path, hook(receiver, first_retry_seconds=0.02))
    service = client.app[SERVICE]
    await suppress(client, key, "later@example.com")

    async def failed_once():
        state = await service.store.receiver(receiver.url)
        return state is not None and state.attempts == 1

    assert await wait_until(failed_once)
    state = await service.store.receiver(receiver.url)
    waits = (datetime.fromisoformat(state.next_attempt_at) - datetime.now(timezone.utc)).total_seconds()
    assert 100 < waits <= 120  # the receiver's 120 s, not the configured 0.02 s
    assert receiver.requests == 1


def test_retry_after_reads_seconds_and_http_dates():
    from email.utils import format_datetime

    from handlers.webhooks import retry_after

    assert retry_after("30") == 30.0
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=90), usegmt=True)
    assert 80 < retry_after(soon) <= 90
    assert retry_after("soon") is None and retry_after(None) is None
    # The standard library's parser overflows on a zone this large: a receiver's odd header is
    # no date, not a failed delivery loop.
    assert retry_after("Mon, 01 Jan 2025 00:00:00 +99999999999999999999") is None


@pytest.mark.sqlite_only  # the delivery's naming, not the store's
async def test_an_error_that_names_the_receivers_url_is_kept_without_it(aiohttp_client, tmp_path, caplog):
    """aiohttp names the URL, path and query included, in some errors (a malformed answer):
    the log and the receiver's last error, which `suppression webhooks` prints, say it without."""
    async def malformed(reader, writer):
        await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nBad header line\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(malformed, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/o'brien-SECRETPATHTOKEN?key=QUERYSECRET"  # repr quotes it with "
    try:
        client, key = await app_with(aiohttp_client, tmp_path, {"url": url, "secret": new_secret(),
                                                               "first_retry_seconds": 0.05, "max_retry_seconds": 0.5})
        await suppress(client, key, "a@example.com")

        async def failed():
            return (await client.app[SERVICE].store.receiver(url)).attempts >= 1
        assert await wait_until(failed)
        last_error = (await client.app[SERVICE].store.receiver(url)).last_error
    finally:
        server.close()
        await server.wait_closed()
    assert "ClientResponseError" in last_error and "url=<URL>" in last_error, last_error
    for secret in ("SECRETPATHTOKEN", "QUERYSECRET"):
        assert secret not in last_error and secret not in caplog.text


def test_only_the_start_of_a_long_error_is_read_for_the_receivers_url():
    # aiohttp quotes up to 128 KB of a receiver's malformed answer in its error, and the pattern
    # that finds URLs in it took time growing with the square of a run of letters: a 60 KB status
    # line held the loop 3.6 s at every retry (a probing helper). Only the start is read now.
    from handlers.webhooks import _without_url

    url = "https://crm.example.com/hooks/s3cret-token"
    error = f"ClientResponseError: 400, message='Invalid status line', url='{url}' " + "a" * 60_000
    cleaned = _without_url(error, url)
    assert cleaned.startswith("ClientResponseError: 400, message='Invalid status line', url=<URL> aaa")
    assert len(cleaned) <= 1000 and "s3cret" not in cleaned
    assert "s3cret" not in _without_url("a" * 980 + url, "https://other.example/")  # cut inside the URL
