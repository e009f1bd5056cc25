"""The tests' databases are lent (tests/support/settings.py, tests/support/postgres.py): a test
gets one as the store's first open leaves a new database (every migration applied, nothing else
in it, a database_id of its own), copied from one the migrations built once or emptied after the
test before; nothing of that test may reach it, and a test of an older program's database can
have it blank."""

import os
import sqlite3
import stat

import psycopg
import pytest

from suppression.model import ALL_EMAILS
from suppression.pg_schema import MIGRATIONS as PG_MIGRATIONS
from suppression.schema import MIGRATIONS
from suppression.store.postgresql import PostgresStore
from suppression.store.sqlite import SuppressionStore
from tests.support.postgres import available, shared_server
from tests.support.settings import blank_database, database_of, give_back_databases, make_settings

needs_postgresql = pytest.mark.skipif(not available() and os.environ.get("CI") != "true",
                                      reason="needs Debian's postgresql package (.ci/run installs it)")


def relations(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                            " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')").fetchone()[0]


def schema_of(url: str) -> list[tuple]:
    """Every relation, column and index of the database's schema `public`, and its version."""
    with psycopg.connect(url) as conn:
        columns = conn.execute("SELECT table_name, column_name, data_type, column_default, is_nullable"
                               " FROM information_schema.columns WHERE table_schema = 'public'"
                               " ORDER BY 1, 2").fetchall()
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1").fetchall()
        triggers = conn.execute("SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                                " WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1").fetchall()
        version = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return [*columns, *indexes, *triggers, version]


def oid_and_schema_owner(url: str) -> tuple[int, str, str]:
    """The database's identity, and who owns its schema `public` with what grants."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT d.oid, n.nspowner::regrole::text, n.nspacl::text FROM pg_database d, pg_namespace n"
                            " WHERE d.datname = current_database() AND n.nspname = 'public'").fetchone()


def database_id(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0]


def rows_of(url: str) -> dict[str, int]:
    """How many rows each table holds."""
    with psycopg.connect(url) as conn:
        tables = [table for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}  # our own names


@needs_postgresql
async def test_a_lent_database_is_new_and_migrated_and_one_given_back_is_emptied_and_unreachable(tmp_path):
    # The schema and rows the store's migrations make of a new database, applied there by the store.
    fresh = shared_server().create_database()
    store = PostgresStore(fresh)
    await store.open()
    await store.close()

    url = database_of(tmp_path / "first")
    assert database_of(tmp_path / "first") == url  # found again until the test ends (a restart)
    assert schema_of(url) == schema_of(fresh) and schema_of(url)[-1] == (len(PG_MIGRATIONS),)
    assert rows_of(url) == rows_of(fresh)
    store = PostgresStore(url)
    await store.open()
    await store.suppress("kept@example.com", 1, ALL_EMAILS, "manual", "api", "t")
    await store.close()
    assert rows_of(url) != rows_of(fresh)
    used, identity = database_id(url), oid_and_schema_owner(url)[0]
    left_open = psycopg.connect(url, autocommit=True)  # a process of the last test that never closed

    give_back_databases([tmp_path / "first"])
    again = database_of(tmp_path / "second")
    assert again != url and schema_of(again) == schema_of(fresh) and rows_of(again) == rows_of(fresh)
    assert oid_and_schema_owner(again)[0] == identity  # the same database, emptied, not another copy
    assert len({database_id(fresh), used, database_id(again)}) == 3  # each its own, as migration 3 makes it
    with pytest.raises(psycopg.OperationalError):
        left_open.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url)  # that process reconnecting finds nothing of the next test's
    store = PostgresStore(again)
    await store.open()
    assert await store.suppressions_of("kept@example.com") == [] and await store.count() == 0
    await store.close()
    given_back = database_id(again)
    give_back_databases([tmp_path / "second"])
    third = database_of(tmp_path / "third")  # emptied again
    assert database_id(third) not in {database_id(fresh), used, given_back}
    give_back_databases([tmp_path / "third"])
    shared_server().give_back(fresh)


@needs_postgresql
@pytest.mark.parametrize("change", [
    "ALTER TABLE meta ADD COLUMN note TEXT",
    "ALTER TABLE sender_requests DISABLE TRIGGER ALL",  # its foreign key's triggers too
    "GRANT SELECT ON meta TO PUBLIC",
    "CREATE POLICY everyone ON meta USING (true)",
])
def test_a_database_whose_schema_a_test_changed_is_never_lent_again(tmp_path, change):
    changed, kept = database_of(tmp_path / "data"), database_of(tmp_path / "other")
    with psycopg.connect(changed, autocommit=True) as conn:
        conn.execute(change)  # our own statements
    expected = schema_of(kept)
    changed_oid, kept_oid = (oid_and_schema_owner(url)[0] for url in (changed, kept))
    give_back_databases([tmp_path / "data", tmp_path / "other"])
    lent = [database_of(tmp_path / name) for name in ("x", "y", "z")]
    lent_oids = {oid_and_schema_owner(url)[0] for url in lent}
    assert kept_oid in lent_oids and changed_oid not in lent_oids  # the one emptied and lent again, the other dropped
    assert all(schema_of(each) == expected for each in lent)
    give_back_databases([tmp_path / name for name in ("x", "y", "z")])


@needs_postgresql
def test_a_lent_postgresql_database_made_blank_has_nothing_in_it(tmp_path):
    settings = make_settings(tmp_path / "data", "postgresql")
    assert relations(settings.store.url) > 10
    blank_database(settings)
    assert relations(settings.store.url) == 0
    new = shared_server().create_database()
    assert oid_and_schema_owner(settings.store.url)[1:] == oid_and_schema_owner(new)[1:]  # its schema as new
    give_back_databases([tmp_path / "data"])
    shared_server().give_back(new)


async def test_a_lent_sqlite_database_is_migrated_and_empty_with_its_own_id_and_the_stores_modes(tmp_path):
    fresh = tmp_path / "fresh.sqlite3"
    store = SuppressionStore(fresh)
    await store.open()  # the store applies every migration to a new file
    await store.close()

    lent = [make_settings(tmp_path / name, "sqlite").database_path for name in ("a", "b")]

    def schema(path) -> list[tuple]:
        with sqlite3.connect(path) as db:
            return [*db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name"),
                    db.execute("PRAGMA user_version").fetchone(), db.execute("PRAGMA journal_mode").fetchone()]

    def identity(path) -> str:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()[0]

    assert schema(lent[0]) == schema(lent[1]) == schema(fresh)
    assert schema(fresh)[-2:] == [(len(MIGRATIONS),), ("wal",)]
    assert len({identity(fresh), *map(identity, lent)}) == 3
    assert stat.S_IMODE(lent[0].stat().st_mode) == 0o600 and stat.S_IMODE(lent[0].parent.stat().st_mode) == 0o700
    store = SuppressionStore(lent[0])
    await store.open()
    assert await store.count() == 0
    await store.close()

    kept = identity(lent[0])
    settings = make_settings(tmp_path / "a", "sqlite")  # the same folder again: its database, kept
    assert settings.database_path == lent[0] and identity(lent[0]) == kept
    blank_database(settings)
    assert not lent[0].exists()
