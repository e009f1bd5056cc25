"""What only the PostgreSQL store has: writes committed in groups, ordered across processes,
and claims of stored mail (each message handled by one instance)."""

import asyncio
import os

import psycopg
import pytest

from suppression.errors import NotFound, StoreUnavailable
from suppression.model import ALL_EMAILS, ImportRow, Outcome, Scope, Traces
from suppression.store import postgresql
from suppression.store.postgresql import PostgresStore
from tests.support.latency import longest_hold
from tests.support.postgres import available, shared_server

pytestmark = pytest.mark.skipif(not available() and os.environ.get("CI") != "true",
                                reason="needs Debian's postgresql package (.ci/run installs it)")


@pytest.fixture
async def stores():
    url = shared_server().create_database()
    opened = []

    async def open_store(serving: bool = False) -> PostgresStore:
        store = PostgresStore(url)
        await store.open()
        if serving:
            await store.join()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


async def test_a_failing_write_in_a_group_is_its_own_failure_and_the_others_commit(stores):
    store = await stores()
    results = await asyncio.gather(
        store.suppress("a@example.com", 1, ALL_EMAILS, "manual", "api", "t"),
        store.resolve_message(999, "resolved", [], ALL_EMAILS, "manual", "desk", "t", None),
        store.suppress("b@example.com", 2, ALL_EMAILS, "manual", "api", "t"),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound)
    assert results[0][1] < results[2][1]  # (the rolled-back try used up some ids: gaps are harmless)
    assert [c.email for c in await store.changes_after(0, 10)] == ["a@example.com", "b@example.com"]


async def test_a_follower_reading_after_its_cursor_while_two_processes_write_misses_nothing(stores):
    # Ids are committed in order (the change log's lock), so "after my cursor" never skips a
    # change that took its id earlier and committed later.
    one, two, follower = await stores(), await stores(), await stores()
    seen: list[int] = []
    writing = True

    async def follow():
        cursor = 0
        while writing or cursor < await follower.newest_change():
            for change in await follower.changes_after(cursor, 1000):
                seen.append(change.id)
                cursor = change.id
            await asyncio.sleep(0)

    following = asyncio.create_task(follow())
    await asyncio.gather(*(
        (one if n % 2 else two).suppress(f"p{n}@example.com", n, ALL_EMAILS, "manual", "api", "t") for n in range(300)
    ), one.import_rows([ImportRow(f"i{n}@example.com", ALL_EMAILS, "import", 1000 + n, n) for n in range(500)], "cli"))
    writing = False
    await following
    assert len(seen) == 800 and seen == sorted(set(seen))


async def test_a_message_is_claimed_by_one_instance_and_a_dead_ones_claims_are_taken_over(stores, monkeypatch):
    first, second = await stores(serving=True), await stores(serving=True)
    ids = [await first.add_message(b"Subject: x\r\n\r\nunsubscribe\r\n", f"s{n}@example.com", ["info@x"])
           for n in range(4)]
    assert [m[0] for m in await second.pending_messages(10)] == []  # the first's own, and it is alive
    assert [m[0] for m in await first.pending_messages(10)] == ids
    outcome = Outcome("request", [], [], ALL_EMAILS, None, None, None, None, [], None)
    await first.settle_message(ids[0], outcome, [], None, "email", "email:1")
    await first.close()  # as good as dead to the others once its heartbeat is old
    monkeypatch.setattr("suppression.store.pg_instances.ALIVE_SECONDS", 0)
    taken = [m[0] for m in await second.pending_messages(10)]
    assert taken == ids[1:]
    # The first, were it to come back with a late result for a message taken over, is refused.
    late = PostgresStore(first.url)
    await late.open()
    late.instance = first.instance
    try:
        assert await late.settle_message(ids[1], outcome, [("z@example.com", 9)], "unsubscribe", "email", "x") is None
        assert await late.suppressions_of("z@example.com") == []
    finally:
        await late.close()


