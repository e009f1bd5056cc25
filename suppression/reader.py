"""Reading received mail in a child process, with a time budget for each message.

Each message is read by classify_message in a process of its own. A pattern or a parser
that is slow on hostile input then costs that child its budget, not the service its loop
(`re` holds the GIL, so a thread would not do). A message that runs out of time, or kills
the child, is decided as review with that reason and is not read again; a fresh child
reads the next message.
"""

import logging
import mmap
import multiprocessing
import resource
import signal
import threading
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path

# A child reads this module first, and with it nothing of NumPy: the judge scores without it
# (reading it was 65 ms of a child's start, and its BLAS started a thread a core).
from suppression.inbound.classify import REVIEW, Decision, classify_message
from suppression.inbound.judge import Judge, checked_judge, shipped_judge
from suppression.tokens import read_claim

log = logging.getLogger(__name__)

_START_SECONDS = 30.0  # a child that cannot import and say "ready" in this long is broken
_CHUNK_BYTES = 8 * 1024 * 1024
_ROOM_BYTES = 64 * 1024 * 1024  # mail handed to the child at once: a batch, without copying 500 MB


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
    """Decides messages in a child process started on first use; read() blocks (run it in a thread)."""

    def __init__(self, settings: ReaderSettings):
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")  # no copy of our threads or sockets
        self._lock = threading.Lock()
        self._process = None
        self._conn: Connection | None = None
        self.restarts = 0  # children ended for overrunning or dying

    def read(self, batch: list[tuple[int, bytes, str]]) -> list[Decision]:
        """The decision for each (id, raw, envelope sender), in order."""
        with self._lock:
            decisions: list[Decision] = []
            for chunk in _chunks(batch):
                decisions.extend(self._read_chunk(chunk))
            return decisions

    def close(self) -> None:
        with self._lock:
            self._end_child()

    def _read_chunk(self, chunk: list[tuple[int, bytes, str]]) -> list[Decision]:
        """Hand the child a chunk at once (no round trip a message); it answers each message as it
        is read, and each answer has its own budget. Past an overrun or a crash, a new child
        reads the rest."""
        conn = self._child()
        decisions: list[Decision] = []
        try:
            conn.send([(raw, mail_from) for _, raw, mail_from in chunk])
            for message_id, _, _ in chunk:
                if not conn.poll(self.settings.budget_seconds):
                    self._end_child()
                    log.warning("message %d took longer than %g s to read; kept for review",
                                message_id, self.settings.budget_seconds)
                    decisions.append(_review(f"reading it took longer than {self.settings.budget_seconds:g} s;"
                                             " kept for a person, not read again"))
                    break
                decisions.append(conn.recv())
        except (EOFError, OSError):
            code = self._end_child()
            message_id = chunk[len(decisions)][0]
            log.warning("message %d stopped the mail reader (exit code %s); kept for review", message_id, code)
            decisions.append(_review(f"the reader stopped while reading it (exit code {code});"
                                     " kept for a person, not read again"))
        rest = chunk[len(decisions):]
        return decisions + (self._read_chunk(rest) if rest else [])

    def _child(self) -> Connection:
        if self._conn is not None and self._process.is_alive():
            return self._conn
        self._end_child()
        try:
            ours, theirs = self._context.Pipe()
        except OSError as exc:  # out of file descriptors
            raise ReaderUnavailable(f"the mail reader process could not be started: {exc}") from None
        process = self._context.Process(
            target=serve, args=(theirs, self.settings), name="mail-reader", daemon=True
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


def serve(conn: Connection, settings: ReaderSettings) -> None:
    """The child: read (raw, envelope sender) pairs and answer each with its Decision."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the service, which ends us
    resource.setrlimit(resource.RLIMIT_AS, (settings.memory_bytes, settings.memory_bytes))
    # A reader without room to parse one message is not ready: otherwise every message would
    # be decided "could not be read" for want of memory, not for what it is. The limit is of
    # address space, so the room is reserved, not written: zeroing 64 MB cost every start 54 ms.
    mmap.mmap(-1, _ROOM_BYTES).close()  # OSError (ENOMEM) without the room: the child ends, not ready
    read_token = partial(read_claim, settings.signing_keys, max_age_seconds=settings.max_age_seconds,
                         topics=settings.topics)
    try:
        # An operator's model is checked again here: start-up checked the file, and it may have
        # been replaced since, before this child (the first, or one after an overrun) reads it.
        judge = checked_judge(Path(settings.judge_path)) if settings.judge_path else shipped_judge()
    except (OSError, ValueError) as exc:
        conn.send(f"cannot use the reader's model: {exc}")
        return
    try:
        conn.send("ready")
        while True:
            chunk = conn.recv()
            for raw, mail_from in chunk:
                conn.send(decide(raw, mail_from, settings, read_token, judge))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        # The service closed its end, or died (SIGKILL while this child started or read): it
        # reads the message again at its next start; a traceback here would say nothing more.
        return


def decide(raw: bytes, mail_from: str, settings: ReaderSettings, read_token, judge: Judge | None = None) -> Decision:
    """classify_message, with any failure made a decision for a person."""
    try:
        return classify_message(raw, mail_from, settings.request_addresses, read_token,
                                settings.trusted_authserv_ids, settings.topics, judge)
    except Exception as exc:  # MemoryError and RecursionError included: hostile input, not our state
        return _review(f"could not be read: {type(exc).__name__}: {str(exc)[:200]}")
