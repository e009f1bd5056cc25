"""The in-memory index behaves as a set, across the rebuilds that fold changes in."""

import asyncio
import contextlib
import hashlib
import random
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from suppression.index import KeySet, SuppressionIndex
from suppression.index import keys as index_keys
from suppression.model import ALL_EMAILS, Scope


@settings(max_examples=200)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=50),
    st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=300),
)
def test_keyset_is_a_set(initial, operations):
    pool = initial + [random.Random(n).getrandbits(64) for n in range(61)]
    keys, model = KeySet(np.array(initial, dtype=np.uint64)), set(initial)
    for add, which in operations:
        key = pool[which % len(pool)]
        if add:
            keys.add(key)
            model.add(key)
        else:
            keys.discard(key)
            model.discard(key)
        assert (key in keys) == (key in model)
    assert len(keys) == len(model)
    probe = np.array(pool, dtype=np.uint64)
    assert list(keys.contains_many(probe)) == [k in model for k in pool]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 100)), max_size=30),
    st.lists(st.tuples(st.sampled_from(["set", "discard", "check", "arrays"]), st.integers(0, 80),
                       st.integers(0, 100)), max_size=200),
    st.sampled_from([1, 3, 4096]),
)
def test_pauses_changed_since_they_were_sorted_are_checked_as_the_dict_says(initial, operations, sorted_after):
    """A bulk check sees each pause set or lifted since the arrays were sorted, whatever the batch
    repeats, before and after they are sorted again (here after 1, 3 or 4,096 changes)."""
    pool = [key for key, _ in initial] + [random.Random(n).getrandbits(64) for n in range(61)] + [2**64 - 1, 0]
    with mock.patch.object(index_keys, "_SORTED_AGAIN_AFTER", sorted_after):
        paused = index_keys.Paused(np.array([k for k, _ in initial], dtype=np.uint64),
                                   np.array([u for _, u in initial], dtype=np.int64))
        for op, which, moment in operations:
            key = pool[which % len(pool)]
            if op == "set":
                paused.set(key, moment)
            elif op == "discard":
                paused.discard(key)
            elif op == "arrays":
                keys, ends = paused.arrays(moment)
                assert dict(zip(keys.tolist(), ends.tolist())) == {k: e for k, e in paused.ends.items() if e > moment}
            else:
                asked = np.sort(np.array(pool[which % 7:] + pool[:which % 5], dtype=np.uint64))  # some twice
                assert paused.holds_sorted(asked, moment).tolist() == [paused.ends.get(k, 0) > moment
                                                                      for k in asked.tolist()]


def test_keyset_survives_many_rebuilds():
    rng = random.Random(7)
    keys, model = KeySet(), set()
    for _ in range(30_000):  # well past the 4,096-change rebuild threshold, several times
        key = rng.getrandbits(64)
        if model and rng.random() < 0.3:
            key = rng.choice(tuple(model)) if rng.random() < 0.5 else key
            keys.discard(key)
            model.discard(key)
        else:
            keys.add(key)
            model.add(key)
    probe = np.array(list(model)[:1000] + [rng.getrandbits(64) for _ in range(1000)], dtype=np.uint64)
    assert list(keys.contains_many(probe)) == [int(k) in model for k in probe]
    assert len(keys) == len(model)


def test_topic_check_includes_all_emails_but_not_other_topics():
    newsletters, promotions = Scope("newsletters"), Scope("promotions")
    index = SuppressionIndex({ALL_EMAILS: np.array([1], dtype=np.uint64)})
    index.add(newsletters, 2)
    assert index.contains(1, ALL_EMAILS) and index.contains(1, promotions)
    assert index.contains(2, newsletters)
    assert not index.contains(2, ALL_EMAILS)
    assert not index.contains(2, promotions)
    mask = index.contains_many(np.array([1, 2, 3], dtype=np.uint64), newsletters)
    assert list(mask) == [True, True, False]
    index.discard(ALL_EMAILS, 1)
    assert not index.contains(1, newsletters)


# -- bulk lookups in buckets (issue 24): the same answers as np.isin, whatever the keys


