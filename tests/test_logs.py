"""The log at its most detailed level (`[service] log_level = "DEBUG"`, as config.example.toml
offers) holds no address: the libraries that would write them are held back."""

import logging
from types import SimpleNamespace

import aiosqlite

from handlers.logs import configure_logging

QUIETED = ("mail.log", "aioimaplib", "aiosqlite", "psycopg.pool")


async def test_at_debug_level_the_log_holds_no_statement_of_the_database_and_so_no_address(tmp_path, caplog):
    # Before: aiosqlite logged every statement with its parameters at DEBUG, addresses among them.
    saved = {name: logging.getLogger(name).level for name in ("", *QUIETED)}
    logging.getLogger().setLevel(logging.DEBUG)  # as basicConfig(level="DEBUG") leaves it
    configure_logging(SimpleNamespace(service=SimpleNamespace(log_level="DEBUG")))
    try:
        with caplog.at_level(logging.DEBUG):
            async with aiosqlite.connect(tmp_path / "x.db") as db:
                await db.execute("SELECT ?", ("jane@example.com",))
            logging.getLogger("suppression.test").debug("the service's own lines still come")
        assert "the service's own lines still come" in caplog.text
        assert "jane@example.com" not in caplog.text
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
