"""The PostgreSQL driver's side of the store: how text is sent, and how the driver's errors
become the domain's (the server down or restarting: StoreUnavailable, a 503 or a 451 with the
reason; the pool reconnects by itself). Never a connection string in a message."""

import asyncio
import re

import psycopg
import psycopg.types.string
from psycopg_pool import PoolTimeout

from suppression.errors import StoreUnavailable

CONNECT_SECONDS = 3.0
# How long the pool goes on retrying a lost connection by itself before it leaves the next
# request to start again. psycopg_pool waits 1, 2, 4, 8... s between attempts for up to this
# long (its default, 300 s): after an outage of a minute, writes went on failing for up to
# another minute with the server back. Past this, a request starts a fresh round whose first
# attempt is at once: attempts are then at most about a second apart while requests come, and
# writes come back within about a second of the server, usually at once (bench/reconnect.py).
RECONNECT_SECONDS = 2.0
UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class _NulFreeText(psycopg.types.string.StrDumperUnknown):
    """PostgreSQL text cannot hold NUL (SQLite's can): mail and forms may carry one, so it is
    kept as U+FFFD, as a replacement character stands for what could not be kept."""

    def dump(self, obj: str):
        return super().dump(obj.replace("\x00", "\ufffd"))


async def configure(conn: psycopg.AsyncConnection) -> None:
    conn.adapters.register_dumper(str, _NulFreeText)


class ConnectionLost(StoreUnavailable):
    """A pooled connection failed in use (the server restarted, say): a fresh one may work."""


class QueryFailed(StoreUnavailable):
    """The server answered, and refused the statement: a table altered or damaged underneath
    (answered 503 like any database that cannot be used, never a 500), or a trigger's refusal."""


def raise_if_cancelled() -> None:
    # psycopg answers a cancelled task's query with QueryCanceled (an OperationalError) after
    # cancelling it on the server: that is our task stopping, not the database failing.
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def reason(exc: BaseException) -> str:
    # The driver's first line only: never the connection string (it may hold a password).
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"postgres(?:ql)?://\S+", "postgresql://…", text)[:300]
