"""Large request bodies read in pieces, so that no caller's body holds the event loop for more
than a few milliseconds at a time: a bulk check's JSON of a million addresses is counted,
decoded, parsed, answered and let go piece by piece, with the loop free to answer others in
between. Nothing is done to the whole body at once: joining, counting or decoding 28 MB in one
call held every other answer for 20-50 ms (110 ms once in CI), and so did freeing a million
strings.

Only the flat shape a bulk check sends is read this way ({"emails": [strings], "topic": ...});
json.loads would hold the loop for the whole body (0.2 s for 20 MB) and build what it likes.
The pages' small forms are read whole by aiohttp (form_of, which makes its refusals 4xx and
refuses the forms whose reading would cost the loop).
"""

import asyncio
import codecs
import json
import re
import zlib
from json.decoder import scanstring
from json.encoder import encode_basestring_ascii as _json_string
from typing import NoReturn

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from multidict import MultiDictProxy

from handlers.errors import ApiError
from suppression.model import row_number

_ITEMS = 2_000  # strings parsed, or written, between two looks at the loop (a few ms)
_WINDOW = 64 * 1024  # characters decoded at least at once: the quick way needs room to work in
_QUICK_MARGIN = 4096  # characters before the end of what is decoded that take_items leaves alone
_LONGEST_STRING = 64 * 1024  # characters of one string in a large body: no address comes near
_ESCAPED = 12  # characters of JSON that one character can take at most (a pair of \\u escapes)
_SPACE = re.compile(r"[ \t\n\r]*")
_MOST_NAMES = 64  # names in a large body's object: a bulk check sends two
_STRING_PIECE = 64 * 1024  # characters of a long string written into an answer at once
NOT_FLAT = "a large body must be one flat object such as {\"emails\": [strings]}"


# A body is read (and unpacked) in pieces of this many bytes, with a turn of the loop between
# them: large enough that numpy's per-call cost in a bulk check vanishes, small enough to stream.
_PIECE_BYTES = 256 * 1024
# Members of one gzip body: a client concatenating files sends a few; tens of thousands of empty
# ones would each cost a turn of the loop and a copy of what follows.
_MAX_MEMBERS = 64
_ZLIB_WINDOWS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def refuse_encoded(request: web.Request) -> None:
    """415 for a form sent compressed: no browser or mail provider compresses one."""
    if _encoding(request) not in ("", "identity"):
        raise ApiError(415, "a form is read as it is sent: no Content-Encoding")


async def body_pieces(request: web.Request):
    """The body as it was before its Content-Encoding (gzip or deflate), in pieces of at most
    _PIECE_BYTES with a turn of the loop between them: the server does not decompress
    (handlers/protocol.py), since it would unpack all of a body on the loop at once (a megabyte
    of gzip is a gigabyte, two seconds of every answer), and one a handler never reads too.
    RequestPayloadError for a body not in its encoding; 415 for an encoding not read."""
    encoding = _encoding(request)
    if encoding in ("", "identity"):
        async for data in request.content.iter_chunked(_PIECE_BYTES):
            yield data
        return
    if encoding not in _ZLIB_WINDOWS:
        raise ApiError(415, f"Content-Encoding {encoding[:20]!r} is not read: send gzip, deflate or none")
    unpack, carried, members = None, b"", 1
    async for data in request.content.iter_chunked(_PIECE_BYTES):
        data, carried = carried + data, b""
        if unpack is None:
            # A "deflate" body without its zlib header, as some clients send it (aiohttp reads it too).
            raw = encoding == "deflate" and data[0] & 0xF != 8
            unpack = zlib.decompressobj(-zlib.MAX_WBITS if raw else _ZLIB_WINDOWS[encoding])
        while data:
            if unpack.eof:  # more after the end: another gzip member (as `cat a.gz b.gz` makes), or not
                if len(data) < 2 and encoding != "deflate":
                    carried = data  # a member's first byte alone: the next chunk says what it is
                    break
                members += 1
                if encoding == "deflate" or not data.startswith(b"\x1f\x8b") or members > _MAX_MEMBERS:
                    raise RequestPayloadError(f"the body goes on after its Content-Encoding ends ({encoding})")
                unpack = zlib.decompressobj(_ZLIB_WINDOWS[encoding])
            try:
                piece = unpack.decompress(data, _PIECE_BYTES)
            except zlib.error:
                raise RequestPayloadError(f"the body is not in its Content-Encoding ({encoding})") from None
            # Still to unpack: what the piece's size left, or after a member's end, what follows it.
            data = unpack.unused_data if unpack.eof else unpack.unconsumed_tail
            if piece:
                yield piece
            if data:
                await asyncio.sleep(0)
    if unpack is not None and (not unpack.eof or carried):
        raise RequestPayloadError(f"the body ends before its Content-Encoding does ({encoding})")


