"""The tests' PostgreSQL databases are lent and given back (tests/support/postgres.py): a test
must get one as empty as CREATE DATABASE makes it, whatever the test before did with it, and
nothing of the test before may reach it."""

import os

import psycopg
import pytest

from suppression.model import ALL_EMAILS
from suppression.store.postgresql import PostgresStore
from tests.support.postgres import available, shared_server
from tests.support.settings import database_of, give_back_databases

pytestmark = pytest.mark.skipif(not available() and os.environ.get("CI") != "true",
                                reason="needs Debian's postgresql package (.ci/run installs it)")


def relations(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')").fetchone()[0]


def oid_and_schema(url: str) -> tuple[int, str, str]:
    """The database's identity, and who owns its schema `public` with what grants."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT d.oid, n.nspowner::regrole::text, n.nspacl::text FROM pg_database d, pg_namespace n"
                            " WHERE d.datname = current_database() AND n.nspname = 'public'").fetchone()


async def test_a_database_given_back_is_lent_again_empty_and_unreachable_by_its_old_name(tmp_path):
    fresh = oid_and_schema(shared_server().create_database())
    url = database_of(tmp_path / "first")
    assert database_of(tmp_path / "first") == url  # found again until the test ends (a restart)
    store = PostgresStore(url)
    await store.open()
    await store.suppress("kept@example.com", 1, ALL_EMAILS, "manual", "api", "t")
    await store.close()
    assert relations(url) > 10  # tables, indexes, sequences
    left_open = psycopg.connect(url, autocommit=True)  # a process of the last test that never closed
    identity = oid_and_schema(url)[0]

    give_back_databases([tmp_path / "first"])
    again = database_of(tmp_path / "second")
    assert oid_and_schema(again) == (identity, *fresh[1:])  # the same database, its schema as new
    assert relations(again) == 0
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url)  # that process reconnecting finds nothing of the next test's
    store = PostgresStore(again)
    await store.open()  # every migration again, from the first
    assert await store.suppressions_of("kept@example.com") == [] and await store.count() == 0
    await store.close()
    give_back_databases([tmp_path / "second"])


def test_a_database_that_cannot_be_emptied_is_never_lent_again(tmp_path):
    url = database_of(tmp_path / "data")
    with psycopg.connect(shared_server().url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}"')  # our own name, not input
    give_back_databases([tmp_path / "data"])
    other = database_of(tmp_path / "other")
    assert relations(other) == 0  # and giving it back raised nothing
