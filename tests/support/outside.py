"""Reads of the store on a connection of another program: what a 250 or a 200 promised."""


def count_from_outside(settings, table: str) -> int:
    """Rows of a table, read on a connection of another program (what a 250 or a 200 promised)."""
    assert table.isidentifier()
    return execute_from_outside(settings, f"SELECT count(*) FROM {table}")[0][0]


def execute_from_outside(settings, statement: str) -> list:
    """One statement of the test's own, on a connection of another program, committed; its rows."""
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
