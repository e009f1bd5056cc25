"""A write transaction written once for both stores: a generator that yields its statements as
steps, (what it wants back, statement, parameters), and is sent each one's result. The SQLite
store runs it in its writer's process (run_sqlite), the PostgreSQL store on a pooled connection
(run_postgresql); neither the logic nor the statements are written twice. A statement's error is
thrown into the generator where it yielded, as if the statement had raised there."""

import types
from collections.abc import Callable, Generator
from typing import Any

from suppression.store.dialect import spread

ROWS = "rows"  # every row
ROW = "row"  # the first row, or None
COUNT = "count"  # the rows changed
NEW_ID = "new id"  # the id of the row an INSERT ... RETURNING id added (SQLite: its lastrowid, dialect.py)
PAUSE = "pause"  # a moment for the event loop between long steps (PostgreSQL; SQLite's writer has a thread)

Steps = Generator[tuple[str, str, Any], Any, Any]


def run_sqlite(db, steps: Steps) -> Any:
    """Run `steps` on an sqlite3 connection (in the writer's transaction); what it returns. In
    the writer's process, where every microsecond a claim costs is one the writer spends: the
    loop is kept plain."""
    send, value = steps.send, None
    while True:
        try:
            how, statement, params = send(value)
        except StopIteration as done:
            return done.value
        send = steps.send
        try:
            value = _on_sqlite(db, how, statement, params)
        except Exception as exc:
            send, value = steps.throw, exc


def run_steps(steps: Callable[[], Steps], db) -> Any:
    """A fresh `steps()` run on an sqlite3 connection: the SQLite writer's work (`partial(run_steps,
    steps)`, pickled to its process with `steps` a partial of a function in writes.py)."""
    return run_sqlite(db, steps())


async def run_postgresql(conn, steps: Steps) -> Any:
    """Run `steps` on a psycopg connection (in its transaction); what it returns."""
    outcome: tuple[Any, BaseException | None] = (None, None)
    while True:
        try:
            how, statement, params = _advance(steps, outcome)
        except StopIteration as done:
            return done.value
        try:
            outcome = (await _on_postgresql(conn, how, statement, params), None)
        except Exception as exc:
            outcome = (None, exc)


def _advance(steps: Steps, outcome: tuple[Any, BaseException | None]):
    """The next step, given what the last one returned or raised."""
    value, error = outcome
    return steps.send(value) if error is None else steps.throw(error)


def _on_sqlite(db, how: str, statement: str, params) -> Any:
    if how == PAUSE:
        return None
    cursor = db.execute(*spread(statement, params))
    if how == COUNT:
        return cursor.rowcount
    if how == NEW_ID:
        return cursor.lastrowid
    # fetchall even for one row: a statement left unfinished would hold its savepoint.
    rows = cursor.fetchall()
    return rows if how == ROWS else (rows[0] if rows else None)


@types.coroutine
def _one_turn():
    """asyncio.sleep(0), what it is made of: the SQLite writer's process, which imports this
    module, would otherwise import asyncio for it (23 ms of every start of it)."""
    yield


async def _on_postgresql(conn, how: str, statement: str, params) -> Any:
    if how == PAUSE:
        await _one_turn()
        return None
    cursor = await conn.execute(statement, params)
    if how == COUNT:
        return cursor.rowcount
    if how == NEW_ID:
        return (await cursor.fetchone())[0]
    return await cursor.fetchall() if how == ROWS else await cursor.fetchone()


def one(how: str, statement: str, params=()) -> Steps:
    """A transaction of one statement."""
    return (yield how, statement, params)
