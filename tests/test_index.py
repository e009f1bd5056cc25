"""The in-memory index behaves as a set, across the rebuilds that fold changes in."""

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from suppression.index import KeySet, SuppressionIndex
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
