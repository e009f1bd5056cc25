
"""A database that cannot be read (a damaged file, a table changed underneath), on either store:
reads answer 503 with the reason and Retry-After, never a 500 or a traceback, and recover by
themselves."""

import asyncio

import pytest
from handlers.state import SERVICE

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores
from tests.support.http import bearer
from tests.support.outside import execute_from_outside


async def test_a_read_that_fails_in_the_driver_is_a_503_with_the_reason(client, admin_key):
    settings = client.app[SERVICE].settings
    # In a thread: ALTER TABLE waits for any transaction of the app's on that table, and the app
    # runs in this loop (called on the loop, a transaction the intake had open hung the run).
    await asyncio.to_thread(execute_from_outside, settings, "ALTER TABLE inbox RENAME TO inbox_elsewhere")
    try:
        answer = await client.get("/v1/inbox", headers=bearer(admin_key))
        body = await answer.json()
        assert answer.status == 503 and answer.headers["Retry-After"] == "5"
        assert "cannot be read" in body["error"] and "Traceback" not in body["error"]
        assert "inbox" in body["error"]  # the driver's reason: which table is missing
        assert (await client.get("/healthz")).status == 503
        # What is answered from memory goes on.
        check = await client.get("/v1/suppressions/someone@example.com", headers=bearer(admin_key))
        assert check.status == 200
    finally:
        await asyncio.to_thread(execute_from_outside, settings, "ALTER TABLE inbox_elsewhere RENAME TO inbox")
    answer = await client.get("/v1/inbox", headers=bearer(admin_key))
    assert answer.status == 200
