"""Settings and config files for a test, on the store the running test is on: SQLite, or a
database of this run's throwaway PostgreSQL server (tests/support/postgres.py).

A test's database starts as the store's first open leaves a new one: every migration applied,
nothing in it. It is copied from one the migrations built once a process (a file, or a
PostgreSQL template): applying them again for each of a thousand tests took a tenth of the
suite's CPU. The migrations themselves are tested from an empty database: tests/test_store.py,
tests/test_pg_store.py, tests/test_instances.py and the other tests that make a database with
create_database, and on SQLite every service and CLI started from a config file (write_config
lends no file). `blank_database` gives a test one as an older program would find it."""

import atexit
import functools
import os
import secrets
import shutil
import sqlite3
import tempfile
from pathlib import Path

import psycopg

from suppression.config import settings_from_mapping
from suppression.datadir import FILE_MODE, FOLDER_MODE
from suppression.schema import MIGRATIONS
from suppression.store.sqlite_child import migrate
from tests.support.postgres import shared_server

_databases: dict[Path, str] = {}
_test_store = ["sqlite"]  # the running test's store: settings made without naming one use it


# Every test's mail comes from 127.0.0.1 and most of it is unproven: the tests of the hourly
# budgets (tests/security/test_forged_from.py) set it as an operator would, the rest lift it.
UNLIMITED_UNPROVEN = {"unproven_requests_per_network_per_hour": 1_000_000, "unproven_requests_per_hour": 1_000_000}


def make_settings(data_dir: Path, store: str | None = None, **tables):
    # SMTP on a port of the system's choosing, so tests never collide on 8025.
    store = store or _test_store[0]
    raw = {"service": {"data_dir": str(data_dir)}, "smtp": {"port": 0, **UNLIMITED_UNPROVEN}}
    if store == "postgresql":
        raw["store"] = {"url": database_of(data_dir)}
    for name, table in tables.items():
        raw.setdefault(name, {}).update(table)
    settings = settings_from_mapping(raw)
    if store == "sqlite" and not settings.service.data_dir.exists():
        _lend_sqlite_database(settings.database_path)
    return settings


@functools.cache
def _migrated_sqlite_file() -> Path:
    """A database file every migration was applied to, once a process."""
    folder = Path(tempfile.mkdtemp(prefix="suppression-template-"))
    atexit.register(shutil.rmtree, folder, True)
    template = folder / "migrated.sqlite3"
    db = sqlite3.connect(template, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")  # as the store's writer opens it
    migrate(db, template, MIGRATIONS)
    (version,) = db.execute("PRAGMA user_version").fetchone()
    db.close()  # the last connection: the log is folded into the file, and removed
    # Built from what the module holds now: inside opened_store(migrations=N) that would be N.
    assert version == len(MIGRATIONS), f"the template stopped at migration {version}"
    return template


def _lend_sqlite_database(path: Path) -> None:
    """A new data folder holding a database as the store's first open makes it (mode as the
    store's own), with a database_id of its own as migration 3 gives each database."""
    path.parent.mkdir(mode=FOLDER_MODE, parents=True)
    with open(_migrated_sqlite_file(), "rb") as source, \
            open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as copy:
        shutil.copyfileobj(source, copy)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("UPDATE meta SET value = ? WHERE key = 'database_id'", (secrets.token_hex(16),))
    finally:
        db.close()


def blank_database(settings) -> None:
    """Make the settings' database empty, as a new one before any migration, for a test of what
    an older program left (tests/support/migrations.py). Nothing may have it open."""
    if settings.store.url:
        with psycopg.connect(settings.store.url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
            conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.database_path}{suffix}").unlink(missing_ok=True)


def database_of(data_dir: Path) -> str:
    """The PostgreSQL database of a data folder: a new one on first use (migrated, empty), found
    again after (a restart), until the test that made the folder ends (give_back_databases).
    A database made while a module-scoped fixture is set up stays its own."""
    if data_dir not in _databases:
        _databases[data_dir] = shared_server().lend_database()
    return _databases[data_dir]


def give_back_databases(data_dirs) -> None:
    """The test that made these data folders has ended: their databases are emptied for the next
    test, or dropped if the test changed their schema (PostgresServer.give_back)."""
    for data_dir in data_dirs:
        shared_server().give_back(_databases.pop(data_dir))


def write_config(path: Path, data_dir: Path, http_port: int, smtp_port: int, extra: str = "", http: str = "") -> Path:
    """A config file on the running test's store; `extra` is more TOML, `http` more of [http]."""
    if _test_store[0] == "postgresql" and "[store]" not in extra:
        extra += f'\n[store]\nurl = "{database_of(data_dir)}"\n'
    path.write_text(
        f"""
[service]
base_url = "http://127.0.0.1:{http_port}"
data_dir = "{data_dir}"

[http]
port = {http_port}
{http}

[smtp]
port = {smtp_port}
unproven_requests_per_network_per_hour = 1000000
unproven_requests_per_hour = 1000000
{extra}
""",
        encoding="utf-8",
    )
    return path