def _bucketed(keys: np.ndarray) -> KeySet:
    from suppression.index.keys import _BUCKETED_FROM

    assert len(np.unique(keys)) >= _BUCKETED_FROM  # large enough to be searched in buckets
    keyset = KeySet(keys)
    assert keyset._buckets is not None
    return keyset


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.sampled_from(["uniform", "clustered", "edges"]))
def test_bucketed_lookups_agree_with_isin(seed, shape):
    rng = np.random.default_rng(seed)
    count = 70_000
    if shape == "uniform":
        keys = rng.integers(0, 2**64 - 1, count, dtype=np.uint64, endpoint=True)
    elif shape == "clustered":  # most keys in a few buckets: correct, only slower
        keys = np.concatenate([rng.integers(0, 2**20, count // 2, dtype=np.uint64),
                               rng.integers(2**63, 2**63 + 2**24, count // 2, dtype=np.uint64)])
    else:
        keys = np.concatenate([np.array([0, 1, 2**63, 2**64 - 2, 2**64 - 1], dtype=np.uint64),
                               rng.integers(0, 2**64 - 1, count, dtype=np.uint64, endpoint=True)])
    keyset = _bucketed(keys)
    asked = np.concatenate([rng.choice(keys, 3000), keys[:5], rng.integers(0, 2**64 - 1, 3000, dtype=np.uint64,
                                                                             endpoint=True),
                            np.array([0, 3, 2**64 - 1, 2**64 - 3], dtype=np.uint64), keys[:5] + np.uint64(1)])
    expected = np.isin(asked, keys)
    assert (keyset.contains_many(asked) == expected).all()
    ordered = np.sort(asked)
    assert (keyset.contains_sorted(ordered) == np.isin(ordered, keys)).all()


def test_bucketed_lookups_follow_changes_and_rebuilds():
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**64 - 1, 80_000, dtype=np.uint64, endpoint=True)
    keyset, model = _bucketed(keys), set(int(k) for k in keys)
    for round_ in range(3):
        for key in rng.choice(keys, 3000):
            keyset.discard(int(key))
            model.discard(int(key))
        for key in rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True):
            keyset.add(int(key))
            model.add(int(key))
        keyset.sorted_keys()  # folds the changes in: new buckets
        asked = np.concatenate([keys[:4000], rng.integers(0, 2**64 - 1, 4000, dtype=np.uint64, endpoint=True)])
        assert list(keyset.contains_many(asked)) == [int(k) in model for k in asked], round_


async def test_the_first_hashed_check_builds_its_index_a_page_at_a_time(tmp_path, monkeypatch):
    """Before: the rows were read and hashed 10,000 at a time, 70-100 ms of the loop each (a
    review measured checks waiting 100 ms while a partner's first hashed check of a large list
    built it). Now the loop runs between pages of HASHED_PAGE rows: other work gets a turn after
    each page's digests at most. Counted in digests, not timed: a bound of 25 ms of the thread's
    CPU failed at 25.8 ms on a machine running at a third of its speed."""
    import asyncio
    import hashlib

    import suppression.index.hashed as hashed_module
    from suppression.addresses import key_of_canonical
    from suppression.index.hashed import HASHED_PAGE
    from suppression.model import ALL_EMAILS, ImportRow, signed64
    from suppression.service import SuppressionService
    from tests.support.settings import make_settings

    digests = 0
    real_hashed_key = hashed_module.hashed_key

    def counted_hashed_key(email, algorithm):
        nonlocal digests
        digests += 1
        return real_hashed_key(email, algorithm)

    monkeypatch.setattr(hashed_module, "hashed_key", counted_hashed_key)
    service = SuppressionService.of_settings(make_settings(tmp_path / "data"), ("k" * 40,))
    await service.start()
    try:
        rows = 20 * HASHED_PAGE
        emails = [f"user{i}@example.com" for i in range(rows)]
        await service.store.import_rows(iter(ImportRow(e, ALL_EMAILS, "import", signed64(key_of_canonical(e)), n)
                                             for n, e in enumerate(emails, start=1)), actor="test")
        await service.live.follow_changes()  # the import taken in before anything is measured
        between_turns = []

        async def other_work():
            last = digests
            while True:
                await asyncio.sleep(0)
                between_turns.append(digests - last)
                last = digests

        digest = hashlib.sha256(emails[-1].encode()).hexdigest().encode()
        other = asyncio.ensure_future(other_work())
        await asyncio.sleep(0)
        found = await service.suppressed_hashed_block(digest + b"\n", "sha256", ALL_EMAILS)
        other.cancel()
        assert found == digest + b"\n"
        assert sum(between_turns) >= rows  # every row was hashed while other work took turns
        assert max(between_turns) <= HASHED_PAGE, max(between_turns)  # a page at a time, at most
    finally:
        await service.stop()


@contextlib.asynccontextmanager
async def _service_listing(tmp_path, emails: list[str]):
    """A service on SQLite whose list holds `emails` (for all emails), all in its index."""
    from suppression.addresses import key_of_canonical
    from suppression.model import ImportRow, signed64
    from suppression.service import SuppressionService
    from tests.support.settings import make_settings

    service = SuppressionService.of_settings(make_settings(tmp_path / "data"), ("k" * 40,))
    await service.start()
    try:
        await service.store.import_rows(iter(ImportRow(e, ALL_EMAILS, "import", signed64(key_of_canonical(e)), n)
                                             for n, e in enumerate(emails, start=1)), actor="test")
        await service.live.follow_changes()
        yield service
    finally:
        await service.stop()


def _digests(*emails: str) -> bytes:
    return b"".join(hashlib.sha256(e.encode()).hexdigest().encode() + b"\n" for e in emails)


async def _hashed_build_under_way(service, block: bytes) -> asyncio.Future:
    """A first hashed check of `block`, its index being built."""
    building = asyncio.ensure_future(service.suppressed_hashed_block(block, "sha256", ALL_EMAILS))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not building.done()
    return building


async def test_a_write_during_the_first_hashed_checks_build_neither_waits_for_it_nor_is_missed(tmp_path):
    """Before: the hashed index was built under the lock the index follows the log with, so a
    one-click or an API write made meanwhile waited for the whole build (about 10 s a million
    rows), and a check after it answered, a second later, without it. Then, on SQLite, the
    check's details were read in the snapshot of the build's open cursor, and missed it."""
    from suppression.index.hashed import HASHED_PAGE
    from suppression.model import Reason, Source

    emails = [f"user{i}@example.com" for i in range(50 * HASHED_PAGE)]
    async with _service_listing(tmp_path, emails) as service:
        building = await _hashed_build_under_way(service, _digests(emails[-1]))
        writing = asyncio.ensure_future(service.suppress("new@example.com", ALL_EMAILS, Reason.UNSUBSCRIBE,
                                                         Source.ONE_CLICK, "recipient"))
        done, _ = await asyncio.wait({building, writing}, return_when=asyncio.FIRST_COMPLETED)
        assert writing in done and not building.done()  # the write did not wait for the build
        early = sum(service.live.answered_early.values())
        assert (await service.check("new@example.com", ALL_EMAILS)).suppressed
        assert sum(service.live.answered_early.values()) == early  # seen at once, not after a wait
        assert await building == _digests(emails[-1])
        # The write made while the rows were read is in the built index.
        assert await service.suppressed_hashed_block(_digests("new@example.com"), "sha256", ALL_EMAILS) \
            == _digests("new@example.com")


async def test_an_erasure_during_the_first_hashed_checks_build_is_in_the_index_it_builds(tmp_path):
    # The live index is read afresh from the rows after an erasure; a build begun before it reads
    # the rows again, and the erased address stays suppressed by its digest.
    from suppression.index.hashed import HASHED_PAGE

    emails = [f"user{i}@example.com" for i in range(30 * HASHED_PAGE)]
    async with _service_listing(tmp_path, emails) as service:
        asked = _digests(emails[0], emails[-1])
        building = await _hashed_build_under_way(service, asked)
        forgotten = service.live.hashed._forgotten
        await service.rights.erase(emails[0], "admin:test")
        assert service.live.hashed._forgotten == forgotten + 1  # read afresh: the build begun before is stale
        assert await building == asked
        assert await service.suppressed_hashed_block(asked, "sha256", ALL_EMAILS) == asked


async def test_an_erased_address_that_bounced_stays_suppressed_for_transactional_mail_in_a_hashed_check(tmp_path):
    # Before: the digests of erased addresses went into a hashed index as lasting opt-outs, never
    # as hard ones, so a transactional hashed check built from the rows missed a bounce.
    from suppression.model import Reason, Source

    async with _service_listing(tmp_path, []) as service:
        await service.suppress("bob@example.com", ALL_EMAILS, Reason.BOUNCE, Source.API, "admin:test")
        await service.suppress("kim@example.com", ALL_EMAILS, Reason.UNSUBSCRIBE, Source.API, "admin:test")
        for email in ("bob@example.com", "kim@example.com"):
            await service.rights.erase(email, "admin:test")
        asked = _digests("bob@example.com", "kim@example.com")
        assert (await service.check("bob@example.com", ALL_EMAILS, purpose="transactional")).suppressed
        assert await service.suppressed_hashed_block(asked, "sha256", ALL_EMAILS, "transactional") \
            == _digests("bob@example.com")
        assert await service.suppressed_hashed_block(asked, "sha256", ALL_EMAILS) == asked