async def test_the_index_keys_are_read_in_pages_whole_and_sorted_as_unsigned(stores, monkeypatch):
    monkeypatch.setattr("suppression.store.pg_bulk._KEYS_PAGE", 3)  # pages of three: boundaries everywhere
    store = await stores()
    keys = [-(2**63), -5, -1, 0, 1, 7, 2**62, 2**63 - 1]
    await store.import_rows([ImportRow(f"k{n}@example.com", ALL_EMAILS, "import", key, n) for n, key in enumerate(keys)], "cli")
    await store.suppress("n@example.com", 42, Scope("newsletters"), "manual", "api", "t")
    cursor, loaded = await store.load_index_keys()
    assert cursor == await store.newest_change()
    assert loaded[ALL_EMAILS].tolist() == sorted(k % 2**64 for k in keys)
    assert loaded[Scope("newsletters")].tolist() == [42]


async def test_the_audit_trail_is_append_only_on_the_server_too(stores):
    store = await stores()
    await store.suppress("a@example.com", 1, ALL_EMAILS, "manual", "api", "t")
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as other:
        for statement in ("UPDATE changes SET actor = 'someone else'", "DELETE FROM changes"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                other.execute(statement)
        # The one update allowed: an erasure replacing the address by its keyed hash.
        other.execute("UPDATE changes SET email = 'erased:abc' WHERE email = 'a@example.com'")


async def test_instances_starting_together_migrate_once_and_a_newer_schema_is_refused(stores):
    url = shared_server().create_database()
    together = [PostgresStore(url) for _ in range(3)]
    await asyncio.gather(*(store.open() for store in together))
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True) as other:
            versions = [v for (v,) in other.execute("SELECT version FROM schema_version ORDER BY version")]
            assert versions == list(range(1, len(versions) + 1))  # each number once
            other.execute("INSERT INTO schema_version VALUES (%s)", (len(versions) + 1,))
    finally:
        for store in together:
            await store.close()
    newer = PostgresStore(url)
    with pytest.raises(StoreUnavailable, match="newer than this program"):
        await newer.open()


async def test_text_with_nul_is_kept_with_a_replacement_character_and_erasure_still_works(stores):
    store = await stores()
    message = await store.add_message(b"Subject: a\x00b\r\n\r\nx\r\n", "jo\x00e@example.com", ["info@x"])
    outcome = Outcome("review", ["odd\x00"], [], ALL_EMAILS, "jo\x00e@example.com", "a\x00b", None, None, [], "w\x00")
    await store.settle_message(message, outcome, [], None, "email", "email:1")
    stored = await store.get_message(message)
    assert (stored.mail_from, stored.subject) == ("jo\ufffde@example.com", "a\ufffdb")
    assert stored.reasons == ["odd\x00"]  # inside JSON text a NUL is an escape, kept as it was
    await store.suppress("nul@example.com", 5, ALL_EMAILS, "unsubscribe", "one-click", "t",
                         detail='{"why": "other", "why_text": "a\\u0000b"}')
    scopes, _, _ = await store.erase("nul@example.com", "erased:n", 6, {"sha256": 1, "md5": 2}, Traces(), str, "t")
    assert scopes == [ALL_EMAILS] and [c.detail for c in await store.changes_of("erased:n")][0] == '{"why": "other"}'


async def test_an_instance_not_heard_from_for_a_day_is_forgotten_and_a_recent_one_kept(stores, monkeypatch):
    monkeypatch.setattr("suppression.store.pg_instances._RECOUNT_BEATS", 1)  # the clean-up at every heartbeat
    store = await stores()
    async with await psycopg.AsyncConnection.connect(store.url, autocommit=True) as conn:
        await conn.execute("INSERT INTO instances (id, cursor, seen_at) VALUES"
                           " ('killed', 0, now() - interval '2 days'), ('stopped', 0, now() - interval '1 hour')")
        await store.join()  # serving: a heartbeat each second
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            rows = {i for (i,) in await (await conn.execute("SELECT id FROM instances")).fetchall()}
            if "killed" not in rows or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    assert rows == {store.instance, "stopped"}


