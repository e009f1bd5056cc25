"""The one writer of an SQLite file: one queue here, one connection in a process of its own
(sqlite_child.py), so that its work runs beside the event loop rather than taking turns with it
at the interpreter's lock.

No "database is locked" between our own writers; writes that arrive together share one
transaction and one fsync (group commit), sent to the child together; one failing write does not
undo the others in its group (the child runs the group again, each write in a SAVEPOINT of its
own, sqlite_child.commit_group). A write's future
resolves only after COMMIT returned in the child with synchronous=FULL: acknowledged means on
disk. When the disk or the file refuses writes, new work is refused (StoreUnavailable) with the
reason until a write succeeds again; after a read-only or I/O error the child opens the file
afresh before the next try. A group the child has not finished in DEADLINE_SECONDS (a stalled
disk, a long import) is waited for, since it may yet be committed, but the writes queued behind
it, and any asked for meanwhile, are refused at once and never written until it is finished. A
child that ends (killed) fails the writes it held with StoreUnavailable, and a new one starts
for the next. It starts at the first write, or at open when the file's schema must be made or
brought up to date: a worker that only answers checks ([http] workers) never starts one. The
store (suppression/store/sqlite.py) holds the queries.
"""

import asyncio
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import shutil
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from suppression.background import Wakeup, cancel_and_wait
from suppression.errors import BadImport, StoreUnavailable
from suppression.store import sqlite_child
from suppression.store.sqlite_child import ImportRows

log = logging.getLogger("suppression.store")

Write = Callable  # work(db), pickled to the child: a function of the module level, or a partial of one
MAX_GROUP = 512
_ROWS_A_PIECE = 5_000  # of an import, a message down the pipe
_CLOSE_SECONDS = 30.0
# Three times SQLite's wait for another process's lock (sqlite.py): past it, new writes are
# refused (503, SMTP 451: try again) rather than left waiting on a writer that may never answer.
DEADLINE_SECONDS = 30.0

# A fork of a small server process started once (multiprocessing's forkserver), not of the
# service, whose threads' locks a fork would copy; not a fresh interpreter each (200 ms and more).
_PROCESSES = multiprocessing.get_context("forkserver")
_PROCESSES.set_forkserver_preload(["suppression.store.sqlite_fork_server"])


class ChildEnded(Exception):
    """The writer's process ended, or its pipe broke; `unsent`: before it was given the work."""

    def __init__(self, message: str, unsent: bool = False):
        super().__init__(message)
        self.unsent = unsent


class Unsendable(StoreUnavailable):
    """A work that cannot be pickled (a closure): ours to fix; it fails alone, logged."""


