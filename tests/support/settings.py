"""Settings and config files for a test, on the store the running test is on: SQLite, or a
database of this run's throwaway PostgreSQL server (tests/support/postgres.py)."""

from pathlib import Path

from suppression.config import settings_from_mapping
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
    return settings_from_mapping(raw)


def database_of(data_dir: Path) -> str:
    """The PostgreSQL database of a data folder: an empty one on first use, found again after (a
    restart), until the test that made the folder ends (give_back_databases).
    A database made while a module-scoped fixture is set up stays its own."""
    if data_dir not in _databases:
        _databases[data_dir] = shared_server().lend_database()
    return _databases[data_dir]


def give_back_databases(data_dirs) -> None:
    """The test that made these data folders has ended: their databases are emptied for the next
    test (PostgresServer.give_back)."""
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
