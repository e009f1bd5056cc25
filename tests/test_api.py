"""The JSON API for mailing tools (CONTRACT §5), driven over a real socket with a real SQLite file."""

import asyncio
import codecs
import gzip
import hashlib
import io
import json
import logging
import urllib.error
import urllib.request
import zlib

import aiohttp
import pytest

from handlers.app import build_app
from handlers.state import SERVICE
from suppression.model import ALL_EMAILS
from tests.support.http import bearer
from tests.support.settings import make_settings

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores


async def suppress(client, key, email, **fields):
    answer = await client.post("/v1/suppressions", json={"email": email, **fields}, headers=bearer(key))
    assert answer.status == 200, await answer.text()
    return await answer.json()


# -- authentication ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"},
     {"Authorization": "Bearer sk_000000000000_wrong"}, {"Authorization": "Bearer nonsense"}],
)
async def test_missing_or_wrong_key_is_401_json(client, headers):
    answer = await client.get("/v1/suppressions/jane@example.com", headers=headers)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error" in await answer.json()


async def test_a_large_body_refused_before_it_is_read_still_gets_its_answer(client):
    """A body of known length that the handler leaves unread is read and dropped after the
    answer, so that the client, still sending, reads the 401 (closing at once had it reset)."""
    # urllib sends the whole body before it reads: as a plain HTTP client does.
    request = urllib.request.Request(str(client.make_url("/v1/check")), data=b"jane@example.com\n" * 500_000,
                                     headers={"Authorization": "Bearer nonsense", "Content-Type": "text/plain"})

    def send() -> int:
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    assert await asyncio.to_thread(send) == 401


async def test_right_id_with_wrong_secret_is_401(client, check_key):
    forged = check_key[: check_key.rindex("_") + 1] + "A" * 43
    answer = await client.get("/v1/suppressions/jane@example.com", headers=bearer(forged))
    assert answer.status == 401


async def test_check_key_cannot_write(client, check_key):
    add = await client.post("/v1/suppressions", json={"email": "jane@example.com"}, headers=bearer(check_key))
    delete = await client.delete("/v1/suppressions/jane@example.com", headers=bearer(check_key))
    assert (add.status, delete.status) == (403, 403)
    assert "admin" in (await add.json())["error"]
    state = await client.get("/v1/suppressions/jane@example.com", headers=bearer(check_key))
    assert (await state.json())["suppressed"] is False


async def test_revoked_key_is_refused(aiohttp_client, settings):
    first = await aiohttp_client(build_app(settings))
    service = first.app[SERVICE]
    key = await service.api_keys.create_api_key("temporary", "check")
    assert (await first.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    await service.api_keys.revoke_api_key("temporary")
    await first.close()
    second = await aiohttp_client(build_app(settings))
    assert (await second.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 401


async def test_a_key_revoked_on_this_instance_is_refused_by_the_next_request(client):
    # Before: the instance that revoked a key kept honouring it from its cache for 30 s.
    service = client.app[SERVICE]
    key = await service.api_keys.create_api_key("temporary", "check")
    for _ in range(2):  # the second answer comes from the cache of recent keys
        assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    await service.api_keys.revoke_api_key("temporary")
    answer = await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))
    assert answer.status == 401 and (await answer.json())["error"] == "invalid API key"


async def test_a_key_revoked_by_another_process_is_refused_once_its_row_is_read_again(client, settings, monkeypatch):
    # The CLI revokes in its own process: a running server reads each key again once it is
    # _KEY_CACHE_SECONDS old (beside an answer, never before it), and refuses it from then on.
    import suppression.keyring
    from suppression.keyfile import signing_keys
    from suppression.service import SuppressionService

    service = client.app[SERVICE]
    key = await service.api_keys.create_api_key("temporary", "check")
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    cli = SuppressionService.of_settings(settings, signing_keys(settings))
    await cli.start(with_index=False)
    try:
        await cli.api_keys.revoke_api_key("temporary")
    finally:
        await cli.stop()
    # Within the bound the cached key is still honoured, as before (what `apikey revoke` says).
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    monkeypatch.setattr(suppression.keyring, "_KEY_CACHE_SECONDS", 0.0)  # the bound has passed
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    await asyncio.gather(*service.api_keys._rereading.values())  # the read beside that answer
    answer = await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))
    assert answer.status == 401