def _encoding(request: web.Request) -> str:
    return request.headers.get("Content-Encoding", "identity").strip().lower()


# Charsets a form may declare (codecs' names): each decodes in one linear pass. Browsers send
# UTF-8 to pages that ask for it; Python's codec for another ("punycode") took 240 ms of the loop
# for a 64 KB field, quadratic in its length.
_FORM_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})
# aiohttp reads a multipart body a line at a time, never letting the loop go while the body is
# in: 64 KB of empty lines before the first part took 105-165 ms a request. A mail provider's
# one-click form (RFC 8058 §3.1) is a part of a few hundred bytes; our pages send URL-encoded.
MULTIPART_FORM_BYTES = 4096


def _refuse_costly_form(request: web.Request) -> None:
    """415 for a charset outside _FORM_CHARSETS; 413 for a multipart form over
    MULTIPART_FORM_BYTES, or 411 for one that does not say its length (chunked)."""
    try:
        known = codecs.lookup(request.charset or "utf-8").name in _FORM_CHARSETS
    except LookupError:
        known = False
    if not known:
        raise ApiError(415, "a form is read in UTF-8, ASCII, Latin-1 or Windows-1252, not in the charset it names")
    if request.content_type == "multipart/form-data":
        if request.content_length is None:
            raise ApiError(411, "a multipart form must give its Content-Length")
        if request.content_length > MULTIPART_FORM_BYTES:
            raise ApiError(413, f"a multipart form is at most {MULTIPART_FORM_BYTES} bytes")


async def form_of(request: web.Request) -> MultiDictProxy:
    """The form a POST sent, every field text; 400 for one that cannot be read (a multipart body
    without its boundary or with a part aiohttp cannot decode), and for a field that is a file
    or bytes (a multipart part of another type), which would otherwise be stored as it came;
    415, 413 or 411 for a form whose reading would cost the loop (_refuse_costly_form)."""
    refuse_encoded(request)
    _refuse_costly_form(request)
    try:
        form = await request.post()
    except (LookupError, ValueError, RuntimeError, HttpProcessingError):
        raise ApiError(400, "the form could not be read (its charset, or its multipart body)") from None
    files = [value for value in form.values() if not isinstance(value, str)]
    for value in files:
        if isinstance(value, web.FileField):
            value.file.close()  # its temporary file, which nothing reads
    if files:
        raise ApiError(400, "every field of the form must be text, not a file")
    return form


def message_id_of(text: str) -> int:
    """A message's id from a path: ASCII digits, else 400 (int() would also read "+1", "1_0" and
    the digits of other scripts as some other message's); 404 beyond what a database can hold."""
    unsigned = text.removeprefix("-")
    if not (unsigned.isascii() and unsigned.isdigit()):
        raise ApiError(400, "a message id is a whole number")
    message_id = row_number(text)
    if not message_id:  # negative, 0, or past what a database holds
        raise ApiError(404, f"no received message {text[:30]}")
    return message_id


async def _yield() -> None:
    await asyncio.sleep(0)


async def count_each(chunks: list[bytes], *needles: bytes) -> int:
    """How often the needles occur in a body, all together, a chunk at a time."""
    total = 0
    for chunk in chunks:
        total += sum(chunk.count(needle) for needle in needles)
        await _yield()
    return total


async def flat_object(chunks: list[bytes]) -> dict:
    """{"name": value, ...} from the chunks of a UTF-8 body (RFC 8259), with values that are
    strings, null, or lists of strings; 400 for anything else. Strings are read by the json
    module's own scanner (the same escapes and errors as json.loads), and none may be longer
    than _LONGEST_STRING characters."""
    text = _Text(chunks)
    try:
        return await _flat_object(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg} at character {text.read + exc.pos}") from None
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None


