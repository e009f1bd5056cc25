"""Reading received mail in a child process, with a time budget for each message.

Each message is read by classify_message in a process of its own. A pattern or a parser
that is slow on hostile input then costs that child its budget, not the service its loop
(`re` holds the GIL, so a thread would not do). A message that runs out of time, or kills
the child, is decided as review with that reason and is not read again; a fresh child
reads the next message.

A child with the shipped model knows only its address space: the service's own settings come
with each batch. So such a child, left by a reader that closed, is taken by the next reader of
this process with the same limit, not started again: the tests build hundreds of services in
one process, and a child's start is 0.16 s of CPU. A service process has one reader; the child
it leaves at its stop ends with the process. A child that loaded an operator's model ends with
its reader, so that a new child checks the file as it is then.
"""

import dataclasses
import logging
import mmap
import multiprocessing
import re
import resource
import signal
import threading
import time
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

# A child reads this module first, and with it nothing of NumPy: the judge scores without it
# (reading it was 65 ms of a child's start, and its BLAS started a thread a core).
from suppression.inbound import asked_about, weighing
from suppression.inbound.classify import REVIEW, Decision, classify_message
from suppression.inbound.judge import Judge, checked_judge, shipped_judge
from suppression.tokens import read_claim

log = logging.getLogger(__name__)

_START_SECONDS = 30.0  # a child that cannot import and say "ready" in this long is broken
_CHUNK_BYTES = 8 * 1024 * 1024
_ROOM_BYTES = 64 * 1024 * 1024  # mail handed to the child at once: a batch, without copying 500 MB
# After a first look overran, larger messages are set aside unread for this long: a flood of slow
# ones cost the intake a first look and a new child each (sixty of 350 KB held a request behind
# them 43 s). Reading grows with size: one this small reads well within a first look.
_LOOK_BYTES = 64 * 1024
_AFTER_OVERRUN_SECONDS = 60.0


class ReaderUnavailable(Exception):
    """No reader process could be started (out of memory or processes): try again later."""


@dataclass(frozen=True)
class ReaderSettings:
    request_addresses: frozenset[str]
    signing_keys: tuple[str, ...]
    max_age_seconds: int | None
    topics: dict[str, str]  # id: label
    trusted_authserv_ids: tuple[str, ...]
    budget_seconds: float  # longest a message may take to read
    memory_bytes: int  # the child's address space; past it a message gets MemoryError
    judge_path: str = ""  # a model of the operator's own ("": the one shipped)