async def test_a_wrong_secret_for_a_cached_key_id_is_refused(client):
    key = await client.app[SERVICE].api_keys.create_api_key("mailer", "check")
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    for wrong in (forged, key[:-1], key + "x", key[:16] + "é" * 20):
        assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(wrong))).status == 401, wrong
    assert (await client.get("/v1/suppressions/jane@example.com", headers=bearer(key))).status == 200


# -- single check -----------------------------------------------------------------------


async def test_single_check_of_a_clean_address(client, check_key):
    answer = await client.get("/v1/suppressions/Jane@Example.com", headers=bearer(check_key))
    assert answer.status == 200
    assert await answer.json() == {"email": "jane@example.com", "topic": None, "suppressed": False}


async def test_single_check_reports_reason_source_and_since(client, admin_key, check_key):
    added = await suppress(client, admin_key, "jane@bücher.de", reason="unsubscribe")
    for spelling in ("JANE@BÜCHER.DE", "jane@xn--bcher-kva.de", "Jane <jane@XN--BCHER-KVA.de>"):
        answer = await client.get(f"/v1/suppressions/{spelling}", headers=bearer(check_key))
        body = await answer.json()
        assert body == {
            "email": "jane@xn--bcher-kva.de", "topic": None, "suppressed": True, "scope": "all",
            "reason": "unsubscribe", "source": "api", "since": added["since"],
        }


async def test_topic_suppression_scopes_only_that_topic(client, admin_key, check_key):
    await suppress(client, admin_key, "jane@example.com", topic="newsletters")

    async def suppressed(query):
        answer = await client.get(f"/v1/suppressions/jane@example.com{query}", headers=bearer(check_key))
        return (await answer.json())["suppressed"]

    assert await suppressed("?topic=newsletters") is True
    assert await suppressed("?topic=promotions") is False
    assert await suppressed("") is False


async def test_global_suppression_covers_every_topic(client, admin_key, check_key):
    await suppress(client, admin_key, "jane@example.com")
    answer = await client.get("/v1/suppressions/jane@example.com?topic=promotions", headers=bearer(check_key))
    body = await answer.json()
    assert (body["suppressed"], body["topic"], body["scope"]) == (True, "promotions", "all")


@pytest.mark.parametrize(
    ("path", "says"),
    [("/v1/suppressions/not-an-address", "not an email address"),
     ("/v1/suppressions/jane@example.com?topic=sports", "unknown topic")],
)
async def test_single_check_bad_input_is_400_json(client, check_key, path, says):
    answer = await client.get(path, headers=bearer(check_key))
    assert answer.status == 400
    assert says in (await answer.json())["error"]


# -- bulk check -------------------------------------------------------------------------


async def test_bulk_json_returns_suppressed_inputs_as_given_in_order(client, admin_key, check_key):
    await suppress(client, admin_key, "b@example.com")
    await suppress(client, admin_key, "d@example.com", topic="promotions")
    emails = ["a@example.com", "B@Example.COM", "not an address", "Bee <b@example.com>", "d@example.com", "b@example.com"]
    answer = await client.post("/v1/check", json={"emails": emails}, headers=bearer(check_key))
    assert await answer.json() == {"suppressed": ["B@Example.COM", "Bee <b@example.com>", "b@example.com"]}
    scoped = await client.post(
        "/v1/check", json={"emails": emails, "topic": "promotions"}, headers=bearer(check_key)
    )
    assert (await scoped.json())["suppressed"] == [
        "B@Example.COM", "Bee <b@example.com>", "d@example.com", "b@example.com",
    ]


async def test_bulk_text_streams_suppressed_lines_as_given(client, admin_key, check_key):
    await suppress(client, admin_key, "b@example.com")
    await suppress(client, admin_key, "ñandú@bücher.de")
    body = (
        "a@example.com\r\n"
        "  B@EXAMPLE.com\r\n"
        "\n"
        + "x" * 5000 + "\n"  # an overlong line is skipped, not buffered
        + "Ñandú@xn--bcher-kva.de\n"
        "b@example.com"  # the last line needs no newline
    )
    answer = await client.post(
        "/v1/check", data=body.encode(), headers={**bearer(check_key), "Content-Type": "text/plain"}
    )
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert await answer.text() == "  B@EXAMPLE.com\nÑandú@xn--bcher-kva.de\nb@example.com\n"


