"""The JSON API for mailing tools (CONTRACT §5): thin translation to suppression/service.py."""

import asyncio
import codecs
import json
import logging
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _json_string

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from handlers.bodies import (
    NOT_FLAT, all_strings, count_each, flat_object, json_in_pieces, json_list_in_slices, let_go, let_go_lists,
    body_pieces, message_id_of,
)
from handlers.errors import ApiError, json_answers
from handlers.state import METRICS, SERVICE, SETTINGS, WEBHOOKS
from suppression.apikeys import ROLES, ApiKey
from suppression.addresses import HASHES
from suppression.claims import check_purpose
from suppression.errors import StoreUnavailable
from suppression.records import change_record, message_record, subject_record, suppression_record
from suppression.model import Actor, Role, Scope, Source, row_number

log = logging.getLogger(__name__)

_MAX_LINE_BYTES = 2048  # longer "lines" are no address; they are skipped, not buffered
_LINES_AT_ONCE = 8192
_DEFAULT_CHANGES_PAGE = 1000
SMALL_JSON_BYTES = 64 * 1024  # every body but the bulk check's is a few fields
MAX_JSON_CONTAINERS = 64  # bytes `{` and `[` in a body past SMALL_JSON_BYTES, in strings too (docs/api.md)
MAX_JSON_ITEMS = 1_000_000  # addresses in one JSON bulk check (text/plain streams any number)
_SMALL_ANSWER = 2000  # items checked or answered at once; more go through bodies.py in slices


def add_routes(app: web.Application) -> None:
    routes = [
        ("GET", "/v1/suppressions/{email}", get_suppression),
        ("GET", "/v1/suppressions/{email}/history", get_history),
        ("DELETE", "/v1/suppressions/{email}", delete_suppression),
        ("POST", "/v1/suppressions", post_suppression),
        ("POST", "/v1/check", post_check),
        ("GET", "/v1/changes", get_changes),
        ("POST", "/v1/links", post_link),
        ("POST", "/v1/campaigns/{id}", post_campaign),
        ("GET", "/v1/stats", get_stats),
        ("GET", "/v1/subjects/{email}", get_subject),
        ("POST", "/v1/subjects/{email}/erase", post_erase),
        ("GET", "/v1/inbox", get_inbox),
        ("GET", "/v1/inbox/{id}", get_inbox_message),
        ("POST", "/v1/inbox/{id}/resolve", post_resolve),
        ("GET", "/healthz", get_healthz),
        ("GET", "/metrics", get_metrics),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, json_answers(handler, path))
        if method == "GET":
            # What a 405's Allow promises beside GET (RFC 9110 §9.3.2): load balancers ask HEAD
            # /healthz, monitors HEAD /metrics.
            app.router.add_route("HEAD", path, json_answers(handler, path))
    # Other methods on these paths, and unknown /v1 paths, still answer in JSON.
    allowed: dict[str, list[str]] = {}
    for method, path, _ in routes:
        allowed.setdefault(path, []).append(method)
    for path, methods in allowed.items():
        app.router.add_route("*", path, json_answers(_method_not_allowed(methods), path))
    app.router.add_route("*", "/v1/{anything:.*}", json_answers(not_found, "/v1/{anything}"))


def _method_not_allowed(methods: list[str]):
    # RFC 9110 §15.5.6: a 405 names the methods the resource does take.
    allow = ", ".join(methods + (["HEAD"] if "GET" in methods else []))

    async def refuse(request: web.Request) -> web.Response:
        raise ApiError(405, f"{request.method} is not allowed here", {"Allow": allow})

    return refuse


def _needed(role: str) -> str:
    """Which keys may: "an admin key", "a sync or an admin key" (a key's role includes those below it)."""
    roles = ROLES[ROLES.index(role):]
    return " or ".join(f"{'an' if r[0] in 'aeiou' else 'a'} {r}" for r in roles) + " key"


async def not_found(request: web.Request) -> web.Response:
    raise ApiError(404, "no such endpoint")


# -- authentication ---------------------------------------------------------------------


