"""RFC 8058's one-click answered from the request's head and body once written
(handlers/one_click_at_once.py, issue 24): the same bytes as the ordinary route, only for the
plain case, on disk when answered, in the order the requests came, counted alike; and a write
that fails answered by the ordinary route, which words the refusal."""

import asyncio
import contextlib
import os
import signal
import sqlite3

import pytest

import handlers.pages
from handlers.state import SERVICE
from suppression.model import Scope
from tests.support.http import exchange

ONE_CLICK = b"List-Unsubscribe=One-Click"


def _link(client, email: str, topic: str | None = None) -> str:
    return "/u/" + client.app[SERVICE].links.mint_link(email, Scope.of_topic(topic)).url.rsplit("/", 1)[1]


def _post(path: str, body: bytes = ONE_CLICK, extra: str = "", version: str = "1.1",
          content_type: str = "application/x-www-form-urlencoded") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: test\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _counting_forms(monkeypatch) -> list[str]:
    """The paths the ordinary route read a form for (its own form_of, counted)."""
    seen: list[str] = []
    ordinary = handlers.pages.form_of

    async def form_of(request):
        seen.append(request.path)
        return await ordinary(request)

    monkeypatch.setattr(handlers.pages, "form_of", form_of)
    return seen


async def _exchange(client, raw: bytes, answers: int) -> list[tuple[list[str], bytes]]:
    return await exchange(client.server.host, client.server.port, raw, answers)


async def _suppressed(client, email: str) -> set[str]:
    return {scope.name for scope in await client.app[SERVICE].suppressed_scopes(email)}


async def _writes_of_ours_alone(client) -> None:
    """The service's own writes at its start (retention's first pass, CI's failure) finished and
    stopped, so that the group a stopped writer's process holds is the test's."""
    service = client.app[SERVICE]
    await service.rights.stop()
    await service.store._writer._queue.join()


@contextlib.asynccontextmanager
async def _held_at_its_write(client, link: str, before: bytes = b""):
    """A connection sending `before`, then a one-click to `link` held at its write: the
    writer's process is stopped once the write is with it, and let go as the block ends.
    (reader, writer) of the connection."""
    await client.post(_link(client, "first@example.com"), data={"List-Unsubscribe": "One-Click"})  # a writer runs
    await _writes_of_ours_alone(client)
    store_writer = client.app[SERVICE].store._writer
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    os.kill(store_writer._child.process.pid, signal.SIGSTOP)
    try:
        writer.write(before + _post(link))
        async with asyncio.timeout(10):
            while store_writer.holding == 0:  # until its write is with the stopped process
                await asyncio.sleep(0.01)
        yield reader, writer
    finally:
        os.kill(store_writer._child.process.pid, signal.SIGCONT)


def _without_date(head: list[str]) -> list[str]:
    return [line for line in head if not line.lower().startswith("date:")]


@pytest.mark.parametrize("slash", ["", "/"])
@pytest.mark.parametrize("language", ["", "Accept-Language: de-CH, fr;q=0.5\r\n", "Accept-Language: xx\r\n"])
async def test_a_one_click_answered_once_written_is_the_ordinary_routes_answer_byte_for_byte(
        client, monkeypatch, slash, language):
    ordinary = _counting_forms(monkeypatch)
    # A second field makes the same one-click take the ordinary route (the form is read there).
    ((plain_head, plain_body),) = await _exchange(client, _post(_link(client, "a@example.com") + slash,
                                                                 extra=language), 1)
    ((head, body),) = await _exchange(client, _post(_link(client, "b@example.com") + slash, ONE_CLICK + b"&x=1",
                                                     extra=language), 1)
    assert len(ordinary) == 1
    assert plain_head[0] == "HTTP/1.1 200 OK" and _without_date(plain_head) == _without_date(head)
    assert [line.split(":")[0] for line in plain_head] == [line.split(":")[0] for line in head]
    assert plain_body == body
    assert await _suppressed(client, "a@example.com") == {"all"} == await _suppressed(client, "b@example.com")