async def test_a_cli_write_waits_only_so_long_for_a_lock_a_stuck_instance_holds(stores, monkeypatch):
    monkeypatch.setattr("suppression.store.postgresql._CLI_LOCK_WAIT_SECONDS", 0.5)
    server = await stores(serving=True)
    await server.sync_receivers(["https://crm.example/hook"])
    cli = await stores()  # not serving: as the CLI opens it
    async with await psycopg.AsyncConnection.connect(server.url) as stuck:  # holds its transaction open
        await stuck.execute("SELECT 1 FROM webhook_receivers FOR UPDATE")
        async with asyncio.timeout(20):  # without the limit, it would wait for as long as `stuck`
            with pytest.raises(StoreUnavailable, match=r"waited over 0.5 s for a lock .* nothing was written"):
                await cli.replay_receiver("https://crm.example/hook", None)
        await stuck.rollback()
    assert (await cli.replay_receiver("https://crm.example/hook", None)).url == "https://crm.example/hook"


async def test_many_rows_are_made_python_objects_a_page_at_a_time_between_the_loops_other_work(stores):
    """psycopg makes a whole result Python objects in one call: one row a distinct sender (the
    recount of stored mail) held the loop 53-56 ms at 300,000 (a probing helper's)."""
    store = await stores()
    turns = 0

    async def other_work():
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async with store._conn() as conn:
        cursor = await conn.execute("SELECT n, 'sender' || n FROM generate_series(1, 25000) AS n")
        working = asyncio.create_task(other_work())
        await asyncio.sleep(0)
        before = turns
        rows = await postgresql._rows(cursor)
        between = turns - before
        working.cancel()
    assert len(rows) == 25000 and rows[0] == (1, "sender1") and rows[-1] == (25000, "sender25000")
    assert between >= 2  # a turn after each of the two full pages of 10,000


async def test_large_stored_mail_is_read_as_bytes_by_an_export_and_the_desk(stores, run_alone):
    """Rows of stored mail read as text came as hex, decoded on the loop: ten messages of 9 MB in
    an access export held it 156 ms (a probing helper's); these five, 98-104 ms. Now they come as
    bytes: 35 ms."""
    store = await stores()
    large = [b"Subject: large\r\n\r\n" + bytes([65 + n]) * (9 * 1024 * 1024) for n in range(5)]
    ids = [await store.add_message(raw, "sender@example.com", ["PLUSinfo@plusnxt.com"]) for raw in large]

    async def read():
        return await store.messages_by_id(ids), await store.get_message(ids[-1])

    with run_alone():
        (found, one), held = await longest_hold(read())
    assert [message.raw for message in found] == large and one.raw == large[-1]
    assert held.waiting < 0.08, f"the loop was held {held}"


async def test_large_pending_mail_is_claimed_whole_without_holding_the_loop(stores, run_alone):
    """The claim's rows are read in one step of the loop: ten messages of 10 MB held it 180-200 ms
    there (a bytea as text, decoded), fifty 0.75 s. Now the text of one larger than 256 KB comes
    by itself, in binary, each a step of its own."""
    store = await stores(serving=True)
    large = [b"Subject: large\r\n\r\n" + bytes([65 + n]) * (10 * 1024 * 1024) for n in range(10)]
    small = [b"Subject: small\r\n\r\nunsubscribe %d\r\n" % n for n in range(5)]
    for raw in large[:5] + small + large[5:]:
        await store.add_message(raw, "sender@example.com", ["PLUSinfo@plusnxt.com"])
    with run_alone():
        claimed, held = await longest_hold(store.pending_messages(50))
    assert [raw for _, raw, _ in claimed] == large[:5] + small + large[5:]
    assert [mail_from for _, _, mail_from in claimed] == ["sender@example.com"] * 15
    assert held.waiting < 0.08, f"the loop was held {held}"

