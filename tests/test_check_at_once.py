"""The single check answered from the request's parsed head (handlers/check_at_once.py, issue 24):
the same bytes as the ordinary route, only when memory alone gives the answer, in the order the
requests came, counted alike, and never more unread answers than a bound."""

import asyncio
import socket

import pytest

from handlers.protocol import _UNREAD_BYTES
from handlers.state import SERVICE
from tests.support.http import exchange

NOT_LISTED = "nobody.here@example.org"


def _counting_checks(client) -> list[str]:
    """The addresses the ordinary route's service.check is awaited for (the real method, counted)."""
    service = client.app[SERVICE]
    seen: list[str] = []
    ordinary = service.check

    async def check(text, *args, **kwargs):
        seen.append(text)
        return await ordinary(text, *args, **kwargs)

    service.check = check
    return seen


async def _exchange(client, raw: bytes, answers: int) -> list[tuple[list[str], bytes]]:
    return await exchange(client.server.host, client.server.port, raw, answers)


def _get(path: str, key: str, extra: str = "", version: str = "1.1") -> bytes:
    return (f"GET {path} HTTP/{version}\r\nHost: test\r\nAuthorization: Bearer {key}\r\n{extra}\r\n").encode()


def _without_date(head: list[str]) -> list[str]:
    return [line for line in head if not line.lower().startswith("date:")]


@pytest.mark.parametrize("query", ["", "?topic=newsletters", "?purpose=transactional&topic=newsletters"])
@pytest.mark.parametrize("role", ["check", "admin"])
async def test_a_check_answered_at_once_is_the_ordinary_routes_answer_byte_for_byte(client, query, role):
    key = await client.app[SERVICE].api_keys.create_api_key(f"{role}-at-once", role)
    ordinary = _counting_checks(client)
    path = f"/v1/suppressions/{NOT_LISTED}{query}"
    # The key's first use verifies its hash: that request takes the ordinary route; the next, not.
    (first,) = await _exchange(client, _get(path, key), 1)
    (second,) = await _exchange(client, _get(path, key), 1)
    assert ordinary == [NOT_LISTED]
    assert first[0][0] == "HTTP/1.1 200 OK"
    assert _without_date(second[0]) == _without_date(first[0])
    assert [line.split(":")[0] for line in second[0]] == [line.split(":")[0] for line in first[0]]
    assert second[1] == first[1]
    assert b'"suppressed": false' in first[1]


@pytest.mark.parametrize("request_line, extra, status", [
    ("/v1/suppressions/jane@example.com", "", 200),  # suppressed: its details come from the database
    ("/v1/suppressions/nobody%2Ehere@example.org", "", 200),  # an escape to decode
    ("/v1/suppressions/not-an-address", "", 400),
    ("/v1/suppressions/nobody.here@example.org?topic=nonesuch", "", 400),
    ("/v1/suppressions/nobody.here@example.org?purpose=nonesuch", "", 400),
    ("/v1/suppressions/nobody.here@example.org?topic=newsletters&topic=updates", "", 200),
    ("/v1/suppressions/nobody.here@example.org?topic=news%6Cetters", "", 200),
    ("/v1/suppressions/nobody.here@example.org?verbose=1", "", 200),
    ("/v1/suppressions/nobody.here@example.org", "Content-Length: 2\r\n", 200),  # with a body
    ("/v1/suppressions/nobody.here@example.org/", "", 404),
])
async def test_what_memory_alone_cannot_answer_takes_the_ordinary_route(client, admin_key, check_key, request_line,
                                                                        extra, status):
    await client.post("/v1/suppressions", json={"email": "jane@example.com"},
                      headers={"Authorization": f"Bearer {admin_key}"})
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)  # the key is known now
    ordinary = _counting_checks(client)
    raw = _get(request_line, check_key, extra) + (b"{}" if "Content-Length" in extra else b"")
    ((head, body),) = await _exchange(client, raw, 1)
    assert head[0].split(" ")[1] == str(status)
    if status == 200:
        assert ordinary, "answered without the ordinary route"
        expected = b'"suppressed": true' if "jane" in request_line else b'"suppressed": false'
        assert expected in body


