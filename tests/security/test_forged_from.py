"""Who may switch mail off: a forged From header, from as many envelope senders and connections
as an attacker likes, switches off at most a network's hourly budget of people; the rest wait
for a person. Proven requests (our mailto's token, a reply to our Message-ID, DMARC passed at
a trusted authserv-id, for mail our relays bring) are honoured at once, flood or no flood.

The measured attack: 30 messages `From: <a stranger>` "unsubscribe", each from a fresh
envelope sender over its own connection, suppressed all 30 strangers.
"""

import asyncio
import os

import pytest

from handlers.app import build_app
from handlers.state import INTAKE, SERVICE
from suppression.inbound.authresults import MOST_HEADER_BYTES
from suppression.config import settings_from_mapping
from suppression.links import mint_link
from suppression.model import ALL_EMAILS
from tests.security.helpers import send_raw
from tests.support.http import bearer
from tests.support.outside import execute_from_outside
from tests.support.postgres import available as postgres_available, shared_server
from tests.support.settings import make_settings
from tests.test_smtp import in_thread, smtp_port, wait_until

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

TRUSTED = "mx.plusnxt.com"


@pytest.fixture
async def client(aiohttp_client, tmp_path, store):
    # The budgets at their defaults, as an operator runs them (conftest lifts them elsewhere), on
    # a listener the internet reaches directly: no relay in front, loopback is a client as any.
    settings = make_settings(tmp_path / "data", store, smtp={
        "unproven_requests_per_network_per_hour": 10, "unproven_requests_per_hour": 100,
        "trusted_authserv_ids": [TRUSTED], "trusted_relays": [],
    })
    return await aiohttp_client(build_app(settings))


def forged(victim: str, extra_headers: str = "", subject: str = "unsubscribe") -> bytes:
    return (f"From: <{victim}>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: {subject}\r\n{extra_headers}"
            f"Message-ID: <{victim.replace('@', '.')}@attacker.example>\r\n\r\nunsubscribe\r\n").encode()


async def suppressed(client, key: str, email: str) -> bool:
    answer = await client.get(f"/v1/suppressions/{email}", headers=bearer(key))
    return (await answer.json())["suppressed"]


async def settle_all(client) -> None:
    """Wait (bounded) until the service's own intake task has read every stored message, and its
    index has taken in what that wrote. A check waits for the index a second at most, then
    answers with what it holds (suppression/index/live.py): once in CI, with the index's reads
    slowed by the machine, checks made one after another answered eight of ten settled
    requests so, and a read slowed by 1.2 s makes the first answer so here."""
    service = client.app[SERVICE]

    async def none_pending():
        page, _ = await service.review.inbox("pending", None, 100)
        return page == [] and service.live.cursor >= await service.store.newest_change()
    assert await wait_until(none_pending, attempts=1500)


