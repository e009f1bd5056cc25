"""The mail reader process: decisions in order, and a clear error when no reader can start."""

import asyncio
import errno

import pytest

from suppression import slow_mail
from suppression.addresses import normalise_address
from suppression.reader import _ROOM_BYTES, MailReader, ReaderSettings, ReaderUnavailable, _spare


def settings(memory_bytes: int, request_address: str = "PLUSinfo@plusnxt.com") -> ReaderSettings:
    return ReaderSettings(
        request_addresses=frozenset({normalise_address(request_address)}),
        signing_keys=("reader-tests-signing-key-0123456789abcdef",), max_age_seconds=None,
        topics={"newsletters": "Email newsletters"}, trusted_authserv_ids=(), budget_seconds=10,
        memory_bytes=memory_bytes,
    )


def test_a_batch_is_decided_in_order_across_chunks():
    reader = MailReader(settings(2 * 1024**3))
    try:
        big = b"From: a@example.com\r\nSubject: hello\r\n\r\n" + (b"x" * 998 + b"\r\n") * 5000  # 5 MB each
        batch = [(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com"),
                 (2, big, "b@example.com"), (3, big, "c@example.com"),
                 (4, b"From: d@example.com\r\nSubject: hi\r\n\r\nWhen are you open?\r\n", "d@example.com")]
        assert [d.kind for d in reader.read(batch)] == ["request", "review", "review", "review"]
        assert reader.restarts == 0
    finally:
        reader.close()


def test_a_reader_that_cannot_start_is_an_error_to_retry_not_a_decision():
    reader = MailReader(settings(1))  # an address space smaller than the child already uses
    with pytest.raises(ReaderUnavailable):
        reader.read([(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")])
    reader.close()


def test_a_reader_without_room_for_a_batch_under_its_limit_is_an_error_to_retry():
    # The child reserves room for a batch of mail (_ROOM_BYTES of address space, what its limit
    # counts) before it says it is ready: with less room than that it would decide every
    # message "could not be read" for want of memory, so it does not start at all.
    request = [(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")]
    _spare.end()  # a new child's size, not one that has read mail
    reader = MailReader(settings(2 * 1024**3))
    try:
        reader._child()
        used = int(_status(reader._process.pid, "VmSize").split()[0]) * 1024  # a ready child's, its model loaded
    finally:
        reader.close()
    tight = MailReader(settings(used + _ROOM_BYTES // 2))
    with pytest.raises(ReaderUnavailable):
        tight.read(request)
    tight.close()
    roomy = MailReader(settings(used + 2 * _ROOM_BYTES))
    try:
        assert [d.kind for d in roomy.read(request)] == ["request"]
    finally:
        roomy.close()


def test_a_reader_child_reads_no_numpy_and_has_no_thread_but_its_own(monkeypatch):
    # NumPy was 65 ms of each child's start, and its BLAS started a thread a core in each child
    # (0.17 s of CPU more); a child is started again after every message that overran. The judge
    # scores without it, and nothing else the child reads brings it in.
    for name in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"):  # what BLAS reads
        monkeypatch.delenv(name, raising=False)
    _spare.end()  # a new child, as it starts
    reader = MailReader(settings(2 * 1024**3))
    try:
        reader._child()
        assert _status(reader._process.pid, "Threads") == "1"
        with open(f"/proc/{reader._process.pid}/maps") as maps:
            assert "numpy" not in maps.read()
        assert reader.read([(1, b"From: <jane@example.com>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: Unsubscribe\r\n\r\n"
                             b"Please remove me from your mailing list.\r\n",
                             "jane@example.com")])[0].kind == "request"
    finally:
        reader.close()


def _status(pid: int, field: str) -> str:
    """A field of a process's /proc status ("VmSize": its address space, "Threads"), as written."""
    with open(f"/proc/{pid}/status") as status:
        return next(line for line in status if line.startswith(field + ":")).split(":", 1)[1].strip()


def test_a_reader_the_system_cannot_fork_is_an_error_to_retry(monkeypatch):
    # Before: the OSError of a failed fork (EAGAIN: out of processes) left read() as itself, and
    # the intake's task, which retries on ReaderUnavailable, ended with it.
    _spare.end()  # one left by an earlier test would be taken instead of a new start
    reader = MailReader(settings(2 * 1024**3))

    class Unforkable(reader._context.Process):
        def start(self):
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(reader._context, "Process", Unforkable)
    with pytest.raises(ReaderUnavailable, match="could not be started: .*temporarily unavailable"):
        reader.read([(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")])
    monkeypatch.undo()
    decision, = reader.read([(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")])
    assert decision.kind == "request"  # once processes can be had again, it reads
    reader.close()


def test_a_closed_readers_child_reads_for_the_next_reader_with_its_own_settings(tmp_path):
    # A child with the shipped model knows only its address space: the next reader of the process
    # with the same limit takes it (a new start is 0.16 s of CPU), and reads with that reader's
    # settings, not the last one's.
    # From the first reader's request address: for it, mail from itself; for the other, a person.
    ours = [(1, b"From: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "PLUSinfo@plusnxt.com")]
    first = MailReader(settings(2 * 1024**3))
    decision, = first.read(ours)
    assert (decision.kind, decision.reasons[-1]) == ("review", "the sender is our own request address")
    child = first._process.pid
    first.close()
    other = MailReader(settings(2 * 1024**3, request_address="privacy@elsewhere.example"))
    try:
        decision, = other.read(ours)
        assert other._process.pid == child
        assert (decision.kind, decision.reasons[-1]) == ("request", "the sender's own address")
    finally:
        other.close()
    # Other limits, another child; and none is left running once it is replaced or ended.
    roomier = MailReader(settings(2 * 1024**3 + 4096))
    try:
        assert [d.kind for d in roomier.read(ours)] == ["review"]
        assert roomier._process.pid != child
    finally:
        roomier.close()
    _spare.end()
    with pytest.raises(FileNotFoundError):
        open(f"/proc/{child}/status").close()


def test_a_child_with_an_operators_model_ends_with_its_reader(tmp_path):
    # A file may be replaced in place with the same size and times (cp -p): a child that loaded
    # it is not left for the next reader, whose new child checks the file as it is then.
    import dataclasses
    import shutil

    from suppression.inbound.judge import MODEL_FILE

    model = tmp_path / "model.npz"
    shutil.copy2(MODEL_FILE, model)
    request = [(1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")]
    shipped = MailReader(settings(2 * 1024**3))
    shipped.read(request)
    spare = shipped._process.pid
    shipped.close()
    reader = MailReader(dataclasses.replace(settings(2 * 1024**3), judge_path=str(model)))
    assert [d.kind for d in reader.read(request)] == ["request"]
    child = reader._process.pid
    assert child != spare  # a child of its own, which loaded and checked the file
    reader.close()
    with pytest.raises(FileNotFoundError):
        open(f"/proc/{child}/status").close()
    taken = _spare.take(2 * 1024**3)
    assert taken is not None and taken[0].pid == spare  # still there for a reader of the shipped model
    _spare.leave(2 * 1024**3, *taken)


def test_a_chunk_that_fails_midway_ends_the_child_so_no_answer_goes_to_the_next(monkeypatch):
    # The child answers every message it was sent; had the reader kept it after an error of its
    # own while reading the answers, the next batch would have been given this one's.
    unsubscribe = (1, b"From: a@example.com\r\nSubject: unsubscribe\r\n\r\nplease\r\n", "a@example.com")
    question = (2, b"From: b@example.com\r\nSubject: hours\r\n\r\nWhen are you open?\r\n", "b@example.com")
    reader = MailReader(settings(2 * 1024**3))
    try:
        conn = reader._child()
        monkeypatch.setattr(conn, "recv", lambda: (_ for _ in ()).throw(RuntimeError("cut")))
        with pytest.raises(RuntimeError):
            reader.read([unsubscribe])
        monkeypatch.undo()
        assert [d.kind for d in reader.read([question])] == ["review"]
    finally:
        reader.close()


async def test_past_a_flood_of_slow_mail_a_slow_message_is_read_in_turn(monkeypatch):
    # With MAX_ASIDE set aside already, one more is read at once with the whole budget, not kept.
    monkeypatch.setattr(slow_mail, "MAX_ASIDE", 0)
    lane = slow_mail.SlowMail(settings(2 * 1024**3), None, None, asyncio.Lock())
    try:
        raw = b"From: a@example.com\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\nplease unsubscribe me\r\n"
        decision = await lane.aside_or_read((1, raw, "a@example.com"))
        assert decision is not None and decision.kind == "request" and lane.ids == {}
    finally:
        await lane.stop()
