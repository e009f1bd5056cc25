"""The search of stored mail runs in a child process that a process starts once and keeps for its
next search (suppression/subject_search.py): kept while it works, with nothing of the people it
searched for; replaced when it broke; ended with the process that started it, even when that
one is killed."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from suppression.errors import StoreUnavailable
from suppression.inbound import mentions
from suppression.subject_search import _Child
from tests.support.paths import ROOT
from tests.support.processes import running


def gone_within(pid: int, seconds: float) -> bool:
    """Whether the process has ended within `seconds` (a bounded poll, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def searched_in(child: _Child) -> int:
    """The pid of the process the child's search runs in."""
    return await child.run(os.getpid)


async def test_the_next_search_runs_in_the_child_the_last_one_left():
    first = _Child()
    pid = await searched_in(first)
    assert pid != os.getpid()
    await first.close()
    second = _Child()
    assert await searched_in(second) == pid
    await second.close()


async def test_two_searches_at_once_each_have_a_child_and_one_child_is_kept():
    one, other = _Child(), _Child()
    pids = {await searched_in(one), await searched_in(other)}
    assert len(pids) == 2
    await one.close()
    await other.close()  # a child is kept already: this one ends
    kept = _Child()
    (ended,) = pids - {await searched_in(kept)}
    await kept.close()
    assert gone_within(ended, 30)


async def test_a_kept_child_that_was_killed_while_it_waited_is_replaced_without_an_error():
    first = _Child()
    pid = await searched_in(first)
    await first.close()
    os.kill(pid, signal.SIGKILL)
    second = _Child()
    assert await searched_in(second) not in (pid, os.getpid())
    await second.close()


def pid_noted_then_die(path: str) -> None:
    """In the child: note its pid in `path`, then end as a crash would."""
    with open(path, "a") as noted:
        noted.write(f"{os.getpid()}\n")
    os._exit(3)


def people_held() -> int:
    """In the child: how many people searched for it still holds."""
    return mentions._person.cache_info().currsize


async def test_a_page_that_kills_the_kept_child_fails_the_search_and_is_read_once(tmp_path):
    first = _Child()
    await searched_in(first)
    await first.close()
    noted = tmp_path / "pids"
    broken = _Child()
    with pytest.raises(StoreUnavailable, match="its process ended"):
        await broken.run(pid_noted_then_die, str(noted))
    await broken.close()
    assert len(noted.read_text().split()) == 1  # not read again in a new child
    after = _Child()
    assert running(await searched_in(after))  # and the next search has a child that answers
    await after.close()


async def test_the_kept_child_holds_no_one_it_searched_for():
    searching = _Child()
    named = await searching.run(mentions.messages_naming, ("jane@example.com",),
                                [(1, b"From: jane@example.com\r\n\r\nunsubscribe", (None,))], ("signing-key-" + "k" * 40,))
    assert named == [1] and await searching.run(people_held) == 1
    await searching.close()
    kept = _Child()
    assert await kept.run(people_held) == 0
    await kept.close()


async def test_the_child_of_a_cancelled_search_is_not_kept():
    cancelled = _Child()
    pid = await searched_in(cancelled)
    search = asyncio.ensure_future(cancelled.run(time.sleep, 1))
    await asyncio.sleep(0.2)  # handed over (a bounded pause, not a timing assertion: either way it is cancelled)
    search.cancel()
    with pytest.raises(asyncio.CancelledError):
        await search
    await cancelled.close()  # not waiting for the page it is on
    after = _Child()
    assert await searched_in(after) != pid
    await after.close()
    assert gone_within(pid, 30)


def test_the_kept_child_ends_with_the_process_that_started_it_even_by_sigkill():
    program = (
        "import asyncio, os, sys, time\n"
        "from suppression.subject_search import _Child\n"
        "async def search():\n"
        "    child = _Child()\n"
        "    pid = await child.run(os.getpid)\n"
        "    await child.close()\n"
        "    return pid\n"
        "print(asyncio.run(search()), flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        child = int(parent.stdout.readline())
        assert running(child)  # kept, idle, after its search
        parent.send_signal(signal.SIGKILL)
        assert parent.wait(timeout=30) == -signal.SIGKILL
    finally:
        parent.kill()
        parent.stdout.close()
    assert gone_within(child, 30), "the search child outlived the process that started it"