class MailReader:
    """Decides messages in a child process started on first use; read() blocks (run it in a thread).

    With `set_aside`, a message that overruns the budget is answered None (read it again
    elsewhere, suppression/slow_mail.py) rather than kept for review."""

    def __init__(self, settings: ReaderSettings, set_aside: bool = False):
        self.settings = settings
        self.set_aside = set_aside
        self._context = multiprocessing.get_context("spawn")  # no copy of our threads or sockets
        self._lock = threading.Lock()
        self._process = None
        self._conn: Connection | None = None
        self.restarts = 0  # children ended for overrunning or dying
        self._overran_at = -_AFTER_OVERRUN_SECONDS  # when a first look last overran (time.monotonic())

    def read(self, batch: list[tuple[int, bytes, str]]) -> list[Decision | None]:
        """The decision for each (id, raw, envelope sender), in order (None: set aside)."""
        with self._lock:
            decisions: list[Decision | None] = []
            for chunk in _chunks(batch):
                decisions.extend(self._read_chunk(chunk))
            return decisions

    def close(self) -> None:
        """Leave a ready child with the shipped model to the next reader of this process; end any other."""
        with self._lock:
            if self._process is not None and self._process.is_alive() and not self.settings.judge_path:
                _spare.leave(self.settings.memory_bytes, self._process, self._conn)
                self._process = self._conn = None
            else:
                self._end_child()

    def _read_chunk(self, chunk: list[tuple[int, bytes, str]]) -> list[Decision | None]:
        """The chunk's decisions; soon after an overrun, a first look sets its large messages aside
        unread (None) and reads the others."""
        if self.set_aside and time.monotonic() - self._overran_at < _AFTER_OVERRUN_SECONDS:
            large = [len(raw) > _LOOK_BYTES for _, raw, _ in chunk]
            if any(large):
                log.info("%d large message(s) set aside unread: a first look overran %.0f s ago", sum(large),
                         time.monotonic() - self._overran_at)
                small = [item for item, big in zip(chunk, large, strict=True) if not big]
                read = iter(self._read_in_child(small) if small else ())
                return [None if big else next(read) for big in large]
        return self._read_in_child(chunk)

    def _read_in_child(self, chunk: list[tuple[int, bytes, str]]) -> list[Decision | None]:
        """Hand the child a chunk at once (no round trip a message); it answers each message as it
        is read, and each answer has its own budget. Past an overrun or a crash, a new child
        reads the rest."""
        conn = self._child()
        decisions: list[Decision | None] = []
        try:
            conn.send((self.settings, [(raw, mail_from) for _, raw, mail_from in chunk]))
            for message_id, _, _ in chunk:
                if not conn.poll(self.settings.budget_seconds):
                    self._end_child()
                    decisions.append(self._overrun(message_id))
                    break
                decisions.append(conn.recv())
        except (EOFError, OSError):
            code = self._end_child()
            message_id = chunk[len(decisions)][0]
            log.warning("message %d stopped the mail reader (exit code %s); kept for review", message_id, code)
            decisions.append(_review(f"the reader stopped while reading it (exit code {code});"
                                     " kept for a person, not read again"))
        except BaseException:  # its answers to this chunk would be read as the next one's
            self._end_child()
            raise
        rest = chunk[len(decisions):]
        return decisions + (self._read_chunk(rest) if rest else [])

    def _overrun(self, message_id: int) -> Decision | None:
        budget = self.settings.budget_seconds
        if self.set_aside:
            log.info("message %d was not read within %g s; it is read again beside the others", message_id, budget)
            self._overran_at = time.monotonic()
            return None
        log.warning("message %d took longer than %g s to read; kept for review", message_id, budget)
        return _review(f"reading it took longer than {budget:g} s; kept for a person, not read again")

    def _child(self) -> Connection:
        if self._conn is not None and self._process.is_alive():
            return self._conn
        self._end_child()
        spare = None if self.settings.judge_path else _spare.take(self.settings.memory_bytes)
        if spare is not None:
            self._process, self._conn = spare
            return self._conn
        try:
            ours, theirs = self._context.Pipe()
        except OSError as exc:  # out of file descriptors
            raise ReaderUnavailable(f"the mail reader process could not be started: {exc}") from None
        process = self._context.Process(
            target=serve, args=(theirs, self.settings.memory_bytes, self.settings.judge_path), name="mail-reader",
            daemon=True,
        )
        try:
            process.start()
        except OSError as exc:  # no process to be had (EAGAIN, ENOMEM): the intake retries later
            ours.close()
            raise ReaderUnavailable(f"the mail reader process could not be started: {exc}") from None
        finally:
            theirs.close()
        try:
            said = ours.recv() if ours.poll(_START_SECONDS) else None
        except (EOFError, OSError):
            said = None
        if said != "ready":
            process.kill()
            process.join()
            why = said if isinstance(said, str) else f"exit code {process.exitcode}"
            raise ReaderUnavailable(f"the mail reader process did not start ({why})")
        self._process, self._conn = process, ours
        return ours

    def _end_child(self) -> int | None:
        if self._process is None:
            return None
        self._conn.close()
        if self._process.is_alive():
            self._process.kill()
            self.restarts += 1
        elif self._process.exitcode not in (0, None):
            self.restarts += 1
        self._process.join()
        code = self._process.exitcode
        self._process = self._conn = None
        return code