class SqliteWriter:
    """open(), start(), then write(); close() lets queued writes finish first."""

    def __init__(self, path: Path, signal_path: Path):
        self.path, self._signal_path = path, signal_path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._child: _Child | None = None  # used only on self._thread
        self._migrations: list[str] = []
        self._queue: asyncio.Queue[tuple[Write, asyncio.Future]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._busy_timeout_ms = 10_000
        self._refused: str | None = None  # why the last group was refused; None: it was not
        self._written = Wakeup()  # set after each group of writes
        self.deadline_seconds = DEADLINE_SECONDS
        self._stalled: str | None = None  # the group with the child, past the deadline
        self.holding = 0  # writes with the child now

    async def open(self, busy_timeout_ms: int, migrations: list[str], now: bool) -> None:
        """`now`: start the child at once, to make or migrate the file (its errors raise here)."""
        self._busy_timeout_ms, self._migrations = busy_timeout_ms, list(migrations)
        if now:
            await self.run_plain(self._started_from_the_loop())

    def start(self) -> None:
        """Take writes; a read-only file is noted, so that writes are refused until it is writable."""
        self._task = asyncio.create_task(self._run(), name="store-writer")
        if not os.access(self.path, os.W_OK):
            self._note_failure("the database file is read-only")

    async def close(self) -> None:
        if self._task is not None:
            # Let queued writes finish: their callers were promised an answer.
            await self._queue.join()
            await cancel_and_wait(self._task)
            self._task = None
        await self.run_plain(self._close_child)
        self._thread.shutdown(wait=True)

    async def write(self, work: Write) -> Any:
        """Run `work(db)` in the next group's transaction; its result once committed."""
        if self._task is None:
            raise StoreUnavailable("the database is closed")
        if self._stalled is not None:
            raise StoreUnavailable(self._stalled)
        future = asyncio.get_running_loop().create_future()
        if isinstance(work, ImportRows):
            # Before the caller runs again (and closes the file the rows come from).
            future.add_done_callback(lambda done: done.cancelled() and work.abandoned.set())
        await self._queue.put((work, future))
        return await future

    async def run(self, fn: Callable) -> Any:
        """Run `fn(db)` in the child, outside any transaction (a checkpoint): its result."""
        self._started_from_the_loop()
        result, error, trace = await self.run_plain(partial(self._run_in_child, fn))
        self._log_unexpected(trace)
        if error is not None:
            raise error
        return result

    async def run_plain(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    @property
    def problem(self) -> str | None:
        """Why writes are refused now: the last group was, or the one with the child is past the
        deadline; None: neither."""
        return self._refused or self._stalled

    def announce(self) -> None:
        """Wake whoever waits in wait(): something may have been written."""
        self._written.set()

    async def wait(self, timeout: float) -> None:
        """Return after the next group of writes (or announce()), or after `timeout` seconds."""
        await self._written.wait(timeout)

    def _started_from_the_loop(self) -> Callable[[], Any]:
        """Make sure the fork server runs, from this thread (the loop's, the main one), not the
        writer's: the server ends when the thread that started it does (sqlite_fork_server.py).
        A few microseconds once it runs; the child itself is started on the writer's thread, which
        says why if it cannot be."""
        try:
            multiprocessing.forkserver.ensure_running()
        except OSError:
            pass  # the child's start fails too, and refuses the writes with the reason
        return self._started

    # -- on the writer thread: the child --------------------------------------------------

    def _started(self) -> "_Child":
        if self._child is not None and self._child.process.exitcode is not None:
            self._close_child()  # it ended between groups (a signal to the whole group: see sqlite_child)
        if self._child is None:
            self._child = _Child.start(self.path, self._busy_timeout_ms, self._migrations, self._signal_path)
        return self._child

    def _commit(self, works: list[Write]) -> list[tuple[Any, BaseException | None, str | None]]:
        """One group, sent to the child (started if need be; again, once, if it ended before it
        was given the group: then nothing of it was written)."""
        try:
            for _ in range(2):
                try:
                    return self._started().commit(works)
                except ChildEnded as exc:
                    self._close_child()
                    ended = exc
                    if not exc.unsent:
                        break
        except StoreUnavailable as exc:  # the child could not open the file
            return [(None, exc, None)] * len(works), str(exc)
        refusal = sqlite_child.unavailable(ended)
        return [(None, refusal, None)] * len(works), str(ended)

    def _run_in_child(self, fn: Callable):
        try:
            return self._started().run(fn)
        except ChildEnded as exc:
            self._close_child()
            return None, sqlite_child.unavailable(exc), None

    def _close_child(self) -> None:
        if self._child is not None:
            self._child.close()
            self._child = None

    # -- on the loop ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
            if self._child is None:  # not each group: each look at the fork server pings its resource tracker
                self._started_from_the_loop()
            deadline = asyncio.get_running_loop().call_later(self.deadline_seconds, self._stall, len(group))
            self.holding = len(group)
            try:
                outcomes, failure = await self.run_plain(partial(self._commit, [w for w, _ in group]))
            except BaseException as exc:
                deadline.cancel()
                self._stalled, self.holding = None, 0
                _fail_all(group, StoreUnavailable("the service is stopping"))
                for _ in group:
                    self._queue.task_done()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                log.exception("the database writer failed")
                continue
            deadline.cancel()
            self.holding = 0
            if self._stalled is not None:
                log.warning("the database finished the group of writes it had not (%s)", self._stalled)
                self._stalled = None
            if failure is not None:
                log.warning("database commit failed, %d writes refused: %s", len(group), failure)
                self._note_failure(failure)
            elif self._refused is not None:
                log.warning("the database takes writes again (after: %s)", self._refused)
                self._refused = None
            for (_, future), (result, error, trace) in zip(group, outcomes, strict=True):
                self._log_unexpected(trace)
                if not future.done():
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(result)
                self._queue.task_done()
            self.announce()

    def _stall(self, size: int) -> None:
        """The group with the child is past the deadline: what waits behind it is refused."""
        self._stalled = (f"the database has not finished a group of writes in {self.deadline_seconds:g} s"
                         f" (a stalled disk, or a long import); new writes are refused until it does")
        log.error("%s: %s (%d writes in the group)", self.path, self._stalled, size)
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(StoreUnavailable(self._stalled))
            self._queue.task_done()

    def _note_failure(self, reason: str) -> None:
        problem = f"{reason} ({_free_space(self.path.parent)})"
        if self._refused is None:
            log.error("the database %s refuses writes; new work is refused (503, SMTP 451) until it"
                      " takes them again: %s", self.path, problem)
        self._refused = problem

    @staticmethod
    def _log_unexpected(trace: str | None) -> None:
        if trace is not None:
            log.error("a database write failed unexpectedly\n%s", trace.rstrip())


class _Child:
    """The writer's process and the service's end of its pipe; used on the writer thread only."""

    def __init__(self, process, pipe):
        self.process, self.pipe = process, pipe

    @classmethod
    def start(cls, path: Path, busy_timeout_ms: int, migrations: list[str], signal_path: Path) -> "_Child":
        ours, theirs = _PROCESSES.Pipe()
        process = _PROCESSES.Process(target=sqlite_child.serve, name="store-writer", daemon=True,
                                     args=(theirs, path, busy_timeout_ms, migrations, signal_path))
        try:
            process.start()
        except OSError as exc:
            ours.close()
            raise StoreUnavailable(f"the database's writer could not start: {exc}") from None
        finally:
            theirs.close()
        child = cls(process, ours)
        try:
            (_, error, applied) = child._receive()
        except ChildEnded as exc:
            child.close()
            raise StoreUnavailable(f"the database's writer could not start: {exc}") from None
        if error is not None:
            child.close()
            raise error
        if applied[:1] == [1]:
            log.info("no database was at %s: a new, empty one is made", Path(path).absolute())
        for number in applied:
            log.info("applying database migration %d", number)  # as PostgreSQL's store says it
        return child

    def commit(self, works: list[Write]):
        """The group pickled whole, so that what its works share (the functions, the dialect, the
        classes of their values) is named once: under load, a one-click's claim pickled alone took
        43 µs to pickle (on the service's interpreter) and 38 to read (in the child), against 4.5
        and 4.6 in a group of 31 pickled whole (bench/README.md). A group that cannot be pickled
        whole (a closure, ours to fix), or read whole in the child, is sent again each work alone:
        one that fails fails alone."""
        imports = {number: work for number, work in enumerate(works) if isinstance(work, ImportRows)}
        for number, work in imports.items():
            work.number = number
        try:
            whole = pickle.dumps(works)
        except Exception:
            whole = None
        if whole is not None:
            done = self._exchange(("group", whole), imports)
            if done is not None:
                return done
        return self._commit_each_alone(works)

    def _commit_each_alone(self, works: list[Write]):
        pickled, refused, imports = [], {}, {}
        for number, work in enumerate(works):
            if isinstance(work, ImportRows):
                work.number, imports[len(pickled)] = len(pickled), work
            try:
                pickled.append(pickle.dumps(work))
            except Exception as exc:
                refused[number] = (None, Unsendable(f"a write could not be passed to the database's writer: {exc}"),
                                   traceback.format_exc())
        outcomes, failure = self._exchange(("group", pickled), imports)
        done = iter(outcomes)
        return [refused[number] if number in refused else next(done) for number in range(len(works))], failure

    def _exchange(self, group: tuple, imports: dict[int, ImportRows]):
        """Send a group and stream the rows of its imports as the child asks: (outcomes, failure),
        or None if the child could not read the group whole (nothing of it was written)."""
        try:
            self._send(group)
        except ChildEnded as exc:
            raise ChildEnded(str(exc), unsent=True) from None
        streamed = False
        while True:
            try:
                message = self._receive()
            except ChildEnded as exc:
                # Ended of itself (a stop signal, while it waited for work) before it began the
                # group: nothing of it was written, and it is given to the next child.
                if not streamed and self.process.exitcode == 0:
                    raise ChildEnded(str(exc), unsent=True) from None
                raise
            if message[0] != "rows?":
                break
            streamed = True
            self._stream(imports.pop(message[1]))
        return None if message[0] == "unread" else (message[1], message[2])

    def run(self, fn: Callable):
        self._send(("run", fn))
        return self._receive()[1:]

    def close(self) -> None:
        try:
            self._send(("close",))
            self._receive()
        except ChildEnded:
            pass
        self.pipe.close()
        self.process.join(_CLOSE_SECONDS)
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()

    def _stream(self, work: ImportRows) -> None:
        piece = []
        try:
            for row in work.rows:
                piece.append((row.email, row.scope.stored, row.reason, row.key, row.line))
                if len(piece) == _ROWS_A_PIECE:
                    self._send(("rows", piece))
                    piece = []
        except Exception as exc:  # the file's reading: a bad line (BadImport) undoes the import
            self._send(("raise", _INTERRUPTED if work.abandoned.is_set() else _picklable(exc)))
            return
        if work.abandoned.is_set():  # its end may be a file closed under it: undone, whatever was read
            self._send(("raise", _INTERRUPTED))
            return
        if piece:
            self._send(("rows", piece))
        self._send(("end",))

    def _send(self, message: tuple) -> None:
        try:
            data = pickle.dumps(message)
        except Exception as exc:  # a closure to run(): ours to fix, and nothing was sent
            raise Unsendable(f"a write could not be passed to the database's writer: {exc}") from exc
        try:
            self.pipe.send_bytes(data)
        except (OSError, ValueError) as exc:  # ValueError: the pipe was closed
            raise ChildEnded(self._ended(exc)) from None

    def _receive(self) -> tuple:
        try:
            data = self.pipe.recv_bytes()
        except (EOFError, OSError, ValueError) as exc:
            raise ChildEnded(self._ended(exc)) from None
        try:
            return pickle.loads(data)
        except Exception as exc:  # the child sends only what reads (sqlite_child._send): ours to fix
            raise StoreUnavailable(f"an answer of the database's writer could not be read: {exc}") from exc

    def _ended(self, exc: BaseException) -> str:
        self.process.join(1.0)
        code = self.process.exitcode
        return f"the writer's process ended ({'exit code ' + str(code) if code is not None else type(exc).__name__})"


_INTERRUPTED = BadImport("the import was interrupted; nothing of it was written")


def _picklable(exc: Exception) -> Exception:
    return exc if sqlite_child.travels(exc) else StoreUnavailable(f"{type(exc).__name__}: {exc}")


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"free space unknown: {exc.strerror}"
    return f"{free / 1e6:.1f} MB free in {folder}"


def _fail_all(group, error: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(error)