async def require(request: web.Request, role: Role) -> ApiKey:
    """The request's API key, if its role may do what `role` needs; else 401 or 403."""
    presented = bearer_key(request.headers.get("Authorization", ""))
    if presented is None:
        raise ApiError(401, "missing API key: send Authorization: Bearer KEY", _CHALLENGE)
    key = await request.app[SERVICE].api_keys.authenticate(presented)
    if key is None:
        raise ApiError(401, "invalid API key", _CHALLENGE)
    if not key.allows(role):
        raise ApiError(403, f"the key {key.name!r} is a {key.role} key; this needs {_needed(role)}")
    return key


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="suppression"'}


def bearer_key(header: str) -> str | None:
    """The key an `Authorization: Bearer KEY` header presents, or None."""
    kind, _, presented = header.partition(" ")
    presented = presented.strip()
    return presented if kind.lower() == "bearer" and presented else None


def actor_of(key: ApiKey) -> Actor:
    return Actor.of_api_key(key.name)


# -- checks -----------------------------------------------------------------------------


async def get_suppression(request: web.Request) -> web.Response:
    key = await require(request, Role.CHECK)
    result = await request.app[SERVICE].check(request.match_info["email"], Scope.of_topic(request.query.get("topic")),
                                              request.query.get("purpose"))
    if request.method == "GET":  # a monitor's HEAD is no address checked before a send
        request.app[METRICS].checked["single"] += 1
    body = result.as_dict(reveal_erasure=key.allows(Role.ADMIN))
    return web.Response(text=check_json(body), content_type="application/json")


_CHECK_KEYS = ("email", "topic", "suppressed")


def check_json(body: dict) -> str:
    """json.dumps(body), as web.json_response writes it: the most common answer, an address not
    suppressed, put together from its two strings (1.9 µs of json.dumps a check, 0.5 this way)."""
    if tuple(body) != _CHECK_KEYS or body["suppressed"] is not False:
        return json.dumps(body)
    topic = body["topic"]
    if topic is not None and not isinstance(topic, str) or not isinstance(body["email"], str):
        return json.dumps(body)
    return (f'{{"email": {_json_string(body["email"])}, "topic": {"null" if topic is None else _json_string(topic)}'
            f', "suppressed": false}}')


async def post_check(request: web.Request) -> web.StreamResponse:
    await require(request, Role.CHECK)
    check_purpose(request.query.get("purpose"))  # an unknown purpose is refused before anything is read
    if request.content_type == "text/plain":
        return await _check_text(request)
    if request.content_type == "application/json":
        if "hash" in request.query:
            raise ApiError(400, "hashed checks are text/plain: one hex digest a line")
        return await _check_json(request)
    raise ApiError(415, "send application/json {\"emails\": [...]} or text/plain, one address a line")


async def _check_json(request: web.Request) -> web.StreamResponse:
    body = await json_object(request, allowed={"emails", "topic"}, max_bytes=request.app[SETTINGS].http.max_json_bytes)
    try:
        return await _answer_check(request, body)
    finally:
        await let_go_lists(body)  # answered or refused (an unknown topic), a slice at a time


async def _answer_check(request: web.Request, body: dict) -> web.StreamResponse:
    emails = body.get("emails")
    if not isinstance(emails, list) or not await all_strings(emails):
        raise ApiError(400, "`emails` must be a list of strings")
    scope = Scope.of_topic(optional_string(body, "topic"))
    await request.app[SERVICE].live.see_writes()
    suppressed = await request.app[SERVICE].suppressed_texts(emails, scope, request.query.get("purpose"))
    request.app[METRICS].checked["bulk"] += len(emails)
    if len(suppressed) < _SMALL_ANSWER:
        return web.json_response({"suppressed": suppressed})
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    await response.prepare(request)
    async for part in json_list_in_slices("suppressed", suppressed):
        await response.write(part)
    await response.write_eof()
    await let_go(suppressed)
    return response