async def test_the_answer_comes_once_the_suppression_is_on_disk_and_a_check_after_it_sees_it(client, check_key):
    email = "jane@example.com"
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(_post(_link(client, email, "newsletters")))
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n"), 10)).startswith(b"HTTP/1.1 200")
        check = await client.get(f"/v1/suppressions/{email}?topic=newsletters",
                                 headers={"Authorization": f"Bearer {check_key}"})
        assert (await check.json())["suppressed"] is True
    finally:
        writer.close()
    (change,) = await client.app[SERVICE].store.changes_after(0, 10)
    assert (change.action, change.scope.name, change.source) == ("suppress", "newsletters", "one-click")


@pytest.mark.parametrize("path, raw, status", [
    ("/u/not-a-token", None, 400),
    ("{link}?lang=fr", None, 200),  # a language asked for in the query
    ("{link}", _post("{link}", ONE_CLICK + b"&why=x"), 200),
    ("{link}", _post("{link}", b"List-Unsubscribe=One-click"), 400),  # not RFC 8058's value: no action
    ("{link}", _post("{link}", content_type="application/x-www-form-urlencoded; charset=utf-8"), 200),
    ("{link}", _post("{link}", content_type="text/plain"), 400),
    ("{link}", _post("{link}", extra="Content-Encoding: gzip\r\n"), 415),
    ("{link}", _post("{link}", version="1.0"), 200),
    ("{link}", _post("{link}", extra="Connection: close\r\n"), 200),
    ("{link}", b"POST {link} HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n1a\r\nList-Unsubscribe=One-Click\r\n0\r\n\r\n", 200),
], ids=["bad-token", "query", "more-fields", "other-value", "charset", "not-a-form", "encoded", "http-1.0",
        "close", "chunked"])
async def test_what_is_not_the_plain_one_click_takes_the_ordinary_route(client, monkeypatch, path, raw, status):
    link = _link(client, "jane@example.com")
    ordinary = _counting_forms(monkeypatch)
    path = path.replace("{link}", link)
    raw = raw.replace(b"{link}", link.encode()) if raw is not None else _post(path)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.split(b" ")[1] == str(status).encode()
    assert ordinary or path == "/u/not-a-token"
    assert await _suppressed(client, "jane@example.com") == ({"all"} if status == 200 else set())


@pytest.mark.sqlite_only
async def test_pipelined_requests_around_a_one_click_are_answered_in_their_order(client, check_key, monkeypatch):
    """A check answered at once and a one-click held at its write (the writer's process stopped);
    sent behind them meanwhile, a check of the address it suppresses, another one-click and a
    check of that: each answered in turn, each check seeing the one-clicks before it."""
    get = lambda email: (f"GET /v1/suppressions/{email} HTTP/1.1\r\nHost: t\r\n"  # noqa: E731
                         f"Authorization: Bearer {check_key}\r\n\r\n").encode()
    await _exchange(client, get("warm@example.org"), 1)  # the key is known: checks are answered at once
    ordinary = _counting_forms(monkeypatch)
    # The one-click last: answered once written.
    first = _link(client, "a@example.org")
    async with _held_at_its_write(client, first, before=get("a@example.org")) as (reader, writer):
        writer.write(get("a@example.org") + _post(_link(client, "b@example.org")) + get("b@example.org"))
        await writer.drain()
    try:
        answers = []
        for _ in range(5):
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
            length = int(head.lower().split("content-length:", 1)[1].split("\r\n", 1)[0])
            answers.append(await asyncio.wait_for(reader.readexactly(length), 10))
    finally:
        writer.close()
    kinds = ["suppressed" if b'"suppressed": true' in body else "not" if b'"suppressed": false' in body
             else "page" for body in answers]
    assert kinds == ["not", "page", "suppressed", "page", "suppressed"]
    assert first not in ordinary


