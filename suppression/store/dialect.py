"""Each dialect's statements, built once at import: the shared ones (sql.py) in its placeholder
style, then its own (sqlite_sql.py, pg_sql.py: only what it spells differently, or runs alone).
The one place where SQLite's `?` becomes psycopg's `%s`, and a list parameter becomes SQLite's
`IN (?, ?, ...)` or PostgreSQL's array."""

from types import ModuleType

from suppression.store import pg_sql, sql, sqlite_sql


class Statements:
    """One dialect's statements as attributes (q.CLAIMS_ON), and the builders of those whose text
    depends on their arguments (q.counts(by))."""

    def __init__(self, placeholder: str, own: ModuleType):
        self.placeholder = placeholder
        # A name that starts with "_" is a piece of statements, not one.
        for name, value in vars(sql).items():
            if name.isupper() and not name.startswith("_") and isinstance(value, str):
                assert "%" not in value, name  # psycopg would read it as a placeholder
                setattr(self, name, self.text(value))
        for name, value in vars(own).items():
            if name.isupper() and not name.startswith("_") and isinstance(value, str):
                setattr(self, name, value)
        self.stored_detail = own.stored_detail

    def __reduce__(self):
        # Sent to the SQLite writer's process with each write (sqlite_child.py): by name, not
        # every statement's text.
        return _dialect_of, (self.placeholder,)

    def text(self, statement: str) -> str:
        if self.placeholder == "?":
            # SQLite hands out the new row's id as lastrowid (steps.NEW_ID), for half the cost of
            # RETURNING's result row.
            return statement.removesuffix(" RETURNING id")
        return statement.replace("?", self.placeholder)

    def counts(self, by: tuple[str, ...]) -> str:
        return self.text(sql.counts(by))

    def desk_days(self, days: int) -> str:
        return self.text(sql.desk_days(days))


SQLITE = Statements("?", sqlite_sql)
POSTGRESQL = Statements("%s", pg_sql)


def _dialect_of(placeholder: str) -> Statements:
    return SQLITE if placeholder == "?" else POSTGRESQL


_ARRAYS = (("= ANY(", "IN ("), ("<> ALL(", "NOT IN ("))


def spread(statement: str, params):
    """SQLite has no arrays: each list parameter of `= ANY(?)` becomes `IN (?, ?, ...)`, and of
    `<> ALL(?)` `NOT IN (?, ?, ...)` (SQLite takes an empty list there)."""
    if "= ANY(?)" not in statement and "<> ALL(?)" not in statement:
        return statement, params
    pieces = statement.split("?")
    text, flat = [pieces[0]], []
    for value, piece in zip(params, pieces[1:], strict=True):
        if isinstance(value, list):
            array, listed = next((a, listed) for a, listed in _ARRAYS if text[-1].endswith(a))
            text[-1] = text[-1].removesuffix(array) + listed
            text.append(", ".join("?" * len(value)) + piece)
            flat.extend(value)
        else:
            text.append("?" + piece)
            flat.append(value)
    return "".join(text), flat
