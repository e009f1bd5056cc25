"""Scope: the one spelling of "all emails or one topic" inside the service, and each edge's own."""

import sqlite3

import pytest

from suppression.model import ALL_EMAILS, ALL_NAME, Scope
from suppression.store.rows import MESSAGE_COLUMNS, change_of_row, message_of_row, suppression_of_row
from suppression.service import SuppressionService
from tests.support.settings import make_settings

NEWSLETTERS = Scope("newsletters")


@pytest.mark.parametrize("edge", [
    Scope.of_topic(None), Scope.of_topic(""),  # the API's and the CLI's missing or null topic
    Scope.of_stored(""),  # the database's topic column
    Scope.named(ALL_NAME), Scope.named(""),  # a page's form
])
def test_every_edge_spelling_of_all_emails_is_the_one_scope(edge):
    assert edge == ALL_EMAILS and edge.everything
    assert (edge.topic, edge.stored, edge.name) == (None, "", "all")


def test_a_topic_reads_the_same_from_every_edge_and_back():
    assert Scope.of_topic("newsletters") == Scope.of_stored("newsletters") == Scope.named("newsletters") == NEWSLETTERS
    assert (NEWSLETTERS.topic, NEWSLETTERS.stored, NEWSLETTERS.name) == ("newsletters", "newsletters", "newsletters")
    assert not NEWSLETTERS.everything
    assert len({ALL_EMAILS, Scope.of_stored(""), NEWSLETTERS, Scope.of_topic("newsletters")}) == 2  # dict keys


def test_rows_are_read_into_scopes():
    assert suppression_of_row(("a@example.com", "", "manual", "api", "t")).scope == ALL_EMAILS
    change = change_of_row((1, "t", "suppress", "a@example.com", "newsletters", "manual", "api", "x", None))
    assert change.scope == NEWSLETTERS
    # A message's row keeps NULL for all emails.
    row = {name: None for name in MESSAGE_COLUMNS} | {"id": 1, "received_at": "t", "mail_from": "", "size": 0,
                                                     "status": "request", "rcpt_to": "[]"}
    assert message_of_row(tuple(row[name] for name in MESSAGE_COLUMNS)).scope == ALL_EMAILS


async def test_all_emails_is_stored_as_empty_text_and_answered_as_null(tmp_path):
    service = SuppressionService.of_settings(make_settings(tmp_path / "data"), ("k" * 40,))
    await service.start()
    try:
        await service.suppress("a@example.com", ALL_EMAILS, "manual", "api", "t")
        await service.suppress("b@example.com", NEWSLETTERS, "manual", "api", "t")
        check = await service.check("a@example.com", NEWSLETTERS)  # all emails covers every topic
        assert check.as_dict()["topic"] == "newsletters" and check.as_dict()["scope"] == "all"
        assert (await service.check("a@example.com")).as_dict()["topic"] is None
    finally:
        await service.stop()
    with sqlite3.connect(tmp_path / "data" / "suppression.sqlite3") as db:
        rows = sorted(db.execute("SELECT email, topic FROM suppressions"))
    assert rows == [("a@example.com", ""), ("b@example.com", "newsletters")]
