"""Background tasks of the service: how one is stopped."""

import asyncio


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a task and wait until it has finished unwinding."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