class _Text:
    """The body's text, decoded as the parser reaches it: `text[at:]` is what is not yet read,
    and `read` counts the characters dropped before `text`. However the client cut its body,
    each refill decodes at least _WINDOW characters (or doubles what is pending) and copies
    what is pending once: the work of a refill is bounded, and all of them together linear."""

    def __init__(self, chunks: list[bytes]):
        self._chunks = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.at = 0
        self.read = 0

    async def more(self, at_least: int = 0) -> bool:
        """Decode chunks onto what is not yet read, `at_least` characters of them (_WINDOW at
        least) or up to the end of the body; False if there was nothing more. The loop is
        given back after each: a run of spaces or of long strings is read a refill at a time."""
        await _yield()
        at_least = max(at_least, _WINDOW)
        pieces, got = [], 0
        for chunk in self._chunks:
            piece = self._decoder.decode(chunk)
            pieces.append(piece)
            got += len(piece)
            if got >= at_least:
                break
        else:
            pieces.append(self._decoder.decode(b"", final=True))  # UnicodeDecodeError if cut mid-character
        if not any(pieces):
            return False
        self.read += self.at
        self.text = "".join([self.text[self.at:], *pieces])
        self.at = 0
        return True

    async def char(self) -> str:
        """The next character, not taken."""
        if self.at >= len(self.text) and not await self.more():
            raise ApiError(400, "the body is not valid JSON: it ends too early")
        return self.text[self.at]

    async def expect(self, what: str) -> None:
        if await self.char() != what:
            raise ApiError(400, NOT_FLAT if await self.char() in "{[0123456789-tf" else
                           f"the body is not valid JSON: expected {what!r} at character {self.read + self.at}")
        self.at += 1

    async def skip_space(self) -> None:
        self.at = _SPACE.match(self.text, self.at).end()
        while self.at == len(self.text) and await self.more():
            self.at = _SPACE.match(self.text, self.at).end()

    async def starts_with(self, word: str) -> bool:
        while len(self.text) - self.at < len(word) and await self.more():
            pass
        return self.text.startswith(word, self.at)

    def take_items(self, items: list[str], most: int) -> int:
        """Up to `most` items of a list, each a string and its comma, that lie well inside what
        is decoded, in one loop of local names: the way string() and its neighbours take them,
        a method call at every step, read a million addresses 17% slower than a whole-body
        parse. It stops before anything else (the list's end, a string near the end of what
        is decoded, one too long, an error), and the careful way reads it from there."""
        text, at, taken = self.text, self.at, 0
        end = len(text) - _QUICK_MARGIN
        while taken < most and at < end and text[at] == '"':
            try:
                item, after = scanstring(text, at + 1)
            except json.JSONDecodeError:
                break
            after = _SPACE.match(text, after).end()
            if after >= len(text) or text[after] != "," or len(item) > _LONGEST_STRING:
                break
            items.append(item)
            taken += 1
            at = _SPACE.match(text, after + 1).end()
        self.at = at
        return taken

    async def string(self) -> str:
        """The string that starts here, at its quote, of at most _LONGEST_STRING characters. One
        cut by the end of what is decoded fails to scan; it is scanned again once what is
        pending has doubled, so that a long string cut in many small chunks is scanned a few
        times, not once a chunk."""
        await self.expect('"')
        while True:
            try:
                value, end = scanstring(self.text, self.at)
                break
            except json.JSONDecodeError as exc:
                pending = len(self.text) - self.at
                if not (exc.msg.startswith("Unterminated") or exc.pos >= len(self.text) - _ESCAPED):
                    raise  # a bad escape or character, not the end of what is decoded
                if pending > _LONGEST_STRING * _ESCAPED:
                    _too_long()  # however it is escaped, more characters than a string may hold
                if not await self.more(at_least=pending):
                    raise
        if len(value) > _LONGEST_STRING:
            _too_long()
        self.at = end
        return value


def _too_long() -> NoReturn:
    raise ApiError(400, f"a string in a large body is longer than {_LONGEST_STRING} characters:"
                        " no address is, and one such string is read whole")


async def _flat_object(text: _Text) -> dict:
    await text.skip_space()
    await text.expect("{")
    await text.skip_space()
    found: dict = {}
    try:
        if await text.char() == "}":
            return await _end(text, found)
        while True:
            if len(found) >= _MOST_NAMES:
                raise ApiError(400, NOT_FLAT)
            name = await text.string()
            await text.skip_space()
            await text.expect(":")
            await text.skip_space()
            if isinstance(found.get(name), list):  # a name given twice: its first list goes slowly too
                await let_go(found.pop(name))
            found[name] = await _value(text)
            await text.skip_space()
            if await text.char() == "}":
                return await _end(text, found)
            await text.expect(",")
            await text.skip_space()
    except BaseException:
        await let_go_lists(found)  # a refused body's lists go as slowly as an answered one's
        raise