async def test_thirty_forged_senders_from_one_network_switch_off_at_most_ten(client, admin_key):
    victims = [f"victim{n}@example.org" for n in range(30)]
    for n, victim in enumerate(victims):  # each over its own connection, from its own envelope sender
        code, stored = await in_thread(send_raw, smtp_port(client), forged(victim), f"bounce{n}@evil{n}.example")
        assert (code, stored is not None) == (250, True)
    await settle_all(client)

    switched_off = [v for v in victims if await suppressed(client, admin_key, v)]
    assert len(switched_off) == 10
    review, _ = await client.app[SERVICE].review.inbox("review", None, 100)
    assert len(review) == 20
    assert all(any("budget" in reason and "this network" in reason for reason in m.reasons) for m in review)
    # The victim is among the addresses a person may choose from, nothing was lost.
    assert {m.found[0] for m in review} == set(victims) - set(switched_off)
    metrics = await (await client.get("/metrics")).text()
    assert "suppression_unproven_requests_deferred_total 20.0" in metrics

    # Right after the flood, proven requests are honoured at once: through our mailto (the token
    # in the subject) and a reply naming our Message-ID. A verdict of our MTA's written into mail
    # that did not come through it proves nothing: the sender wrote it.
    service = client.app[SERVICE]
    keys, request_address = service.signing_keys, "PLUSinfo@plusnxt.com"
    by_mailto = mint_link("mailto.person@example.net", ALL_EMAILS, base_url="http://x", secret_keys=keys,
                          request_address=request_address)
    by_reply = mint_link("reply.person@example.net", ALL_EMAILS, base_url="http://x", secret_keys=keys,
                         request_address=request_address)
    proven = {
        "mailto.person@example.net": forged("someone.else@example.com",
                                            subject=by_mailto.mailto.split("subject=")[1].replace("%20", " ")),
        "reply.person@example.net": forged("reply.person@example.net",
                                           f"In-Reply-To: {by_reply.message_id}\r\nReferences: {by_reply.message_id}\r\n",
                                           subject="Re: our news"),
    }
    for n, (person, raw) in enumerate(proven.items()):
        code, _ = await in_thread(send_raw, smtp_port(client), raw, f"someone{n}@example.com")
        assert code == 250
    code, claimed = await in_thread(send_raw, smtp_port(client), forged(
        "signed.person@example.net", f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=example.net\r\n"),
        "signed@example.net")
    assert code == 250

    async def all_honoured():
        return all([await suppressed(client, admin_key, person) for person in proven])

    assert await wait_until(all_honoured)  # within the contract's 5 seconds of the 250
    honoured, _ = await client.app[SERVICE].review.inbox("request", None, 100)
    assert {m.proof for m in honoured if m.addresses[0] in proven} == {"token", "reply"}
    await settle_all(client)
    assert not await suppressed(client, admin_key, "signed.person@example.net")
    kept = await client.app[SERVICE].store.get_message(claimed)
    assert kept.status == "review" and kept.authentication is None
    assert any("budget" in reason for reason in kept.reasons)


@pytest.mark.sqlite_only  # the SMTP handler's work; the budgets' stores are tried above
@pytest.mark.parametrize("relayed", [True, False], ids=["through-our-relay", "straight-to-us"])
async def test_a_verdict_of_our_mta_is_believed_only_in_mail_our_relays_bring(aiohttp_client, tmp_path, store,
                                                                                relayed):
    """The MTA's Authentication-Results is believed in mail from a trusted relay; in mail that
    came straight to us, every such field is the sender's and is renamed as it arrives (kept for
    a person to read), so a forged "dmarc=pass" proves nothing and the budget applies."""
    settings = make_settings(tmp_path / "data", store, smtp={
        "unproven_requests_per_network_per_hour": 1, "unproven_requests_per_hour": 100,
        "trusted_authserv_ids": [TRUSTED], "trusted_relays": ["127.0.0.0/8"] if relayed else ["192.0.2.0/24"]})
    client = await aiohttp_client(build_app(settings))
    key = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    victims = [f"signed{n}@example.net" for n in range(3)]
    stored = []
    for n, victim in enumerate(victims):
        code, message_id = await in_thread(send_raw, smtp_port(client), forged(
            victim, f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=example.net\r\n"), f"s{n}@example.com")
        assert code == 250
        stored.append(message_id)
    await settle_all(client)
    switched_off = [v for v in victims if await suppressed(client, key, v)]
    raw = (await client.app[SERVICE].store.get_message(stored[0])).raw
    if relayed:
        assert switched_off == victims  # proven: no budget
        assert b"\r\nAuthentication-Results: " + TRUSTED.encode() in raw and b"Disowned" not in raw
    else:
        assert len(switched_off) == 1  # the network's budget of one
        assert b"\r\nX-Disowned-Authentication-Results: " + TRUSTED.encode() in raw


@pytest.mark.sqlite_only  # the SMTP handler's work
async def test_a_header_too_large_to_disown_straight_to_us_is_refused_with_552(client):
    """Mail that came straight to us has its header searched on the loop for fields to rename: a
    header of more than 256 KB is refused (552, as Sendmail and Exim refuse such headers), and the
    service goes on. Its body may be as large as any message; a relay's mail is not searched."""
    padding = "".join(f"X-Pad-{n}: {'a' * 70}\r\n" for n in range(MOST_HEADER_BYTES // 80 + 10))
    code, message_id = await in_thread(send_raw, smtp_port(client), forged("big@example.net", padding))
    assert (code, message_id) == (552, None)
    page, _ = await client.app[SERVICE].review.inbox(None, None, 10)
    assert page == []  # nothing stored
    body = b"unsubscribe\r\n" + (b"x" * 76 + b"\r\n") * 40_000  # 3 MB of body under a small header
    code, message_id = await in_thread(send_raw, smtp_port(client), forged("small@example.net") + body)
    assert code == 250 and message_id is not None


async def test_the_overall_budget_holds_whatever_the_network(aiohttp_client, tmp_path, store):
    settings = make_settings(tmp_path / "data", store, smtp={
        "unproven_requests_per_network_per_hour": 10, "unproven_requests_per_hour": 4})
    client = await aiohttp_client(build_app(settings))
    key = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")
    victims = [f"far{n}@example.org" for n in range(6)]
    for n, victim in enumerate(victims):
        code, _ = await in_thread(send_raw, smtp_port(client), forged(victim), f"s{n}@example.com")
        assert code == 250
    await settle_all(client)
    assert sum([await suppressed(client, key, v) for v in victims]) == 4
    review, _ = await client.app[SERVICE].review.inbox("review", None, 100)
    assert len(review) == 2 and all(any("in the last hour (limit 4)" in r for r in m.reasons) for m in review)


async def test_the_budget_counts_what_earlier_batches_honoured(client, admin_key):
    """The budget is counted once a batch: a second flood is held to what the first left of it."""
    first = [f"early{n}@example.org" for n in range(6)]
    then = [f"later{n}@example.org" for n in range(10)]
    for wave in (first, then):
        for n, victim in enumerate(wave):
            code, _ = await in_thread(send_raw, smtp_port(client), forged(victim), f"s{n}@example.com")
            assert code == 250
        await settle_all(client)  # each wave read in batches of its own
    assert all([await suppressed(client, admin_key, v) for v in first])
    assert sum([await suppressed(client, admin_key, v) for v in then]) == 4  # 10 an hour from one network


async def test_one_batch_from_several_networks_counts_each_network_on_its_own(client, admin_key):
    service, intake = client.app[SERVICE], client.app[INTAKE]
    networks = {"192.0.2.0/24": 12, "198.51.100.0/24": 3, "203.0.113.0/24": 11}
    victims = {}
    for network, count in networks.items():
        for n in range(count):
            victim = f"v{n}.{network.split('.')[2]}@example.org"
            victims[victim] = network
            await service.store.add_message(forged(victim), f"s{n}@example.com", ["PLUSinfo@plusnxt.com"],
                                            network=network)
    await intake.handle_pending()  # read as they were stored: one batch of 26
    honoured = {network: 0 for network in networks}
    for victim, network in victims.items():
        honoured[network] += await suppressed(client, admin_key, victim)
    assert honoured == {"192.0.2.0/24": 10, "198.51.100.0/24": 3, "203.0.113.0/24": 10}


@pytest.mark.sqlite_only  # run once: it makes its own PostgreSQL database for two instances
@pytest.mark.skipif(not postgres_available() and os.environ.get("CI") != "true",
                    reason="needs Debian's postgresql package (.ci/run installs it)")
async def test_two_instances_reading_one_flood_at_once_grant_one_budget(aiohttp_client, tmp_path):
    """Each instance claims its own share of a flood and reads it at the same time as the other;
    the budget's counts and the settling of what they allowed are one instance's at a time
    (Store.budget_lock), so the network's 10 an hour are granted once, not once an instance."""
    url = shared_server().create_database()
    clients = []
    for name in ("one", "two"):
        settings = settings_from_mapping({
            "service": {"data_dir": str(tmp_path / name)}, "store": {"url": url},
            "smtp": {"port": 0, "unproven_requests_per_network_per_hour": 10, "unproven_requests_per_hour": 100}})
        clients.append(await aiohttp_client(build_app(settings)))
    one, two = clients
    victims = [f"flood{n}@example.org" for n in range(40)]
    for n, victim in enumerate(victims):  # each instance reads what it stored: half the flood each
        await clients[n % 2].app[SERVICE].store.add_message(
            forged(victim), f"s{n}@example.com", ["PLUSinfo@plusnxt.com"], network="192.0.2.0/24")
    await asyncio.gather(one.app[INTAKE].handle_pending(), two.app[INTAKE].handle_pending())
    # Both read a share (not always 20 each: an instance's own worker may read some first; its
    # count holds those too), and the flood is read whole, once.
    handled = [client.app[INTAKE].handled for client in clients]
    assert min(handled) > 0 and sum(handled) == 40, handled
    honoured, _ = await one.app[SERVICE].review.inbox("request", None, 100)
    review, _ = await one.app[SERVICE].review.inbox("review", None, 100)
    assert (len(honoured), len(review)) == (10, 30)


async def test_a_person_writing_once_is_honoured_when_no_flood_is_under_way(client, admin_key):
    code, _ = await in_thread(send_raw, smtp_port(client), forged("jane@example.com"), "jane@example.com")
    assert code == 250

    async def honoured():
        return await suppressed(client, admin_key, "jane@example.com")

    assert await wait_until(honoured)


async def test_the_budgets_count_reads_at_most_its_limits_and_never_the_flood_kept_for_review(client):
    """Each batch of unproven requests asks the store how many were honoured in the hour; the answer is
    counted up to the limits from an index of honoured unproven requests alone, so a flood kept
    for review (3,000 rows in the hour) and the requests of the days before (2,000) are never
    read, and 15 honoured count as the limits need. Both stores' plans are checked: PostgreSQL's
    planner read the whole inbox for the count when a flood made the rows it wants rare."""
    settings, store = client.app[SERVICE].settings, client.app[SERVICE].store
    rows = ", ".join(f"('2026-12-04T10:00:00.000Z', 'x@example.com', '[]', 1, 'request', "
                     f"'2026-12-04T10:00:{n:02d}.000Z', 'none', '{network}')"
                     for n, network in enumerate(["192.0.2.0/24"] * 12 + ["198.51.100.0/24"] * 3))
    insert = "INSERT INTO inbox (received_at, mail_from, rcpt_to, size, status, processed_at, proof, network)"
    await in_thread(execute_from_outside, settings, f"{insert} VALUES {rows}")
    first = (await in_thread(execute_from_outside, settings, "SELECT min(id) FROM inbox"))[0][0]
    for count, status, at in ((3000, "review", "2026-12-04T10:30:00.000Z"), (2000, "request", "2026-12-03T10:00:00.000Z")):
        await in_thread(execute_from_outside, settings, f"WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n"
                        f" WHERE k < {count}) {insert} SELECT '{at}', 'x@example.com', '[]', 1, '{status}', '{at}',"
                        " 'none', '192.0.2.0/24' FROM n")
    since = "2026-12-04T09:30:00.000Z"
    other = first + 12  # the first of the three from another network
    networks = {first: "192.0.2.0/24", other: "198.51.100.0/24"}
    assert await store.unproven_budget(since, [first, other], 10, 100) == (
        networks, {"192.0.2.0/24": 10, "198.51.100.0/24": 3}, 15)
    assert await store.unproven_budget(since, [first], 100, 13) == ({first: "192.0.2.0/24"}, {"192.0.2.0/24": 12}, 13)
    assert await store.unproven_budget("2026-12-04T10:00:05.000Z", [first, other], 100, 100) == (
        networks, {"192.0.2.0/24": 6, "198.51.100.0/24": 3}, 9)
    for statement, values in ((store.q.UNPROVEN_FROM_NETWORK, (f"'{since}'", "'192.0.2.0/24'", "10")),
                              (store.q.UNPROVEN_FROM_ALL, (f"'{since}'", "100"))):
        for value in values:
            statement = statement.replace("?" if settings.store.url == "" else "%s", value, 1)
        if settings.store.url == "":
            plan = " ".join(str(row) for row in await in_thread(execute_from_outside, settings, f"EXPLAIN QUERY PLAN {statement}"))
            assert "inbox_unproven_honoured" in plan and "inbox_status" not in plan, plan
        else:
            await in_thread(execute_from_outside, settings, "ANALYZE inbox")  # as autovacuum soon would
            plan = " ".join(row[0] for row in await in_thread(execute_from_outside, settings, f"EXPLAIN {statement}"))
            assert "inbox_unproven_honoured" in plan and "Seq Scan on inbox" not in plan, plan


async def test_behind_a_relay_the_budget_is_the_network_its_received_header_names(aiohttp_client, tmp_path, store):
    # Before: mail relayed by this host's MTA (or the MX's forwarding rule) all came from one
    # network, the relay's, so ten requests an hour on the word of From were honoured in all.
    settings = make_settings(tmp_path / "data", store, smtp={
        "unproven_requests_per_network_per_hour": 10, "unproven_requests_per_hour": 100})  # relays: loopback
    client = await aiohttp_client(build_app(settings))
    key = await client.app[SERVICE].api_keys.create_api_key("admin", "admin")

    def relayed(victim: str, client_ip: str) -> bytes:
        # The relay's header on top; the one below it is the sender's to write, and is not read.
        return (f"Received: from sender.example (sender.example [{client_ip}])\r\n"
                f"\tby mx.plusnxt.com (Postfix) with ESMTPS id 4Zk; Sun, 6 Dec 2026 07:40:00 +0000\r\n"
                f"Received: from elsewhere ([192.0.2.{len(victim)}])\r\n").encode() + forged(victim)

    one_network = [(f"one{n}@example.org", f"198.51.100.{n + 1}") for n in range(11)]
    own_networks = [(f"own{n}@example.org", f"203.0.{n}.7") for n in range(3)]
    for n, (victim, ip) in enumerate(one_network + own_networks):
        code, _ = await in_thread(send_raw, smtp_port(client), relayed(victim, ip), f"s{n}@example.com")
        assert code == 250
    code, _ = await in_thread(send_raw, smtp_port(client), forged("unnamed@example.org"), "t@example.com")
    assert code == 250  # from the relay, naming no client: the overall budget alone
    await settle_all(client)
    honoured = [v for v, _ in one_network if await suppressed(client, key, v)]
    assert len(honoured) == 10
    assert all([await suppressed(client, key, v) for v, _ in own_networks])
    assert await suppressed(client, key, "unnamed@example.org")
    review, _ = await client.app[SERVICE].review.inbox("review", None, 100)
    assert [m.found[0] for m in review] == [v for v, _ in one_network if v not in honoured]


def test_the_network_is_read_from_the_relays_own_received_headers_only():
    import ipaddress

    from suppression.ratelimit import sending_network

    relays = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8")]
    hops = (b"Received: from mx2 (mx2 [10.1.2.3])\r\n\tby relay (Postfix)\r\n"  # the MX handed it to our relay
            b"Received: from mail.example (mail.example [IPv6:2001:db8:1::5])\r\n\tby mx2\r\n"
            b"Received: from forged ([198.51.100.9])\r\n\r\nReceived: from body ([192.0.2.1])\r\n")
    assert sending_network(("127.0.0.1", 25), hops, relays) == "2001:db8:1::/56"
    assert sending_network(("203.0.113.5", 25), hops, relays) == "203.0.113.0/24"  # no relay: its own
    assert sending_network(("::ffff:127.0.0.1", 25, 0, 0), hops, []) == "127.0.0.0/24"

    def relayed(first_line: bytes) -> bytes:
        return b"Received: " + first_line + b"\r\n\tby mx.plusnxt.com (Postfix)\r\nReceived: from me ([198.51.100.9])\r\n\r\n"

    # The HELO is the sender's to write (a review chose its network so): the client the relay
    # saw ends the line.
    for helo in (b"[198.51.1.9]", b"[127.0.0.1]", b"x[y", b"a" * 1500, b"h (h [192.0.2.7])"):
        assert sending_network(("127.0.0.1", 25), relayed(b"from " + helo + b" (unknown [203.0.113.5])"),
                               relays) == "203.0.113.0/24", helo[:20]
    # A relay's header that names no client this way: the relay's own network, as before.
    assert sending_network(("127.0.0.1", 25), relayed(b"from x (unknown)"), relays) == "127.0.0.0/24"
    # No Received header at all: written here, not relayed; the overall budget alone.
    assert sending_network(("127.0.0.1", 25), b"Subject: x\r\n\r\nReceived: from b (b [192.0.2.1])\r\n", relays) is None