async def test_bulk_text_of_many_lines_in_many_blocks(client, admin_key, check_key):
    await client.app[SERVICE].store.import_rows(
        iter(_rows(f"user{i}@example.com" for i in range(0, 60_000, 3))), actor="test"
    )
    await client.app[SERVICE].live.follow_changes()
    lines = [f"User{i}@example.com" for i in range(60_000)]
    answer = await client.post(
        "/v1/check?topic=newsletters", data=io.BytesIO("\n".join(lines).encode()),
        headers={**bearer(check_key), "Content-Type": "text/plain; charset=utf-8"},
    )
    assert (await answer.text()).splitlines() == lines[::3]


async def test_bulk_text_in_a_charset_that_keeps_ascii_is_read_as_declared(client, check_key):
    # Java's HTTP clients declare ISO-8859-1 by default; their lists of ASCII addresses, and
    # every hashed check, were answered until the charset was refused, and must still be.
    service = client.app[SERVICE]
    await service.suppress("first@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    await service.suppress("jöhn@exämple.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    body = "first@example.com\nother@example.com\nJÖHN@EXÄMPLE.COM\n"
    for charset in ("ISO-8859-1", "windows-1252"):
        answer = await client.post("/v1/check", data=body.encode(charset), headers={
            **bearer(check_key), "Content-Type": f"text/plain; charset={charset}"})
        assert (answer.status, await answer.text()) == (200, "first@example.com\nJÖHN@EXÄMPLE.COM\n"), charset
    digest = hashlib.sha256(b"first@example.com").hexdigest()
    hashed = await client.post("/v1/check?hash=sha256", data=f"{digest}\n".encode(), headers={
        **bearer(check_key), "Content-Type": "text/plain; charset=ISO-8859-1"})
    assert (hashed.status, await hashed.text()) == (200, f"{digest}\n")


async def test_a_charset_whose_decoder_cannot_replace_what_is_not_text_is_refused_before_the_answer(client, check_key):
    # "idna" keeps ASCII as ASCII, but its decoder refuses errors="replace": it failed in the middle
    # of an answer already begun, a 500 inside a 200.
    answer = await client.post("/v1/check", data=b"bob@example.com\n", headers={
        **bearer(check_key), "Content-Type": "text/plain; charset=idna"})
    assert answer.status == 415 and "idna" in (await answer.json())["error"]


@pytest.mark.parametrize("path", ["/v1/check", "/v1/check?hash=sha256"])
async def test_a_charset_whose_decoder_holds_back_what_it_reads_is_refused(client, check_key, path):
    # UTF-7 keeps all of a run that "+" opens until the run ends, and decoded all it held again at
    # each chunk: a probing helper's 32 MB of "+AAAA..." held the loop 341 ms (a check key's).
    answer = await client.post(path, data=b"+" + b"A" * 100_000, headers={
        **bearer(check_key), "Content-Type": "text/plain; charset=utf-7"})
    assert answer.status == 415 and "utf-7" in (await answer.json())["error"]


async def test_bulk_text_with_a_byte_order_mark_checks_its_first_line(client, admin_key, check_key):
    await client.app[SERVICE].suppress("first@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    for charset in ("", "; charset=UTF-8", "; charset=us-ascii"):
        answer = await client.post("/v1/check", data=codecs.BOM_UTF8 + b"first@example.com\nother@example.com\n",
                                   headers={**bearer(check_key), "Content-Type": "text/plain" + charset})
        assert (answer.status, await answer.text()) == (200, "first@example.com\n"), charset


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
async def test_a_body_not_in_its_content_encoding_is_a_400_before_any_answer(client, check_key, content_type):
    body = b"a@example.com\n" if content_type == "text/plain" else b'{"emails": ["a@example.com"]}'
    answer = await client.post("/v1/check", data=body, headers={
        **bearer(check_key), "Content-Type": content_type, "Content-Encoding": "gzip"})
    assert answer.status == 400
    assert "could not be read" in (await answer.json())["error"]


@pytest.mark.sqlite_only  # the server's reading, the same whatever the store
async def test_a_compressed_body_no_handler_reads_is_never_unpacked(client, caplog):
    # aiohttp unpacked every gzip body as it came, on the loop, for any route: a megabyte of it
    # (a gigabyte unpacked) held every answer for two seconds; one not in gzip at all logged a
    # traceback. The server reads none of it now: a handler that reads a body unpacks it.
    for body in (b"not gzip at all", gzip.compress(b"\n" * 50_000_000)):
        answer = await client.get("/healthz", data=body, headers={"Content-Encoding": "gzip"})
        assert answer.status == 200
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.sqlite_only  # the slicing of the lines, the same whatever the store
async def test_a_bulk_check_of_costly_lines_is_looked_up_a_bounded_slice_at_a_time(client, check_key):
    # Slices were sized by how fast the last went: cheap lines, then 4,096 costly ones (each a
    # domain email-validator had not seen) held the loop 1.4 s (a probing helper's). A turn now
    # ends when 4 ms have passed, looked at after each line, and the loop gets its turn between:
    # cheap lines go many to a turn, costly ones (0.1-1 ms each) a few.
    service, sizes = client.app[SERVICE], []
    matching = service.live.matching

    def noted(forms, *args):
        sizes.append(len(forms))
        return matching(forms, *args)

    service.live.matching = noted
    await service.suppress("jöhn.7@exämple.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    lines = ["a"] * 1200 + [f"jöhn.{n}@" + ".".join([f"x{n}ä"] * 4) + ".de" for n in range(3000)]
    lines.append("Jöhn.7@Exämple.com")
    answer = await client.post("/v1/check", data="\n".join(lines).encode() + b"\n", headers={
        **bearer(check_key), "Content-Type": "text/plain"})
    assert (answer.status, await answer.text()) == (200, "Jöhn.7@Exämple.com\n")
    assert sum(sizes) == len(lines) and sizes[0] > 16  # cheap lines were not held to a count
    starts = [sum(sizes[:n]) for n in range(len(sizes))]
    costly = [max(0, start + size - max(start, 1200)) for start, size in zip(starts, sizes)]
    assert max(costly) <= 256 and len(sizes) > 3000 / 256  # each turn cut by the clock, not after thousands


@pytest.mark.sqlite_only  # the body's reading, the same whatever the store
async def test_a_compressed_bulk_check_is_unpacked_in_pieces_to_its_limit(client, check_key):
    await client.app[SERVICE].suppress("first@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    lines = b"other@example.com\n" * 100_000 + b"first@example.com\n"
    # Two gzip members in one body (as `cat a.gz b.gz` makes), the suppressed address in the second.
    members = gzip.compress(lines[:50_000]) + gzip.compress(lines[50_000:])
    for encoding, body in (("gzip", members), ("deflate", zlib.compress(lines)),
                           ("deflate", zlib.compress(lines)[2:-4])):  # deflate without its zlib header too
        answer = await client.post("/v1/check", data=body, headers={
            **bearer(check_key), "Content-Type": "text/plain", "Content-Encoding": encoding})
        assert (answer.status, await answer.text()) == (200, "first@example.com\n"), encoding
    # The same in one small chunk; and what follows a member that is no member is an error, not
    # the end (the answer has begun: it is cut off, which a client reads as an error).
    headers = {**bearer(check_key), "Content-Type": "text/plain", "Content-Encoding": "gzip"}
    answer = await client.post("/v1/check", headers=headers,
                               data=gzip.compress(b"other@example.com\n") + gzip.compress(b"first@example.com\n"))
    assert (answer.status, await answer.text()) == (200, "first@example.com\n")
    answer = await client.post("/v1/check", headers=headers, data=gzip.compress(b"first@example.com\n") + b"not gzip")
    with pytest.raises(aiohttp.ClientPayloadError):
        await answer.read()
    # JSON is limited by what it unpacks to (64 MiB), not by what came: 70 KB of gzip.
    bomb = gzip.compress(b'{"emails": ["' + b"a" * 70_000_000 + b'"]}')
    answer = await client.post("/v1/check", data=bomb, headers={
        **bearer(check_key), "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert answer.status == 413
    for encoding in ("br", "compress"):
        answer = await client.post("/v1/check", data=b"x", headers={
            **bearer(check_key), "Content-Type": "text/plain", "Content-Encoding": encoding})
        assert answer.status == 415 and encoding in (await answer.json())["error"]


async def test_a_text_check_whose_body_breaks_after_the_answer_began_is_cut_off_not_ended(client, check_key):
    """A gzip stream that goes bad after its first 100,000 lines: the answer has begun (200) and
    cannot become a 400, so it is cut off without its last chunk, which a client reads as an
    error, never as the whole answer."""
    import gzip
    import zlib

    await client.app[SERVICE].suppress("user1@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    good = zlib.compressobj(wbits=31)
    body = good.compress("".join(f"user{i}@example.com\n" for i in range(100_000)).encode()) + good.flush(zlib.Z_SYNC_FLUSH)
    body += b"\x00" * 64 + gzip.compress(b"more@example.com\n")  # not a continuation of the stream
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write((f"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {check_key}\r\n"
                  f"Content-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n").encode()
                 + body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)  # to the end: the service closes the connection
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200 ") and b"user1@example.com\n" in answer
    assert not answer.endswith(b"0\r\n\r\n") and b" 500 " not in answer


def _rows(emails):
    from suppression.addresses import key_of_canonical
    from suppression.model import ImportRow, signed64

    for line, email in enumerate(emails, start=1):
        yield ImportRow(email, ALL_EMAILS, "import", signed64(key_of_canonical(email)), line)


@pytest.mark.parametrize(
    ("data", "content_type", "status", "says"),
    [
        (b'{"emails": ["a@example.com"', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "UTF-8"),
        (b'["a@example.com"]', "application/json", 400, "JSON object"),
        (b'{"emails": "a@example.com"}', "application/json", 400, "list of strings"),
        (b'{"emails": [1, 2]}', "application/json", 400, "list of strings"),
        (b'{"emails": [], "topic": 5}', "application/json", 400, "topic"),
        (b'{"emails": [], "topic": "sports"}', "application/json", 400, "unknown topic"),
        (b'{"emails": [], "extra": 1}', "application/json", 400, "unknown field"),
        (b"a@example.com", "application/xml", 415, "text/plain"),
        (b"a@example.com", "", 415, "text/plain"),
        # Text in another encoding matched no line: "none suppressed", a false answer.
        ("a@example.com\n".encode("utf-16"), "text/plain", 400, "UTF-16"),
        ("a@example.com\n".encode("utf-16-le"), "text/plain", 400, "UTF-16"),
        ("a@example.com\n".encode("utf-16-be"), "text/plain", 400, "UTF-16"),
        (b"a@example.com\n", "text/plain; charset=utf-16", 415, "UTF-8"),
        (b"a@example.com\n", "text/plain; charset=x-no-such-charset", 415, "UTF-8"),
        (b"a@example.com\n", "text/plain; charset=base64", 415, "UTF-8"),
        (b"a@example.com\n", "text/plain; charset=cp037", 415, "UTF-8"),  # EBCDIC: not ASCII's superset
    ],
)
async def test_bulk_bad_bodies_are_4xx_json(client, check_key, data, content_type, status, says):
    headers = {**bearer(check_key), "Content-Type": content_type}
    answer = await client.post("/v1/check", data=data, headers=headers)
    assert answer.status == status
    assert says in (await answer.json())["error"]


_PLENTY = [f"user{n}@example.com" for n in range(5_000)]  # past 64 KiB: a large body


@pytest.mark.parametrize("braced, status", [(62, 200), (63, 400)])
async def test_a_large_json_bodys_brackets_are_counted_as_bytes_strings_included(client, check_key, braced, status):
    # As docs/api.md says: a large body is counted before it is parsed, so quoted addresses
    # holding "{" count with the body's own "{" and "[": 62 of them make 64 in all, 63 one too
    # many, although a small body may hold any number.
    addresses = [f"{{x{n}}}@example.com" for n in range(braced)]
    data = json.dumps({"emails": _PLENTY + addresses}).encode()
    assert len(data) > 64 * 1024
    answer = await client.post("/v1/check", data=data, headers={**bearer(check_key), "Content-Type": "application/json"})
    assert answer.status == status
    if status == 400:
        assert "one flat object" in (await answer.json())["error"]
    small = await client.post("/v1/check", json={"emails": addresses}, headers=bearer(check_key))
    assert small.status == 200


async def test_every_value_of_a_large_json_body_is_flat_even_one_a_repeated_name_replaces(client, check_key):
    # json.loads keeps the last of a repeated name; a large body's values are checked as read.
    data = ('{"topic": 1, "topic": null, "emails": ' + json.dumps(_PLENTY) + "}").encode()
    assert len(data) > 64 * 1024
    answer = await client.post("/v1/check", data=data, headers={**bearer(check_key), "Content-Type": "application/json"})
    assert answer.status == 400 and "one flat object" in (await answer.json())["error"]


async def test_bulk_text_unknown_topic_is_400_before_streaming(client, check_key):
    answer = await client.post(
        "/v1/check?topic=sports", data=b"a@example.com\n",
        headers={**bearer(check_key), "Content-Type": "text/plain"},
    )
    assert answer.status == 400
    assert "unknown topic" in (await answer.json())["error"]


async def test_oversize_json_body_is_413_json(aiohttp_client, tmp_path):
    app = build_app(make_settings(tmp_path / "d", http={"max_json_bytes": 2048}))
    client = await aiohttp_client(app)
    key = await client.app[SERVICE].api_keys.create_api_key("k", "check")
    body = json.dumps({"emails": [f"user{i}@example.com" for i in range(500)]})
    answer = await client.post("/v1/check", data=body, headers={**bearer(key), "Content-Type": "application/json"})
    assert answer.status == 413
    assert "error" in await answer.json()
    # The service keeps answering.
    small = await client.post("/v1/check", json={"emails": ["a@example.com"]}, headers=bearer(key))
    assert small.status == 200


# -- add and remove ---------------------------------------------------------------------


async def test_add_is_idempotent_and_keeps_the_first_reason_and_time(client, admin_key):
    first = await suppress(client, admin_key, "Jane@Example.com", reason="complaint")
    again = await suppress(client, admin_key, "jane@example.com", reason="manual")
    assert first["created"] is True and again["created"] is False
    assert (again["reason"], again["since"]) == ("complaint", first["since"])
    assert first["email"] == "jane@example.com" and first["source"] == "api"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "`email` is required"),
        ({"email": 5}, "`email` is required"),
        ({"email": "nope"}, "not an email address"),
        ({"email": "a@example.com", "reason": "because"}, "unknown reason"),
        ({"email": "a@example.com", "topic": "sports"}, "unknown topic"),
        ({"email": "a@example.com", "color": "red"}, "unknown field"),
    ],
)
async def test_add_bad_input_is_400_and_writes_nothing(client, admin_key, body, says):
    answer = await client.post("/v1/suppressions", json=body, headers=bearer(admin_key))
    assert answer.status == 400
    assert says in (await answer.json())["error"]
    feed = await client.get("/v1/changes", headers=bearer(admin_key))
    assert (await feed.json())["changes"] == []


async def test_add_with_wrong_content_type_is_415(client, admin_key):
    answer = await client.post("/v1/suppressions", data="email=a@example.com", headers={
        **bearer(admin_key), "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 415


async def test_delete_lifts_only_its_scope_and_is_idempotent(client, admin_key, check_key):
    await suppress(client, admin_key, "jane@example.com")
    await suppress(client, admin_key, "jane@example.com", topic="newsletters")
    first = await client.delete("/v1/suppressions/JANE@example.com", headers=bearer(admin_key))
    again = await client.delete("/v1/suppressions/jane@example.com", headers=bearer(admin_key))
    assert (await first.json()) == {"email": "jane@example.com", "topic": None, "removed": True}
    assert (await again.json())["removed"] is False
    news = await client.get("/v1/suppressions/jane@example.com?topic=newsletters", headers=bearer(check_key))
    other = await client.get("/v1/suppressions/jane@example.com?topic=promotions", headers=bearer(check_key))
    assert (await news.json())["suppressed"] is True
    assert (await other.json())["suppressed"] is False


async def test_delete_bad_address_is_400(client, admin_key):
    answer = await client.delete("/v1/suppressions/nope", headers=bearer(admin_key))
    assert answer.status == 400


# -- change feed ------------------------------------------------------------------------


async def test_change_feed_lists_every_change_in_order_with_who(client, admin_key, sync_key):
    await suppress(client, admin_key, "a@example.com", reason="unsubscribe")
    await suppress(client, admin_key, "a@example.com")  # no change: already suppressed
    await suppress(client, admin_key, "b@example.com", topic="newsletters")
    await client.delete("/v1/suppressions/a@example.com", headers=bearer(admin_key))
    answer = await client.get("/v1/changes", headers=bearer(sync_key))
    body = await answer.json()
    assert [(c["action"], c["email"], c["topic"], c["reason"], c["actor"]) for c in body["changes"]] == [
        ("suppress", "a@example.com", None, "unsubscribe", "api:admin-tests"),
        ("suppress", "b@example.com", "newsletters", "manual", "api:admin-tests"),
        ("unsuppress", "a@example.com", None, None, "api:admin-tests"),
    ]
    assert body["next"] == body["changes"][-1]["cursor"]


async def test_change_feed_pages_with_the_cursor(client, admin_key, sync_key):
    for n in range(5):
        await suppress(client, admin_key, f"user{n}@example.com")
    seen, cursor = [], ""
    for _ in range(10):
        answer = await client.get(f"/v1/changes?after={cursor}&limit=2", headers=bearer(sync_key))
        body = await answer.json()
        if not body["changes"]:
            assert body["next"] == cursor
            break
        seen += [c["email"] for c in body["changes"]]
        cursor = body["next"]
    assert seen == [f"user{n}@example.com" for n in range(5)]


async def test_a_long_page_of_changes_and_a_long_history_read_as_short_ones_do(client, sync_key):
    # Past 100 rows the changes are read in a thread (10,000 held the loop 34-42 ms, a probing
    # helper's): the same changes, in the same order, as pages of 50; and a history as long.
    service = client.app[SERVICE]
    for n in range(65):
        await service.suppress("long@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
        await service.unsuppress("long@example.com", ALL_EMAILS, "api", "tests")
    whole = (await (await client.get("/v1/changes?limit=130", headers=bearer(sync_key))).json())["changes"]
    pages, cursor = [], ""
    for _ in range(3):
        body = await (await client.get(f"/v1/changes?after={cursor}&limit=50", headers=bearer(sync_key))).json()
        pages, cursor = pages + body["changes"], body["next"]
    assert len(whole) == 130 and whole == pages
    history = (await (await client.get("/v1/suppressions/long@example.com/history",
                                       headers=bearer(sync_key))).json())["history"]
    assert [c["cursor"] for c in history] == [c["cursor"] for c in whole]
    assert [c["action"] for c in history] == ["suppress", "unsuppress"] * 65


async def test_every_get_route_answers_head_as_its_405_promises(client, admin_key):
    # Its Allow said "GET, HEAD" while HEAD was refused with a 405 (a probing helper's). The
    # history and the feed are written a piece at a time: HEAD must get their headers alone, or
    # the body would be read as the next answer on the connection.
    await client.app[SERVICE].suppress("jane@example.com", ALL_EMAILS, "unsubscribe", "api", "tests")
    for path in ("/metrics", "/v1/changes", "/v1/suppressions/jane@example.com",
                 "/v1/suppressions/jane@example.com/history", "/v1/subjects/jane@example.com", "/healthz"):
        answer = await client.head(path, headers=bearer(admin_key))
        assert (answer.status, await answer.read()) == (200, b""), path
        again = await client.get(path, headers=bearer(admin_key))  # the same connection, still in step
        assert again.status == 200 and await again.read(), path
    refused = await client.put("/v1/changes", headers=bearer(admin_key))
    assert refused.status == 405 and refused.headers["Allow"] == "GET, HEAD"
    # A HEAD is no address checked: one GET of a check above, one counted.
    metrics = await (await client.get("/metrics", headers=bearer(admin_key))).text()
    assert 'suppression_checked_addresses_total{kind="single"} 1.0' in metrics


@pytest.mark.parametrize("query", ["?after=abc", "?after=-1", "?limit=0", "?limit=10001", "?limit=x",
                                   # What int() reads too: a sign, an underscore, other scripts' digits.
                                   "?after=%2B1", "?after=1_0", "?after=%D9%A1", "?limit=%EF%BC%91", "?limit=%2B5",
                                   # Past what int() reads of a string (4,300 digits): a ValueError, once a 500.
                                   "?after=" + "9" * 5000, "?limit=" + "9" * 5000])
async def test_change_feed_bad_cursor_or_limit_is_400(client, sync_key, query):
    answer = await client.get(f"/v1/changes{query}", headers=bearer(sync_key))
    assert answer.status == 400
    assert "error" in await answer.json()


# -- operations and unknown routes ------------------------------------------------------


async def test_healthz_and_metrics(client, admin_key, check_key):
    await suppress(client, admin_key, "a@example.com")
    await client.post("/v1/check", json={"emails": ["a@example.com", "b@example.com"]}, headers=bearer(check_key))
    health = await client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok", "writes": "ok", "review": "ok"})
    metrics = await client.get("/metrics")
    text = await metrics.text()
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert "suppression_list_size 1.0" in text
    assert 'suppression_checked_addresses_total{kind="bulk"} 2.0' in text
    assert 'suppression_changes_total{action="suppress",source="api"} 1.0' in text
    assert "suppression_database_writable 1.0" in text
    # Checks answered from memory before the database or the index caught up: none here.
    assert 'suppression_checks_answered_early_total{why="behind_writes"} 0.0' in text
    assert 'suppression_checks_answered_early_total{why="without_details"} 0.0' in text


async def test_unknown_route_and_method_are_json(client, check_key):
    missing = await client.get("/v1/nothing", headers=bearer(check_key))
    wrong = await client.put("/v1/check", headers=bearer(check_key))
    assert (missing.status, wrong.status) == (404, 405)
    assert "error" in await missing.json() and "error" in await wrong.json()


@pytest.mark.sqlite_only
async def test_checks_answer_while_another_process_holds_the_write_lock(client, admin_key, check_key):
    import sqlite3

    await suppress(client, admin_key, "held@example.com", reason="unsubscribe")
    blocker = sqlite3.connect(client.app[SERVICE].store.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # as an admin's long import does
    blocker.execute("INSERT INTO meta (key, value) VALUES ('import', 'running')")
    try:
        single = await client.get("/v1/suppressions/held@example.com", headers=bearer(check_key))
        bulk = await client.post("/v1/check", json={"emails": ["held@example.com", "free@example.com"]},
                                 headers=bearer(check_key))
        assert (single.status, (await single.json())["reason"]) == (200, "unsubscribe")
        assert (await bulk.json())["suppressed"] == ["held@example.com"]
    finally:
        blocker.execute("ROLLBACK")


@pytest.mark.parametrize("message_id", ["150113982990543252094976", "0", "-1", "9223372036854775808", "9" * 5000])
async def test_inbox_ids_beyond_any_message_are_404_not_500(client, admin_key, message_id):
    # Found by schemathesis: an id past SQLite's 64-bit integers overflowed into a 500.
    answer = await client.get(f"/v1/inbox/{message_id}", headers=bearer(admin_key))
    assert answer.status == 404
    assert (await answer.json())["error"].startswith("no received message")


@pytest.mark.parametrize("message_id", ["+1", "1_0", "%D9%A3", "%EF%BC%91", "1.0"])
async def test_an_inbox_id_not_written_in_ascii_digits_is_400_not_another_message(client, admin_key, message_id):
    # int() read "+1" as 1, "1_0" as 10 and the Arabic-Indic and full-width digits as 3 and 1:
    # other messages' ids (404 here, where there are none), not a refusal of the id.
    answer = await client.get(f"/v1/inbox/{message_id}", headers=bearer(admin_key))
    assert answer.status == 400
    assert (await answer.json())["error"] == "a message id is a whole number"


@pytest.mark.parametrize(("path", "allow"), [("/v1/check", "POST"), ("/v1/suppressions/a@example.com", "GET, DELETE, HEAD")])
async def test_405_names_the_methods_that_are_allowed(client, path, allow):
    answer = await client.request("PATCH", path)
    assert answer.status == 405
    assert answer.headers["Allow"] == allow
