"""Single checks timed from outside, less the time the machine kept them from a core.

A test that bounds how long a check waits (100 ms while an attack or a fault is under way)
measures the machine as well as the service: on CI's 2 shared cores a process can sit
runnable for 100 ms and more waiting for a core, which is the machine's delay and not a wait
on anything of the service's. So each check's time has the time the kernel kept the
service's loop thread (its main thread) and the probing thread runnable but off a core taken
out (the second field of /proc/.../schedstat, read before and after each check); what is
left is the time spent waiting on something, the figure a bound applies to. A loop blocked
by work in another of the service's threads still counts: a thread waiting for the GIL or a
lock sleeps, it is not runnable. Both figures are in the failure message."""

import gc
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass


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


def worst_waiting(timings: list[Timing]) -> Timing:
    return max(timings, key=lambda t: t.waiting)


def describe(timings: list[Timing]) -> str:
    """The five worst, each as waiting (in all, of which off a core), for a failure message."""
    worst = sorted(timings, key=lambda t: t.waiting)[-5:]
    slowest = max(timings, key=lambda t: t.seconds)
    return (", ".join(f"{t.waiting * 1000:.0f} ms ({t.seconds * 1000:.0f} ms in all, {t.off_core * 1000:.0f} ms"
                      f" off a core; {t.what})" for t in worst)
            + f"; slowest in all {slowest.seconds * 1000:.0f} ms; {len(timings)} checks")


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
