"""Stopping a background task even when a library loses the first cancellation."""

import asyncio

from suppression.background import cancel_and_wait


async def test_a_task_that_loses_the_first_cancellation_is_stopped_all_the_same(caplog):
    async def loop_that_swallows_once():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # as a library's own handling of a cancelled query can end
        await asyncio.sleep(3600)  # and then the loop sleeps until its next round

    task = asyncio.create_task(loop_that_swallows_once(), name="retention")
    await asyncio.sleep(0)
    async with asyncio.timeout(10):  # the old cancel_and_wait waited the hour
        await cancel_and_wait(task)
    assert task.cancelled()
    assert "did not stop when cancelled" in caplog.text


async def test_a_task_that_failed_raises_its_error_to_whoever_stops_it():
    async def fails():
        raise ValueError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    try:
        await cancel_and_wait(task)
    except ValueError as error:
        assert str(error) == "broken"
    else:
        raise AssertionError("the task's error was lost")