async def _value(text: _Text):
    first = await text.char()
    if first == '"':
        return await text.string()
    if await text.starts_with("null"):
        text.at += 4
        return None
    if first != "[":
        raise ApiError(400, NOT_FLAT)
    text.at += 1
    items: list[str] = []
    try:
        await _items(text, items)
    except BaseException:
        await let_go(items)
        raise
    return items


async def _items(text: _Text, items: list[str]) -> None:
    """The strings of a list, onto `items`, up to and past its "]"."""
    await text.skip_space()
    if await text.char() == "]":
        text.at += 1
        return
    since_yield = 0  # counted, not taken from len(items): a quick run may step over a multiple
    while True:
        since_yield += text.take_items(items, _ITEMS - since_yield)
        if since_yield >= _ITEMS:
            await _yield()
            since_yield = 0
            continue
        await text.skip_space()  # the quick way may stop at the end of what is decoded, amid the space
        items.append(await text.string())  # the item it left: near a chunk's end, too long, or the last
        since_yield += 1
        await text.skip_space()
        if await text.char() == "]":
            text.at += 1
            return
        await text.expect(",")
        await text.skip_space()


async def _end(text: _Text, found: dict) -> dict:
    text.at += 1
    await text.skip_space()
    if text.at != len(text.text):
        raise ApiError(400, "the body is not valid JSON: extra data after the object")
    return found


async def all_strings(values: list) -> bool:
    """Whether every item is a string, looked at a slice at a time."""
    for start in range(0, len(values), _ITEMS * 10):
        if not all(isinstance(value, str) for value in values[start:start + _ITEMS * 10]):
            return False
        await _yield()
    return True


async def let_go(values: list) -> None:
    """Empty a list a slice at a time: freeing a million strings at once held the loop 10-30 ms."""
    while values:
        del values[-_ITEMS * 10:]
        await _yield()


async def let_go_lists(body: dict) -> None:
    """let_go each list of a body's values."""
    for value in body.values():
        if isinstance(value, list):
            await let_go(value)


def json_in_pieces(value) -> list[bytes]:
    """The bytes of json.dumps(value), in pieces of about _STRING_PIECE, for the records of an
    answer (dicts with string keys, lists, strings, numbers, booleans, None). Written a value at a
    time and a long string in slices, each step a short call: a thread writing a large answer
    lets the loop's thread take the interpreter between them, where json.dumps holds it for the
    whole of its one call (60 ms for a 10 MB message, and 30 ms more to encode it)."""
    parts: list[str] = []
    _write(value, parts)
    pieces, pending, size = [], [], 0
    for part in parts:
        pending.append(part)
        size += len(part)
        if size >= _STRING_PIECE:
            pieces.append("".join(pending).encode())
            pending, size = [], 0
    pieces.append("".join(pending).encode())
    return pieces


def _write(value, parts: list[str]) -> None:
    if isinstance(value, dict) and (all(_small(item) for item in value.values())
                                    or not all(isinstance(name, str) for name in value)):
        # A flat record (a change, a message without its text): one short call. So too a dict
        # whose names are not strings, which json.dumps alone writes as it does.
        parts.append(json.dumps(value))
    elif isinstance(value, str):
        if len(value) <= _STRING_PIECE:
            parts.append(_json_string(value))
        else:
            parts.append('"')
            parts.extend(_json_string(value[start:start + _STRING_PIECE])[1:-1]
                         for start in range(0, len(value), _STRING_PIECE))
            parts.append('"')
    elif isinstance(value, dict):
        parts.append("{")
        for index, (name, item) in enumerate(value.items()):
            parts.append(", " if index else "")
            parts.append(_json_string(name) + ": ")
            _write(item, parts)
        parts.append("}")
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            parts.append(", " if index else "")
            _write(item, parts)
        parts.append("]")
    else:
        parts.append(json.dumps(value))


def _small(value, depth: int = 0) -> bool:
    """A value json.dumps writes in a short call: no long string, and at most a short list of such."""
    if isinstance(value, str):
        return len(value) <= _STRING_PIECE
    if isinstance(value, (list, tuple)):
        return depth == 0 and len(value) <= 1000 and all(_small(item, 1) for item in value)
    return not isinstance(value, dict)


async def json_list_in_slices(name: str, values: list[str]):
    """The bytes of {"name": [values]}, a slice at a time, for a streamed answer."""
    yield b'{"' + name.encode() + b'": ['
    for start in range(0, len(values), _ITEMS):
        chunk = ",".join(json.dumps(value, ensure_ascii=False) for value in values[start:start + _ITEMS])
        yield ((b"," if start else b"") + chunk.encode("utf-8"))
        await _yield()
    yield b"]}"
