"""Writes a test makes through the SQLite store's writer (`store._write(partial(execute, ...))`):
functions of a module, since the writer's process receives each write pickled by name."""

import sqlite3

from suppression.errors import Conflict


def execute(statement: str, params, db: sqlite3.Connection) -> int:
    """One statement as a write (`partial(execute, statement, params)`): the rows it changed."""
    return db.execute(statement, params).rowcount


def execute_many(statement: str, rows: list, db: sqlite3.Connection) -> int:
    """executemany as a write (`partial(execute_many, statement, rows)`): the rows it changed."""
    return db.executemany(statement, rows).rowcount


def execute_then_refuse(statement: str, params, db: sqlite3.Connection) -> int:
    """A write that changes something, then fails as a write of its own may (a Conflict)."""
    db.execute(statement, params)
    raise Conflict("refused after its first statement")