@pytest.mark.parametrize("raw", [
    _get(f"/v1/suppressions/{NOT_LISTED}", "{key}", version="1.0"),
    _get(f"/v1/suppressions/{NOT_LISTED}", "{key}", "Connection: close\r\n"),
    _get(f"/v1/suppressions/{NOT_LISTED}", "{key}").replace(b"GET", b"HEAD"),
    # aiohttp answers an Expect first (a reviewing helper's): "100 Continue", then the check.
    _get(f"/v1/suppressions/{NOT_LISTED}", "{key}", "Expect: 100-continue\r\n"),
])
async def test_what_ends_or_changes_the_exchange_takes_the_ordinary_route(client, check_key, raw):
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    ordinary = _counting_checks(client)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(raw.replace(b"{key}", check_key.encode()))
    # HTTP/1.0 and "close" end the connection; HEAD leaves it open, with no body after the head.
    if raw.startswith(b"HEAD"):
        reading = reader.readuntil(b"\r\n\r\n")
    else:
        reading = reader.readuntil(b"false}") if b"Expect" in raw else reader.read()
    answer = await asyncio.wait_for(reading, 10)
    writer.close()
    assert ordinary == [NOT_LISTED]
    if b"Expect" in raw:
        assert answer.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    else:
        assert answer.startswith((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK"))


async def test_an_expectation_aiohttp_does_not_know_is_refused_as_ever(client, check_key):
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    ((head, body),) = await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key, "Expect: bogus\r\n"), 1)
    assert head[0] == "HTTP/1.1 417 Expectation Failed"


async def test_a_missing_or_wrong_key_is_refused_as_ever(client, check_key):
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    wrong = check_key[:-1] + ("A" if check_key[-1] != "A" else "B")
    answers = await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", wrong)
                              + f"GET /v1/suppressions/{NOT_LISTED} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
                              + _get(f"/v1/suppressions/{NOT_LISTED}", check_key + "x"), 3)
    assert [head[0] for head, _ in answers] == ["HTTP/1.1 401 Unauthorized"] * 3


async def test_pipelined_checks_are_answered_in_order_at_once_or_not(client, admin_key, check_key):
    """Runs of checks memory answers, broken by ones it does not, past the parser's batch of 32."""
    await client.post("/v1/suppressions", json={"email": "jane@example.com"},
                      headers={"Authorization": f"Bearer {admin_key}"})
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    ordinary = _counting_checks(client)
    emails = [("jane@example.com" if n % 37 == 5 else f"user{n}@example.org") for n in range(300)]
    answers = await _exchange(client, b"".join(_get(f"/v1/suppressions/{e}", check_key) for e in emails), len(emails))
    assert [body.split(b'"')[3].decode() for _, body in answers] == emails
    assert all((b'"suppressed": true' in body) == (e == "jane@example.com") for (_, body), e in zip(answers, emails))
    # Up to the first check memory cannot answer, at once; after it, in order behind it, as aiohttp
    # queues them, until the connection's queue is empty again.
    assert "jane@example.com" in ordinary and not {"user0@example.org", "user4@example.org"} & set(ordinary)


async def test_a_full_batch_answered_at_once_leaves_nothing_waiting(client, check_key):
    """The parser stops at 32 requests and keeps the rest; 100 sent at once are all answered."""
    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    ordinary = _counting_checks(client)
    emails = [f"user{n}@example.org" for n in range(100)]
    answers = await _exchange(client, b"".join(_get(f"/v1/suppressions/{e}", check_key) for e in emails), 100)
    assert [body.split(b'"')[3].decode() for _, body in answers] == emails
    assert len(ordinary) < 100  # at least the first batch was answered at once


