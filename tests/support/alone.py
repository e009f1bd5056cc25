"""Tests that must run with no other test beside them, under pytest-xdist as without it.

A test that asserts how long something takes (the loop budget's 100 ms) measures the machine
as well as the service: with another worker starting a service on the second core, a wake-up
can be late for reasons that are not the service's. A test that binds a fixed port (8080, the
embedded default) collides with any other that does. Such a test is marked
`@pytest.mark.alone`; the whole test (setup, call, teardown) then holds this lock exclusively,
every other test holds it shared, so a worker reaching an `alone` test waits until the tests
running on the other workers end, and they start nothing new until it has finished.

A test that measures only part of what it does (it starts a service and fills it with mail,
then measures checks during one request) holds the lock exclusively for that part alone: the
`run_alone` fixture (`with run_alone(): ...`) gives up the test's shared hold, waits for the
exclusive one, and takes the shared hold back after. Its set-up then runs beside other tests,
which no longer wait for it; what is measured runs with no other test beside it, as before.

A writer-preferring lock of two files (flock): the gate keeps new shared holders out while an
exclusive one waits, so a stream of short tests on another worker cannot starve it."""

import contextlib
import fcntl
import os
from pathlib import Path


class RunLock:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._gate = os.open(folder / "alone.gate", os.O_RDWR | os.O_CREAT, 0o600)
        self._lock = os.open(folder / "alone.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def shared(self):
        self._take_shared()
        try:
            yield
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    def _take_shared(self) -> None:
        fcntl.flock(self._gate, fcntl.LOCK_EX)  # waits while an `alone` test waits or runs
        try:
            fcntl.flock(self._lock, fcntl.LOCK_SH)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def exclusive_within_shared(self):
        """From inside a test that holds the lock shared: hold it exclusively for a while.

        The shared hold is given up first (two tests each holding it shared and waiting for the
        other's to end would wait for ever), and taken back after, before the test goes on."""
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        try:
            with self.exclusive():
                yield
        finally:
            self._take_shared()

    @contextlib.contextmanager
    def exclusive(self):
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX)  # waits for the tests running elsewhere
            try:
                yield
            finally:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
        finally:
            fcntl.flock(self._gate, fcntl.LOCK_UN)
