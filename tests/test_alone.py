"""The lock behind `@pytest.mark.alone` and `run_alone` (tests/support/alone.py): a test that
holds it shared can hold it exclusively for a part, with no deadlock and no other test beside
that part. Each RunLock here stands for one worker (its own open files, as in its own process);
probes with LOCK_NB on further files see who holds what, without waiting or timing anything.
While a thread may be waiting for a file, the kernel's table of locks is read instead: a probe
that took the file for a moment could win it from the waiter again and again on a busy machine
(it did, for 30 s, in CI)."""

import fcntl
import os
import threading

from tests.support.alone import RunLock


def _free(path, mode) -> bool:
    """Whether the lock file could be taken in `mode` now (and leaves it as it was)."""
    probe = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(probe, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(probe)


def _exclusive_locks(path) -> list[bool]:
    """This process's exclusive flocks on the file, from /proc/locks: for each, whether it waits
    (a waiter's line has `->`) or holds. Reading the table takes no lock, so it never competes.
    Matched by inode and by our pid, not by device: some filesystems report another device."""
    inode, found = str(os.stat(path).st_ino), []
    with open("/proc/locks") as table:
        for fields in (line.split() for line in table):
            waiting = fields[1] == "->"
            kind, _, mode, pid, where = fields[2:7] if waiting else fields[1:6]
            if kind == "FLOCK" and mode == "WRITE" and int(pid) == os.getpid() and where.rsplit(":", 1)[1] == inode:
                found.append(waiting)
    return found


def test_a_part_held_exclusively_waits_for_the_other_tests_and_keeps_new_ones_out(tmp_path):
    measuring, other = RunLock(tmp_path), RunLock(tmp_path)
    entered, leave, left, end = threading.Event(), threading.Event(), threading.Event(), threading.Event()

    def measuring_test():
        with measuring.shared():
            with measuring.exclusive_within_shared():
                entered.set()
                assert leave.wait(30)
            left.set()
            assert end.wait(30)

    with other.shared():  # a test on the other worker, running when the part begins
        worker = threading.Thread(target=measuring_test, daemon=True)
        worker.start()
        # It waits at the gate's far side, for the lock: the gate is taken (new tests stay out),
        # the part not begun.
        for _ in range(3000):
            if _exclusive_locks(tmp_path / "alone.lock") == [True]:
                break
            threading.Event().wait(0.01)  # a bounded poll for the thread to get there
        assert _exclusive_locks(tmp_path / "alone.lock") == [True]  # waiting for the lock...
        assert _exclusive_locks(tmp_path / "alone.gate") == [False]  # ...holding the gate
        assert not _free(tmp_path / "alone.gate", fcntl.LOCK_EX)
        assert not entered.is_set()
    assert entered.wait(30)  # the other test ended: the part runs
    assert not _free(tmp_path / "alone.lock", fcntl.LOCK_SH)  # no test can start beside it
    leave.set()
    assert left.wait(30)
    # After the part the test holds it shared again: others run beside it, an `alone` test waits.
    assert _free(tmp_path / "alone.lock", fcntl.LOCK_SH)
    assert not _free(tmp_path / "alone.lock", fcntl.LOCK_EX)
    end.set()
    worker.join(30)
    assert _free(tmp_path / "alone.lock", fcntl.LOCK_EX)


def test_two_tests_each_holding_a_part_exclusively_take_turns(tmp_path):
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    inside: list[str] = []
    overlaps: list[list[str]] = []
    both_started = threading.Barrier(2, timeout=30)

    def test(name: str, lock: RunLock):
        with lock.shared():
            both_started.wait()  # both hold it shared before either asks for its part
            for _ in range(20):
                with lock.exclusive_within_shared():
                    inside.append(name)
                    if len(inside) > 1:
                        overlaps.append(list(inside))
                    inside.remove(name)

    # Daemon threads: were they to wait for each other for ever, the assertion below says so.
    workers = [threading.Thread(target=test, args=(name, lock), daemon=True)
               for name, lock in (("a", first), ("b", second))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not any(worker.is_alive() for worker in workers)  # neither waits for the other for ever
    assert overlaps == []