@pytest.mark.sqlite_only
async def test_a_lone_one_click_keeps_reading_and_what_follows_it_waits_bounded(client, check_key):
    """The socket is paused only when a client sends more during a one-click's write (each pause
    and resume is two system calls): then what came is held, no more than one read of it, and
    answered after the one-click."""
    get = (f"GET /v1/suppressions/late@example.org HTTP/1.1\r\nHost: t\r\n"
           f"Authorization: Bearer {check_key}\r\nX-Padding: {'p' * 4000}\r\n\r\n").encode()
    async with _held_at_its_write(client, _link(client, "late@example.org")) as (reader, writer):
        (connection,) = [c for c in client.server.handler.connections if c._answering is not None]
        assert connection.transport.is_reading() and connection._held is None
        writer.write(get * 2000)  # 8 MB of pipelined checks, more than the socket's buffers hold
        async with asyncio.timeout(10):
            while connection.transport.is_reading():
                await asyncio.sleep(0.01)
        assert 0 < len(connection._held) <= 256 * 1024
    try:
        heads = []
        for _ in range(3):
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode("latin-1")
            length = int(head.lower().split("content-length:", 1)[1].split("\r\n", 1)[0])
            heads.append((head.split("\r\n", 1)[0], await asyncio.wait_for(reader.readexactly(length), 10)))
    finally:
        writer.close()
    assert [line for line, _ in heads] == ["HTTP/1.1 200 OK"] * 3
    assert b"<html" in heads[0][1] and b'"suppressed": true' in heads[1][1] and b'"suppressed": true' in heads[2][1]


@pytest.mark.sqlite_only
async def test_a_client_that_ends_its_side_after_a_one_click_gets_the_answer_then_the_connection_closes(client):
    """A half-close during the write (a reviewing helper's: the connection closed unanswered, the
    write made, once reading went on during the write)."""
    async with _held_at_its_write(client, _link(client, "half@example.com")) as (reader, writer):
        writer.write_eof()
        (connection,) = [c for c in client.server.handler.connections if c._answering is not None]
        async with asyncio.timeout(10):
            while not connection._ended:
                await asyncio.sleep(0.01)
    try:
        answer = await asyncio.wait_for(reader.read(), 10)  # to its end: the service closes the connection
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.count(b"HTTP/1.1") == 1 and b"<html" in answer
    assert await _suppressed(client, "half@example.com") == {"all"}


async def test_a_one_click_that_ends_a_full_batch_leaves_nothing_waiting(client, check_key):
    """The parser stops at 32 requests and keeps the rest: with a one-click the 32nd, the checks
    behind it are read once it is answered."""
    get = lambda email: (f"GET /v1/suppressions/{email} HTTP/1.1\r\nHost: t\r\n"  # noqa: E731
                         f"Authorization: Bearer {check_key}\r\n\r\n").encode()
    await _exchange(client, get("warm@example.org"), 1)
    raw = (b"".join(get(f"u{n}@example.org") for n in range(31)) + _post(_link(client, "u0@example.org"))
           + b"".join(get(f"u{n}@example.org") for n in range(10)))
    answers = await _exchange(client, raw, 42)
    assert [b'"suppressed": true' in body for _, body in answers] == [False] * 31 + [False] + [True] + [False] * 9
    assert answers[31][0][0] == "HTTP/1.1 200 OK" and b"<html" in answers[31][1]


@pytest.mark.sqlite_only
async def test_a_one_click_under_way_when_the_service_stops_is_answered_before_its_connection_closes(client):
    """As aiohttp waits for a handler under way: the write held (the writer's process stopped)
    while the server shuts down, then let go."""
    async with _held_at_its_write(client, _link(client, "late@example.com")) as (reader, writer):
        stopping = asyncio.create_task(client.server.close())
        async with asyncio.timeout(10):
            while not all(c._close for c in client.server.runner.server._connections):  # the shutdown has begun
                await asyncio.sleep(0.01)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        await stopping
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK")


