"""Writes a test makes through the SQLite store's writer (`store._write(partial(execute, ...))`):
functions of a module, since the writer's process receives each write pickled by name."""

import sqlite3


def execute(statement: str, params, db: sqlite3.Connection) -> int:
    """One statement as a write (`partial(execute, statement, params)`): the rows it changed."""
    return db.execute(statement, params).rowcount


def execute_many(statement: str, rows: list, db: sqlite3.Connection) -> int:
    """executemany as a write (`partial(execute_many, statement, rows)`): the rows it changed."""
    return db.executemany(statement, rows).rowcount