async def test_a_body_that_comes_after_its_request_was_taken_holds_no_place_of_the_queue(client, check_key):
    """aiohttp 3.14 counted such a request against the connection's queue of 32 for ever: after
    one, 40 pipelined checks got 31 answers and the rest waited (a reviewing helper's)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    body = b'{"emails": ["a@example.org"]}'
    try:
        for _ in range(3):
            writer.write(f"POST /v1/check HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {check_key}\r\n"
                         f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode())
            async with asyncio.timeout(10):
                while (connection := _server_side_of(client, writer)) is None or connection._current_request is None:
                    await asyncio.sleep(0)  # until the service has taken the request, its body not yet sent
            writer.write(body)
            await asyncio.wait_for(reader.readuntil(b'{"suppressed": []}'), 10)
        emails = [f"user{n}@example.org" for n in range(40)]
        writer.write(b"".join(_get(f"/v1/suppressions/{e}", check_key) for e in emails))
        answered = [await asyncio.wait_for(reader.readuntil(b"}"), 10) for _ in emails]
        assert [a.rsplit(b'"email": "', 1)[1].split(b'"')[0].decode() for a in answered] == emails
    finally:
        writer.close()


async def test_checks_answered_at_once_are_counted_as_the_ordinary_route_counts_them(client, admin_key, check_key):
    def counts(text: str) -> tuple[str, str]:
        lines = text.splitlines()
        return (next(line for line in lines if line.startswith('suppression_checked_addresses_total{kind="single"}')),
                next(line for line in lines if line.startswith("suppression_http_requests_total")
                     and 'route="/v1/suppressions/{email}"' in line and 'status="200"' in line))

    await _exchange(client, _get(f"/v1/suppressions/{NOT_LISTED}", check_key), 1)
    admin = {"Authorization": f"Bearer {admin_key}"}
    before = counts(await (await client.get("/metrics", headers=admin)).text())
    ordinary = _counting_checks(client)
    await _exchange(client, b"".join(_get(f"/v1/suppressions/u{n}@example.org", check_key) for n in range(10)), 10)
    after = counts(await (await client.get("/metrics", headers=admin)).text())
    assert len(ordinary) < 10
    assert [float(line.rsplit(" ", 1)[1]) - float(old.rsplit(" ", 1)[1]) for line, old in zip(after, before)] == [10, 10]


async def test_answers_a_client_does_not_read_wait_for_it_within_a_bound(client, check_key):
    """Ten requests a write, each batch answered at once, and no answer read: past the bound the
    requests take the ordinary route, whose writes wait for the client, and reading stops."""
    request = _get(f"/v1/suppressions/{NOT_LISTED}", check_key)
    await _exchange(client, request, 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((client.server.host, client.server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(request)
    await reader.readuntil(b'"suppressed": false}')  # the connection is waiting for the next request
    connection = _server_side(client, sock)
    # Small kernel buffers on both ends, so that unread answers back up into the service's memory.
    connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ordinary = _counting_checks(client)
    async with asyncio.timeout(20):
        for sent in range(10, 5001, 10):  # 900 KB of answers, if every one were written
            before = connection._request_count
            writer.write(request * 10)
            while connection._request_count < before + 10 and not connection._buffer_paused:
                await asyncio.sleep(0)  # the service runs on this loop
            if connection._buffer_paused:
                break
    assert connection._buffer_paused, "the service read on"
    assert sent - len(ordinary) >= 300 and ordinary  # answered at once, then past the bound, not
    assert connection.transport.get_write_buffer_size() <= _UNREAD_BYTES + 32 * 200
    writer.close()


def _server_side(client, sock: socket.socket):
    """The service's end of the client's connection, once it has taken it."""
    mine = sock.getsockname()
    return next((c for c in client.server.runner.server.connections
                 if c.transport is not None and c.transport.get_extra_info("peername") == mine), None)


def _server_side_of(client, writer: asyncio.StreamWriter):
    return _server_side(client, writer.get_extra_info("socket"))
