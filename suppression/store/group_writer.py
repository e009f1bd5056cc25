"""The PostgreSQL store's group writer: ordered writes (those that may log a change or an
event) queue here, and one task commits whatever has gathered as one group, under one lock
(postgresql.py's _commit_group)."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from suppression.background import cancel_and_wait
from suppression.errors import StoreUnavailable

Work = Callable[[psycopg.AsyncConnection], Awaitable[Any]]
MAX_GROUP = 256  # writes committed together at most


class GroupWriter:
    """Ordered writes queue here; one task commits whatever has gathered as one group."""

    def __init__(self, commit: Callable[[list[tuple[Work, asyncio.Future]]], Awaitable[None]]):
        self._commit = commit
        self._queue: asyncio.Queue[tuple[Work, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-group-writer")

    async def write(self, work: Work) -> Any:
        if self._task is None:
            raise StoreUnavailable("the database is closed")
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            await self._queue.join()
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while not self._queue.empty() and len(group) < MAX_GROUP:
                group.append(self._queue.get_nowait())
            try:
                await self._commit(group)
            except Exception as exc:  # never leave a caller waiting
                for _, future in group:
                    settle(future, error=exc)
            finally:
                for _ in group:
                    self._queue.task_done()


def settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return  # its caller has gone (cancelled)
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
