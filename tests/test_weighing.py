"""Own words weighed once: a remembered weighing decides exactly as a fresh one, the memo
stays bounded, and each judge remembers its own."""

import gc

import pytest

from suppression.inbound import evaluate, weighing
from suppression.inbound.corpus import read_batches, split
from suppression.inbound.judge import Judge, shipped_judge
from suppression.inbound.weighing import MEMO_CHARS, MEMO_SIZE, weigh
from tests.support.paths import ROOT

CORPUS = ROOT / "tests" / "corpus" / "reader"


@pytest.fixture
def fresh_memo(monkeypatch):
    monkeypatch.setattr(weighing, "_memos", weighing.weakref.WeakKeyDictionary())


def test_every_development_message_is_decided_the_same_when_its_words_are_remembered(fresh_memo, monkeypatch):
    records = split(read_batches(CORPUS))["development"]
    fresh = [evaluate.read(record) for record in records]  # each weighed as it comes (the memo is small)
    monkeypatch.setattr(weighing, "MEMO_SIZE", len(records) + 1)
    monkeypatch.setattr(weighing, "MEMO_CHARS", 10 ** 6)
    for record in records:
        evaluate.read(record)
    remembered = [evaluate.read(record) for record in records]  # every one from the memo now
    assert len(weighing._memos[shipped_judge()]) >= len({(r.subject, r.body) for r in records}) // 2
    assert remembered == fresh


def test_the_same_words_are_weighed_once_and_kept_while_they_are_used(fresh_memo):
    judge = shipped_judge()
    first = weigh("unsubscribe", "Please unsubscribe me.", judge)
    assert weigh("unsubscribe", "Please unsubscribe me.", judge) is first
    assert first.intent.asked == ("unsubscribe", "unsubscribe") and first.probability > 0.9
    for number in range(MEMO_SIZE - 1):  # fills the memo; the first, used in between, stays
        weigh("", f"remove me {number}", judge)
        if number % 100 == 0:
            weigh("unsubscribe", "Please unsubscribe me.", judge)
    assert len(weighing._memos[judge]) == MEMO_SIZE
    assert weigh("unsubscribe", "Please unsubscribe me.", judge) is first


def test_the_memo_holds_at_most_its_size_and_forgets_the_least_lately_used(fresh_memo):
    judge = shipped_judge()
    oldest = weigh("", "remove me 0", judge)
    for number in range(1, MEMO_SIZE + 10):
        weigh("", f"remove me {number}", judge)
    assert len(weighing._memos[judge]) == MEMO_SIZE
    assert weigh("", "remove me 0", judge) is not oldest  # forgotten, weighed again: the same weighing
    assert weigh("", "remove me 0", judge) == oldest


def test_long_words_are_weighed_each_time(fresh_memo):
    judge = shipped_judge()
    body = "Please unsubscribe me. " + "x" * MEMO_CHARS
    assert weigh("", body, judge) is not weigh("", body, judge)
    assert weighing._memos.get(judge, {}) == {}


def test_each_judge_remembers_its_own_weighings_and_forgets_them_with_it(fresh_memo):
    shipped = shipped_judge()
    cautious = Judge(shipped.weights, shipped.bias + 40.0, 0.5, 0.5)
    ours = weigh("", "Please unsubscribe me.", shipped)
    theirs = weigh("", "Please unsubscribe me.", cautious)
    assert theirs.probability > ours.probability
    del cautious, theirs
    gc.collect()
    assert list(weighing._memos.keys()) == [shipped]


def test_a_weighing_is_kept_a_minute_after_its_last_use_and_no_words_are_its_key(fresh_memo, monkeypatch):
    # A weighing holds the phrases found, which may name someone: an erasure must not leave them
    # in a reader's memory for long (the reader forgets them all after a minute with nothing to read).
    clock = [1000.0]
    monkeypatch.setattr(weighing.time, "monotonic", lambda: clock[0])
    judge = shipped_judge()
    named = weigh("", "Remove Jane Doe from the mailing list", judge)
    assert named.intent.asked == ("Remove Jane Doe from the mailing list",)
    assert not any(b"Jane" in key for key in weighing._memos[judge])
    clock[0] += weighing.MEMO_SECONDS - 1
    assert weigh("", "Remove Jane Doe from the mailing list", judge) is named  # used again: kept on
    clock[0] += weighing.MEMO_SECONDS - 1
    other = weigh("", "unsubscribe", judge)
    clock[0] += 2
    weigh("", "stop", judge)  # the first, unused for longer than a minute, goes
    assert [found for _, found in weighing._memos[judge].values()] == [other, weigh("", "stop", judge)]
    clock[0] += weighing.MEMO_SECONDS + 1
    weigh("", "remove me " * 300, judge)  # long words, never kept: the old ones go all the same
    assert weighing._memos[judge] == {}
    weigh("", "unsubscribe", judge)
    weighing.forget()
    assert len(weighing._memos) == 0
