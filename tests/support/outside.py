"""Reads of the store on a connection of another program: what a 250 or a 200 promised."""

import asyncio


def count_from_outside(settings, table: str) -> int:
    """Rows of a table, read on a connection of another program (what a 250 or a 200 promised)."""
    assert table.isidentifier()
    return execute_from_outside(settings, f"SELECT count(*) FROM {table}")[0][0]


def execute_from_outside(settings, statement: str) -> list:
    """One statement of the test's own, on a connection of another program, committed; its rows.
    Anything but a plain read may wait for a lock the app holds: never on the app's event loop."""
    if not _reads_only(statement):
        _not_on_an_event_loop()
    if settings.store.url:
        import psycopg

        with psycopg.connect(settings.store.url, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []
    import sqlite3

    db = sqlite3.connect(settings.database_path, isolation_level=None)
    try:
        return db.execute(statement).fetchall()
    finally:
        db.close()


def _reads_only(statement: str) -> bool:
    # A read waits for no lock: SQLite's WAL and PostgreSQL's snapshots.
    words = statement.upper().split()
    return words[0] == "SELECT" and "UPDATE" not in words


def _not_on_an_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # not on an event loop's thread: blocking here blocks nobody
    # The app under test runs on this loop: a write or DDL that waits for one of its
    # transactions would wait for ever (it hung a CI run in test_unreadable).
    raise AssertionError("a write from outside blocks the event loop; call it as"
                         " `await asyncio.to_thread(execute_from_outside, ...)`")