class _Spare:
    """The one ready child (with the shipped model) left by a reader that closed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._child: tuple | None = None  # (memory_bytes, process, conn)

    def leave(self, memory_bytes: int, process, conn: Connection) -> None:
        with self._lock:
            replaced, self._child = self._child, (memory_bytes, process, conn)
        if replaced is not None:
            _kill(*replaced[1:])

    def take(self, memory_bytes: int) -> tuple | None:
        """(process, conn) of the spare if it has this limit and is alive; else None."""
        with self._lock:
            if self._child is None or self._child[0] != memory_bytes:
                return None
            (_, process, conn), self._child = self._child, None
        if not process.is_alive():
            _kill(process, conn)
            return None
        return process, conn

    def end(self) -> None:
        """End the spare child (a test that needs a new one)."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            _kill(*child[1:])


_spare = _Spare()


def _kill(process, conn: Connection) -> None:
    conn.close()
    if process.is_alive():
        process.kill()
    process.join()


def _chunks(batch: list[tuple[int, bytes, str]]):
    """The batch in runs of at most _CHUNK_BYTES of mail (one message at least)."""
    chunk: list[tuple[int, bytes, str]] = []
    size = 0
    for item in batch:
        if chunk and size + len(item[1]) > _CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item[1])
    if chunk:
        yield chunk


def _review(reason: str) -> Decision:
    return Decision(REVIEW, (reason,))


def serve(conn: Connection, memory_bytes: int, judge_path: str) -> None:
    """The child: read (settings, [(raw, envelope sender), ...]) and answer each message with its Decision."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the service, which ends us
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # A reader without room to parse one message is not ready: otherwise every message would
    # be decided "could not be read" for want of memory, not for what it is. The limit is of
    # address space, so the room is reserved, not written: zeroing 64 MB cost every start 54 ms.
    mmap.mmap(-1, _ROOM_BYTES).close()  # OSError (ENOMEM) without the room: the child ends, not ready
    try:
        # An operator's model is checked again here: start-up checked the file, and it may have
        # been replaced since, before this child (the first, or one after an overrun) reads it.
        judge = checked_judge(Path(judge_path)) if judge_path else shipped_judge()
        asked_about.shipped()  # read before the first message, as the judge is
    except (OSError, ValueError) as exc:
        conn.send(f"cannot use the reader's model: {exc}")
        return
    try:
        conn.send("ready")
        settings = read_token = None
        while True:
            while not conn.poll(weighing.MEMO_SECONDS):
                weighing.forget()  # nothing to read: no one's words are kept meanwhile
            given, chunk = conn.recv()
            if given != settings:
                settings = given
                read_token = partial(read_claim, settings.signing_keys, max_age_seconds=settings.max_age_seconds,
                                     topics=settings.topics)
            for raw, mail_from in chunk:
                conn.send(decide(raw, mail_from, settings, read_token, judge))
            weighing.expire()  # whatever the chunk held, long words or none: no phrase past its minute
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The service closed its end, or died (SIGKILL while this child started or read): it
        # reads the message again at its next start; a traceback here would say nothing more.
        return


def decide(raw: bytes, mail_from: str, settings: ReaderSettings, read_token, judge: Judge | None = None) -> Decision:
    """classify_message, with any failure made a decision for a person."""
    try:
        return storable(classify_message(raw, mail_from, settings.request_addresses, read_token,
                                         settings.trusted_authserv_ids, settings.topics, judge))
    except Exception as exc:  # MemoryError and RecursionError included: hostile input, not our state
        return _review(f"could not be read: {type(exc).__name__}: {str(exc)[:200]}")


_SURROGATES = re.compile("[\ud800-\udfff]")


def storable(decision: Decision) -> Decision:
    """The decision with every lone surrogate in its text made U+FFFD: a part or header in UTF-7,
    or "unicode_escape", decodes to them, and no database stores them (the whole settling
    failed, and with it the reading of everyone's mail after it)."""
    changed = {}
    for field in dataclasses.fields(decision):
        value = getattr(decision, field.name)
        if isinstance(value, str) and _SURROGATES.search(value):
            changed[field.name] = _SURROGATES.sub("\ufffd", value)
        elif isinstance(value, tuple) and any(isinstance(v, str) and _SURROGATES.search(v) for v in value):
            changed[field.name] = tuple(_SURROGATES.sub("\ufffd", v) if isinstance(v, str) else v for v in value)
    return dataclasses.replace(decision, **changed) if changed else decision