@pytest.mark.sqlite_only
async def test_a_stop_whose_time_runs_out_during_a_one_click_closes_its_connection(client, tmp_path):
    """As aiohttp ends a handler past the stop's time: the connection closes unanswered, the stop
    goes on (a reviewing helper's: it waited for ever), and the write is committed once the
    writer's process answers, before the store closes."""
    path = client.app[SERVICE].store._writer.path
    client.server.runner._shutdown_timeout = 0.3
    async with _held_at_its_write(client, _link(client, "stopping@example.com")) as (reader, writer):
        stopping = asyncio.create_task(client.server.close())
        answer = await asyncio.wait_for(reader.read(), 10)  # the connection closed, the writer still stopped
    writer.close()
    await asyncio.wait_for(stopping, 10)
    assert answer == b""
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM suppressions WHERE email = 'stopping@example.com'").fetchone() == (1,)


@pytest.mark.sqlite_only
async def test_a_one_click_whose_write_outlasts_the_keep_alive_time_is_answered(client):
    """aiohttp closes a connection that waits for a request past its keep-alive time: not one
    whose one-click is being written (a reviewing helper's: the answer was lost, the write made)."""
    client.server.runner.server._kwargs["keepalive_timeout"] = 0.3  # for the connections made from now
    loop = asyncio.get_running_loop()
    async with _held_at_its_write(client, _link(client, "slow@example.com")) as (reader, writer):
        held_until = loop.time() + 0.5  # past the keep-alive time of a connection opened before
        while loop.time() < held_until:
            await asyncio.sleep(0.01)
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert await _suppressed(client, "slow@example.com") == {"all"}


async def test_one_clicks_answered_once_written_are_counted_as_the_ordinary_route_counts_them(client, admin_key):
    def count(text: str, route: str) -> float:
        line = next((line for line in text.splitlines() if line.startswith("suppression_http_requests_total")
                     and f'route="{route}"' in line and 'status="200"' in line), " 0")
        return float(line.rsplit(" ", 1)[1])

    admin = {"Authorization": f"Bearer {admin_key}"}
    before = await (await client.get("/metrics", headers=admin)).text()
    for n in range(3):
        await _exchange(client, _post(_link(client, f"c{n}@example.com")), 1)
    await _exchange(client, _post(_link(client, "d@example.com") + "/"), 1)
    after = await (await client.get("/metrics", headers=admin)).text()
    assert count(after, "/u/{token}") - count(before, "/u/{token}") == 3
    assert count(after, "/u/{token}/") - count(before, "/u/{token}/") == 1


async def test_a_client_that_leaves_before_the_answer_still_has_its_suppression_written(client):
    _, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(_post(_link(client, "gone@example.com")))
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    async with asyncio.timeout(10):
        while not await _suppressed(client, "gone@example.com"):
            await asyncio.sleep(0.01)


@pytest.mark.sqlite_only
async def test_a_write_the_store_refuses_is_answered_by_the_ordinary_route_with_its_503(client, monkeypatch):
    """The writer's process stalled past its deadline: the one-click's write is refused at once,
    and the ordinary route tries again and says so (503, Retry-After), nothing written."""
    store = client.app[SERVICE].store
    await client.post(_link(client, "first@example.com"), data={"List-Unsubscribe": "One-Click"})  # a writer runs
    await _writes_of_ours_alone(client)
    writer, pid = store._writer, store._writer._child.process.pid
    writer.deadline_seconds = 0.2
    os.kill(pid, signal.SIGSTOP)
    try:
        held = asyncio.create_task(client.post(_link(client, "held@example.com"),
                                               data={"List-Unsubscribe": "One-Click"}))
        async with asyncio.timeout(10):
            while writer.problem is None:  # until the held group is past its deadline
                await asyncio.sleep(0.01)
        ordinary = _counting_forms(monkeypatch)
        ((head, body),) = await _exchange(client, _post(_link(client, "refused@example.com")), 1)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert head[0] == "HTTP/1.1 503 Service Unavailable" and "Retry-After: 5" in head
    assert b"nothing was changed" in body and len(ordinary) == 1
    assert (await held).status == 200
    assert not await _suppressed(client, "refused@example.com")
