"""Single checks timed from outside, less the time the machine kept them from a core.

A test that bounds how long a check waits (100 ms while an attack or a fault is under way)
measures the machine as well as the service: on CI's 2 shared cores a process can sit
runnable for 100 ms and more waiting for a core, which is the machine's delay and not a wait
on anything of the service's. So each check's time has the time the kernel kept the
service's loop thread (its main thread) and the probing thread runnable but off a core taken
out (the second field of /proc/.../schedstat, read before and after each check); what is
left is the time spent waiting on something, the figure a bound applies to. A loop blocked
by work in another of the service's threads still counts: a thread waiting for the GIL or a
lock sleeps, it is not runnable. Both figures are in the failure message.

The same holds for the probing thread: waiting for its own process's GIL, it sleeps. So the
checks beside an attack are timed by `Prober`, a process of their own (`python -m
tests.support.latency`), and the attack runs in the test's: eight senders' smtplib quoting 2 MB
each (17 ms of regular expression a message, holding the GIL) made a check in a thread beside
them "wait" 108-122 ms while the service's own worst was 18-32 ms."""

import asyncio
import dataclasses
import gc
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from tests.support.paths import ROOT

T = TypeVar("T")


@dataclass(frozen=True)
class Timing:
    started: float  # time.perf_counter() when the check was sent
    seconds: float  # from sending it to reading the whole answer
    off_core: float  # of those, seconds the service's loop or the prober waited for a core
    what: str

    @property
    def waiting(self) -> float:
        """The time spent waiting on something other than a core."""
        return self.seconds - self.off_core

    def __str__(self) -> str:
        return (f"{self.waiting * 1000:.0f} ms ({self.seconds * 1000:.0f} ms in all, {self.off_core * 1000:.0f} ms"
                f" off a core; {self.what})")


def _runnable_waiting(path: str) -> int:
    """Nanoseconds a thread has spent runnable but waiting for a core (schedstat's second field)."""
    with open(path, "rb") as stat:
        return int(stat.read().split()[1])


class Stopwatch:
    """Times calls made from any one thread against the service process `service_pid`."""

    def __init__(self, service_pid: int):
        self._service = f"/proc/{service_pid}/task/{service_pid}/schedstat"  # its loop's thread

    def time(self, call, what: str = "check"):
        """`call()`'s result and its Timing."""
        own = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        off_before = _runnable_waiting(self._service) + _runnable_waiting(own)
        started = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - started
        off_core = (_runnable_waiting(self._service) + _runnable_waiting(own) - off_before) / 1e9
        return result, Timing(started, seconds, off_core, what)


async def longest_hold(work: Awaitable[T]) -> tuple[T, Timing]:
    """(what awaiting `work` gives, a Timing of the longest the loop went without a turn for a
    ticker meanwhile, the time the machine kept the loop's thread from a core in it taken out).

    A loaded machine can keep the loop's thread off a core for tens of milliseconds: once, a
    hold of 83 ms against a bound of 80 while another session's tests ran (35 ms alone)."""
    loop, own = asyncio.get_running_loop(), f"/proc/self/task/{threading.get_native_id()}/schedstat"
    gaps: list[Timing] = []
    working = True
    last, off = time.perf_counter(), _runnable_waiting(own)

    async def tick() -> None:
        # The first gap runs from before the work starts: work that never lets the loop turn
        # is one gap as long as itself.
        nonlocal last, off
        while True:
            now, off_now = time.perf_counter(), _runnable_waiting(own)
            gaps.append(Timing(last, now - last, (off_now - off) / 1e9, "a turn of the loop"))
            last, off = now, off_now
            if not working:
                return
            await asyncio.sleep(0.001)

    ticking = loop.create_task(tick())
    try:
        result = await work
    finally:
        working = False
        await ticking  # its last gap ends after the work
    return result, worst_waiting(gaps)


def worst_waiting(timings: list[Timing]) -> Timing:
    return max(timings, key=lambda t: t.waiting)


def describe(timings: list[Timing]) -> str:
    """The five worst, each as waiting (in all, of which off a core), for a failure message."""
    worst = sorted(timings, key=lambda t: t.waiting)[-5:]
    slowest = max(timings, key=lambda t: t.seconds)
    return (", ".join(str(t) for t in worst)
            + f"; slowest in all {slowest.seconds * 1000:.0f} ms; {len(timings)} checks")


PROBED_PATH = "/v1/suppressions/probe@example.com"  # never listed: each answer says so


class Prober:
    """Single checks of an address never listed, one after another from a process of its own,
    each a Timing, from entering until `finish()` and at least `minimum` of them. The probing
    process holds its collector, and one untimed check warms the connection path first."""

    def __init__(self, base_url: str, key: str, service_pid: int, minimum: int = 20):
        self._argv = [sys.executable, "-m", "tests.support.latency", base_url, str(service_pid), str(minimum)]
        self._env = {**os.environ, "PROBE_KEY": key}  # not on its command line, which `ps` shows
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "Prober":
        self._process = subprocess.Popen(self._argv, cwd=ROOT, env=self._env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = self._process.stdout.readline()
        if ready != "ready\n":
            errors = self._ended()
            raise AssertionError(f"the probe did not start: {ready!r}\n{errors[-3000:]}")
        return self

    def finish(self) -> list[Timing]:
        output, errors = self._process.communicate(timeout=300)  # closes its input: what the probe waits for
        assert self._process.returncode == 0, f"the probe failed:\n{errors[-3000:]}"
        return [Timing(**fields) for fields in json.loads(output)]

    def __exit__(self, *exc) -> None:
        self._ended()

    def _ended(self) -> str:
        """Its standard error, once it has ended (killed if it had not)."""
        if self._process.returncode is None:
            self._process.kill()
            return self._process.communicate()[1]
        return ""


def _probe(base_url: str, key: str, service_pid: int, minimum: int) -> None:
    gc.disable()
    stopping = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stopping.set()), daemon=True).start()
    request = urllib.request.Request(base_url + PROBED_PATH, headers={"Authorization": f"Bearer {key}"})

    def check() -> None:
        with urllib.request.urlopen(request, timeout=60) as answer:
            body = answer.read()
        assert answer.status == 200 and json.loads(body)["suppressed"] is False, (answer.status, body[:300])

    check()
    print("ready", flush=True)
    stopwatch = Stopwatch(service_pid)
    timings = []
    while not stopping.is_set() or len(timings) < minimum:
        timings.append(stopwatch.time(check)[1])
    print(json.dumps([dataclasses.asdict(timing) for timing in timings]))


@contextmanager
def collector_paused():
    """The measuring process's own garbage collector held off while it measures: a full
    collection holds the GIL (up to 137 ms in a worker holding the whole suite), and a probing
    thread waiting for the GIL is not runnable, so its wait would count as the service's."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


if __name__ == "__main__":
    _probe(sys.argv[1], os.environ["PROBE_KEY"], int(sys.argv[2]), int(sys.argv[3]))
