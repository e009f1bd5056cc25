"""A database that cannot be read (a damaged file, a table changed underneath): reads answer 503
with the reason and Retry-After, never a 500 or a traceback, and recover by themselves."""

import sqlite3

from handlers.state import SERVICE
from tests.conftest import bearer


async def test_a_read_that_fails_in_the_driver_is_a_503_with_the_reason(client, admin_key):
    path = client.app[SERVICE].settings.database_path
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE inbox RENAME TO inbox_elsewhere")
    try:
        answer = await client.get("/v1/inbox", headers=bearer(admin_key))
        body = await answer.json()
        assert answer.status == 503 and answer.headers["Retry-After"] == "5"
        assert "cannot be read now" in body["error"] and "Traceback" not in body["error"]
        assert (await client.get("/healthz")).status == 503
        # What is answered from memory goes on.
        check = await client.get("/v1/suppressions/someone@example.com", headers=bearer(admin_key))
        assert check.status == 200
    finally:
        with sqlite3.connect(path) as db:
            db.execute("ALTER TABLE inbox_elsewhere RENAME TO inbox")
    answer = await client.get("/v1/inbox", headers=bearer(admin_key))
    assert answer.status == 200
