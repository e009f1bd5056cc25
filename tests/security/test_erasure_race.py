"""A message being read when its sender is erased (issue 21, item 4), on both stores.

Before: the erasure removed the raw text of a message not yet read but left it pending; the
reader, which had read it a moment before, then settled it with what it found: the sender in
plain in its columns, and a suppression under the plain address. Now the erasure puts such a
message before a person, and a reading that arrives after it is dropped.
"""

import pytest

from suppression.model import ALL_EMAILS, UNREAD_ERASED, Outcome
from suppression.service import SuppressionService
from suppression.errors import Conflict
from tests.support.outside import execute_from_outside

pytestmark = pytest.mark.both_stores


async def test_a_reading_that_arrives_after_the_erasure_is_dropped(settings):
    service = SuppressionService.of_settings(settings)
    await service.start(with_index=False)  # no reader: the test plays its late answer
    try:
        message = await service.store.add_message(b"From: Late.Reader@example.com\r\nSubject: unsubscribe\r\n\r\nPlease.\r\n",
                                              "Late.Reader@example.com", ["PLUSinfo@plusnxt.com"])
        await service.rights.erase("late.reader@example.com", "api:ops")
        stored = await service.review.inbox_message(message)
        assert (stored.status, stored.reasons, stored.raw) == ("review", [UNREAD_ERASED], None)
        read = Outcome("request", ["the sender's own address"], ["late.reader@example.com"], ALL_EMAILS,
                       "Late.Reader@example.com", "unsubscribe", None, None, [], "Please.")
        with pytest.raises(Conflict):
            await service.settle_message(message, read, service.live.stored_keys(["late.reader@example.com"]),
                                         "unsubscribe", None)
        rows = execute_from_outside(settings, f"SELECT status, sender, addresses, words FROM inbox WHERE id = {message}")
        assert rows == [("review", None, None, None)]
        assert execute_from_outside(settings, "SELECT count(*) FROM suppressions WHERE email LIKE '%late.reader%'")[0][0] == 0
    finally:
        await service.stop()
