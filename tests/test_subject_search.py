"""The search of stored mail runs in a child process that a process starts once and keeps for its
next search (suppression/subject_search.py): kept while it works, replaced when it broke, and
ended with the process that started it, even when that one is killed."""

import os
import signal
import subprocess
import sys
import time

import pytest

from suppression.errors import StoreUnavailable
from suppression.subject_search import _Child
from tests.support.paths import ROOT


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def gone_within(pid: int, seconds: float) -> bool:
    """Whether the process has ended within `seconds` (a bounded poll, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while alive(pid):
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


async def test_a_search_whose_child_dies_says_so_and_the_next_search_has_a_new_child():
    broken = _Child()
    with pytest.raises(StoreUnavailable, match="its process ended"):
        await broken.run(os._exit, 3)
    await broken.close()
    after = _Child()
    assert alive(await searched_in(after))
    await after.close()


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
        assert alive(child)  # kept, idle, after its search
        parent.send_signal(signal.SIGKILL)
        assert parent.wait(timeout=30) == -signal.SIGKILL
    finally:
        parent.kill()
        parent.stdout.close()
    assert gone_within(child, 30), "the search child outlived the process that started it"
