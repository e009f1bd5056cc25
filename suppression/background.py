"""Background tasks of the service: how one is stopped, and how one nobody awaits ends."""

import asyncio
import logging

from suppression.errors import StoreUnavailable

log = logging.getLogger(__name__)

_RECANCEL_SECONDS = 1.0


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a task and wait until it has finished unwinding.

    Cancelled again each second until it has: a cancellation that meets a library's own
    handling of it (psycopg cancelling the query on the server, asyncio.timeout on 3.11) can be
    lost, and a loop that then sleeps for an hour would hold up the stop for that hour."""
    if task is None:
        return
    task.cancel()
    while True:
        await asyncio.wait({task}, timeout=_RECANCEL_SECONDS)
        if task.done():
            break
        log.warning("background task %r did not stop when cancelled; cancelling it again", task.get_name())
        task.cancel()
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()


class Wakeup:
    """Wakes whoever waits: set() wakes every current waiter, wait() returns at the next set()
    or after a timeout. (The writes a webhook receiver's loop waits for, on either store.)"""

    def __init__(self):
        self._event = asyncio.Event()

    def set(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for can lose a cancellation that meets the
        # wake-up, and a stopping task would then wait here for ever.
        try:
            async with asyncio.timeout(timeout):
                await self._event.wait()
        except TimeoutError:
            pass


def retrieve(task: asyncio.Task) -> None:
    """A task a check stopped waiting for: its outcome is read here, so an error is logged once
    (a database away is expected and said by the follower) rather than as "never retrieved"."""
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None and not isinstance(failure, StoreUnavailable):
        log.error("%s failed", task.get_name(), exc_info=failure)