async def _check_text(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    scope, algorithm = Scope.of_topic(request.query.get("topic")), request.query.get("hash")
    service.known_scope(scope)  # an unknown topic is refused before streaming starts
    if algorithm is not None and algorithm not in HASHES:
        raise ApiError(400, f"hash must be one of: {', '.join(HASHES)}")
    # Read as UTF-8 whatever it is, a body in another encoding would match no line: an answer of
    # "none suppressed" that a mailing tool would send to. So a declared charset that keeps
    # ASCII as ASCII (ISO-8859-1, which Java's HTTP clients declare by default, Shift JIS...) is
    # read as such, and one that does not (UTF-16 and UTF-32) is refused, as is a body whose first
    # bytes look like UTF-16: before the answer starts, when a refusal can still be one.
    decoder = _decoder_of(request.charset)
    pieces = body_pieces(request)
    first = await anext(pieces, b"")
    if first.startswith(codecs.BOM_UTF8):
        first = first[len(codecs.BOM_UTF8):]
    elif first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"@\x00" in first or b"\x00@" in first:
        raise ApiError(400, "a text/plain check is UTF-8, one address a line; this body looks like UTF-16")
    await service.live.see_writes()
    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    await response.prepare(request)
    checked = 0
    try:
        async for block in _line_blocks(_chunks(first, pieces, decoder)):
            checked += block.count(b"\n")
            if algorithm is None:
                hits = await service.suppressed_block(block, scope, request.query.get("purpose"))
            else:
                hits = await service.suppressed_hashed_block(block, algorithm, scope, request.query.get("purpose"))
            if hits:
                await response.write(hits)
            await asyncio.sleep(0)  # a body already received would otherwise be checked in one go
    except RequestPayloadError as exc:
        # The answer has begun: it is cut off, not ended, so that the client cannot take it
        # for the whole answer (a chunked body without its last chunk is an error to it).
        log.warning("POST /v1/check: the body could not be read to its end (%s); the answer was cut off", exc)
        if request.transport is not None:
            request.transport.close()
        return response
    request.app[METRICS].checked["bulk"] += checked
    await response.write_eof()
    return response


def _decoder_of(charset: str | None):
    """An incremental decoder for a text check's declared charset, or None for UTF-8 (or ASCII),
    which is read as it comes; 415 for a charset Python does not know or that is not ASCII's
    superset (its newlines and addresses would not be bytes of ASCII)."""
    try:
        codec = codecs.lookup(charset or "utf-8")
        keeps_ascii = not codec.name.startswith(("utf-16", "utf-32")) and "\n@.".encode(codec.name) == b"\n@."
        # Its decoder must also read what is not text in it as U+FFFD: "idna" refuses to, and
        # failed in the middle of an answer already begun (a 500 inside a 200).
        codecs.getincrementaldecoder(codec.name)("replace").decode(b"\n@.\xff", final=True)
        keeps_ascii = keeps_ascii and not _holds_back(codec.name)
    except (LookupError, UnicodeError):  # unknown, or no text encoding at all ("base64", "rot13")
        keeps_ascii = False
    if not keeps_ascii:
        raise ApiError(415, f"charset {charset[:40]!r} is not read: send UTF-8, one address a line")
    if codec.name in ("utf-8", "ascii"):
        return None
    return codecs.getincrementaldecoder(codec.name)("replace")


def _holds_back(codec: str) -> bool:
    """Whether the decoder keeps back what it has read of ASCII: UTF-7 inside a run that "+"
    opens, for as long as the body goes on, decoding all it holds again at each chunk (a check
    key's 32 MB body held the loop 341 ms, its memory growing with it)."""
    decoder = codecs.getincrementaldecoder(codec)("replace")
    decoder.decode(b"+" + b"A" * 64)
    held = decoder.getstate()[0]
    return isinstance(held, bytes | bytearray) and len(held) > 16


async def _chunks(first: bytes, stream, decoder=None):
    """The body's chunks (the first already read), as UTF-8: through `decoder` if the body was
    declared in another charset."""
    if decoder is None:
        yield first
        async for data in stream:
            yield data
        return
    yield decoder.decode(first).encode()
    async for data in stream:
        yield decoder.decode(data).encode()
    yield decoder.decode(b"", final=True).encode()


def _by_lines(block: bytes):
    """A block of whole lines in pieces of about _LINES_AT_ONCE lines, each checked in one call:
    256 KB of real addresses are 7,000 lines, of empty ones 262,144 (0.24 s in one call, with
    erased addresses' keyed keys to look up too)."""
    count = block.count(b"\n")
    if count <= _LINES_AT_ONCE:
        yield block
        return
    step, start = len(block) * _LINES_AT_ONCE // count, 0
    while start < len(block):
        cut = block.find(b"\n", start + step) + 1 or len(block)
        yield block[start:cut]
        start = cut


async def _line_blocks(chunks):
    """Blocks of whole lines, each ending in a newline, from a streamed body's chunks."""
    pending = b""
    skipping = False  # inside an overlong line, dropped up to its newline
    async for data in chunks:
        if skipping:
            newline = data.find(b"\n")
            if newline < 0:
                continue
            data, skipping = data[newline + 1:], False
        pending += data
        cut = pending.rfind(b"\n") + 1
        if cut:
            block, pending = pending[:cut], pending[cut:]
            for piece in _by_lines(block):
                yield piece
        if len(pending) > _MAX_LINE_BYTES:
            pending, skipping = b"", True
    if pending and not skipping:
        yield pending + b"\n"


# -- changes ----------------------------------------------------------------------------


async def post_suppression(request: web.Request) -> web.Response:
    key = await require(request, Role.ADMIN)
    body = await json_object(request, allowed={"email", "topic", "reason", "until"})
    email = body.get("email")
    if not isinstance(email, str):
        raise ApiError(400, "`email` is required and must be a string")
    service = request.app[SERVICE]
    until = service.until_of(body["until"]) if body.get("until") is not None else None
    suppression, created = await service.suppress(
        email, Scope.of_topic(optional_string(body, "topic")), optional_string(body, "reason") or "manual",
        Source.API, actor_of(key), until=until,
    )
    return web.json_response(
        {
            "email": suppression.email,
            "topic": suppression.scope.topic,
            "suppressed": True,
            "created": created,
            **suppression_record(suppression),
            **({"until": suppression.until} if suppression.until is not None else {}),
        }
    )


async def delete_suppression(request: web.Request) -> web.Response:
    key = await require(request, Role.ADMIN)
    scope = Scope.of_topic(request.query.get("topic"))
    email, removed = await request.app[SERVICE].unsuppress(request.match_info["email"], scope, Source.API, actor_of(key))
    return web.json_response({"email": email, "topic": scope.topic, "removed": removed})


async def get_changes(request: web.Request) -> web.Response:
    await require(request, Role.SYNC)  # the whole list: not for every sender
    page, next_cursor = await request.app[SERVICE].changes(request.query.get("after"), _limit(request))
    return await _built_aside(request, lambda: {"changes": [change_record(c) for c in page], "next": next_cursor})


async def get_history(request: web.Request) -> web.Response:
    """The proof for one address: every change to its suppressions, oldest first."""
    key = await require(request, Role.SYNC)
    rights = request.app[SERVICE].rights
    email, history = await rights.history(request.match_info["email"], reveal_erasure=key.allows(Role.ADMIN))
    return await _built_aside(request, lambda: {"email": email, "history": [change_record(c) for c in history]})


async def get_subject(request: web.Request) -> web.Response:
    """Everything held about one address (the right of access); an empty record if nothing is."""
    await require(request, Role.ADMIN)
    service = request.app[SERVICE]
    subject = await service.rights.subject(request.match_info["email"])
    return await _built_aside(request, lambda: subject_record(subject, service.review.due))


async def _built_aside(request: web.Request, build: Callable[[], dict]) -> web.StreamResponse:
    """A JSON answer of many records, or of large ones (a message's raw text), built and written
    in a thread, in pieces (bodies.json_in_pieces), and sent a piece at a time: on the loop, a
    history of 30,000 changes held every check for 460 ms, and one stored message of 9 MB for
    280 ms. What goes into it is the request's own and not shared."""
    pieces = await asyncio.to_thread(lambda: json_in_pieces(build()))
    response = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    response.content_length = sum(map(len, pieces))
    await response.prepare(request)
    if request.method != "HEAD":  # aiohttp writes what it is given, HEAD or not: the body would follow the headers
        for piece in pieces:
            await response.write(piece)
    await response.write_eof()
    return response


async def post_erase(request: web.Request) -> web.Response:
    """Forget an address and keep its opt-out (the right to erasure)."""
    key = await require(request, Role.ADMIN)
    email, suppressed = await request.app[SERVICE].rights.erase(request.match_info["email"], actor_of(key))
    return web.json_response({"email": email, "erased": True, "suppressed": suppressed})


def _limit(request: web.Request) -> int:
    limit = row_number(request.query.get("limit", str(_DEFAULT_CHANGES_PAGE)))
    if limit is None:
        raise ApiError(400, "limit must be a whole number")
    return limit


# -- received mail ----------------------------------------------------------------------


async def get_inbox(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)  # people's mail: admin keys only
    service = request.app[SERVICE]
    review = service.review
    page, next_cursor = await review.inbox(request.query.get("status"), request.query.get("after"), _limit(request))
    return await _built_aside(request, lambda: {"messages": [message_record(m, review.due(m)) for m in page], "next": next_cursor})


async def get_inbox_message(request: web.Request) -> web.Response:
    await require(request, Role.ADMIN)
    service = request.app[SERVICE]
    message = await service.review.inbox_message(_message_id(request))
    return await _built_aside(request, lambda: message_record(message, service.review.due(message), with_raw=True))


async def post_resolve(request: web.Request) -> web.Response:
    key = await require(request, Role.ADMIN)
    message_id = _message_id(request)
    body = await json_object(request, allowed={"action", "emails", "topic", "note"})
    action = body.get("action")
    if not isinstance(action, str):
        raise ApiError(400, "`action` is required: \"suppress\" or \"dismiss\"")
    emails = body.get("emails")
    if emails is not None and (not isinstance(emails, list) or not all(isinstance(e, str) for e in emails)):
        raise ApiError(400, "`emails` must be a list of strings")
    service = request.app[SERVICE]
    message = await service.review.resolve(
        message_id, action, actor_of(key), emails, Scope.of_topic(optional_string(body, "topic")),
        optional_string(body, "note"),
    )
    return web.json_response(message_record(message, service.review.due(message)))


def _message_id(request: web.Request) -> int:
    return message_id_of(request.match_info["id"])


# -- links ----------------------------------------------------------------------------


async def post_link(request: web.Request) -> web.Response:
    # A check key may mint links: the tool that checks before sending is the one that
    # puts a link in each email.
    await require(request, Role.CHECK)
    body = await json_object(request, allowed={"email", "topic", "campaign"})
    email = body.get("email")
    if not isinstance(email, str):
        raise ApiError(400, "`email` is required and must be a string")
    link = request.app[SERVICE].links.mint_link(
        email, Scope.of_topic(optional_string(body, "topic")), optional_string(body, "campaign"))
    return web.json_response({
        "url": link.url,
        "mailto": link.mailto,
        "list_unsubscribe": link.list_unsubscribe,
        "list_unsubscribe_post": link.list_unsubscribe_post,
        "message_id": link.message_id,
    })


# -- campaigns and statistics -------------------------------------------------------------


async def post_campaign(request: web.Request) -> web.Response:
    """How many a campaign was sent to: set (a repeat changes nothing), for its rate in /v1/stats."""
    await require(request, Role.SYNC)
    body = await json_object(request, allowed={"sent"})
    if "sent" not in body:
        raise ApiError(400, "`sent` is required: how many recipients the campaign was sent to")
    campaign, sent = await request.app[SERVICE].record_sent(request.match_info["id"], body["sent"])
    return web.json_response({"campaign": campaign, "sent": sent})


async def get_stats(request: web.Request) -> web.Response:
    """Suppressions created and lifted per bucket; counts only, never an address."""
    await require(request, Role.SYNC)
    unknown = set(request.query) - {"from", "to", "by"}
    if unknown:
        raise ApiError(400, f"unknown parameter(s): {', '.join(sorted(unknown))[:200]} (from, to, by)")
    report = await request.app[SERVICE].statistics.report(
        request.query.get("from"), request.query.get("to"), request.query.get("by"))
    return await _built_aside(request, report.as_dict)  # by campaign, a row a campaign: any number


# -- operations -------------------------------------------------------------------------


async def get_healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    health = await service.health()
    if health is None:
        return web.json_response({"status": "unavailable"}, status=503)
    # Checks are answered either way: a refusing disk or an overdue desk is reported, not made
    # an outage. Unauthenticated: the reasons (paths, free space) are in the log, not here.
    return web.json_response({
        "status": "ok" if health.writable else "degraded",
        "writes": "ok" if health.writable else "refused",
        "review": "overdue" if health.review.overdue else "ok",
    })


async def get_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    try:
        metrics.review = await request.app[SERVICE].review.review_state()
    except StoreUnavailable:
        metrics.review = None  # the gauges are left out rather than made up
    try:
        metrics.changes = await request.app[SERVICE].statistics.change_counts()
    except StoreUnavailable:
        pass  # the counts read last time: a counter never goes back
    try:
        metrics.webhooks = await request.app[WEBHOOKS].report() if WEBHOOKS in request.app else []
    except StoreUnavailable:
        metrics.webhooks = []
    return metrics.render()


# -- request bodies ---------------------------------------------------------------------


async def json_object(request: web.Request, allowed: set[str], max_bytes: int = SMALL_JSON_BYTES) -> dict:
    """The body as a JSON object with only `allowed` keys; 415, 413 or 400 otherwise.

    json.loads builds every object of a body before we can look at it: 60 MB of `[{},{},...]`
    held 1.6 GB. A body past SMALL_JSON_BYTES must therefore be flat (a list of strings, as
    the bulk check's is) and hold at most MAX_JSON_ITEMS items, both counted in C first: as bytes,
    so a `{` or `,` inside a string counts too (docs/api.md says so).
    """
    if request.content_type != "application/json":
        raise ApiError(415, "send a JSON body with Content-Type: application/json")
    chunks = await _read_at_most(request, max_bytes)
    if sum(map(len, chunks)) > SMALL_JSON_BYTES:
        if await count_each(chunks, b"{", b"[") > MAX_JSON_CONTAINERS:
            raise ApiError(400, NOT_FLAT)
        if await count_each(chunks, b",") >= MAX_JSON_ITEMS:
            raise ApiError(413, f"at most {MAX_JSON_ITEMS} items in one JSON body; send text/plain,"
                                " one address a line, for more (it is streamed)")
        # Past the small size, read in pieces: json.loads would hold the loop for the whole body.
        body = await flat_object(chunks)
        try:
            return _only(body, allowed)
        except ApiError:
            await let_go_lists(body)
            raise
    try:
        # RFC 8259: JSON between systems is UTF-8; json.loads would guess others.
        body = json.loads(b"".join(chunks).decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(400, "the body nests too deeply") from None
    except ValueError as exc:  # an integer of more than 4,300 digits (CVE-2020-10735's limit)
        raise ApiError(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return _only(body, allowed)


def _only(body: dict, allowed: set[str]) -> dict:
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    return body


async def _read_at_most(request: web.Request, max_bytes: int) -> list[bytes]:
    """The whole body in chunks as read (never joined: a large one is read in pieces), or 413
    as soon as it passes `max_bytes` (nothing more is buffered)."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, f"the body is larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in body_pieces(request):  # unpacked: the limit is of what is read, not of what came
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return chunks


def optional_string(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ApiError(400, f"`{name}` must be a string or null")
    return value
