"""Large request bodies read in slices, so that no caller's body holds the event loop for more
than a few milliseconds at a time: a bulk check's JSON of a million addresses is decoded,
parsed and answered piece by piece, with the loop free to answer others in between.

Only the flat shape a bulk check sends is read this way ({"emails": [strings], "topic": ...});
json.loads would hold the loop for the whole body (0.2 s for 20 MB) and build what it likes.
"""

import asyncio
import codecs
import json
import re
from json.decoder import scanstring

from handlers.errors import ApiError

_DECODE_BYTES = 1024 * 1024  # of UTF-8 decoded between two looks at the loop
_ITEMS = 2_000  # strings parsed, or written, between two looks at the loop (a few ms)
_SPACE = re.compile(r"[ \t\n\r]*")
_FLAT = "a large body must be one flat object such as {\"emails\": [strings]}"


async def _yield() -> None:
    await asyncio.sleep(0)


async def decoded(raw: bytes) -> str:
    """UTF-8 text of a body (RFC 8259), decoded a megabyte at a time; 400 if it is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    parts = []
    try:
        for start in range(0, len(raw), _DECODE_BYTES):
            parts.append(decoder.decode(raw[start:start + _DECODE_BYTES], final=start + _DECODE_BYTES >= len(raw)))
            await _yield()
        parts.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    return "".join(parts)


async def flat_object(text: str) -> dict:
    """{"name": value, ...} with values that are strings, null, or lists of strings; 400 for
    anything else. Strings are read by the json module's own scanner (the same escapes and
    errors as json.loads)."""
    try:
        return await _flat_object(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except IndexError:
        raise ApiError(400, "the body is not valid JSON: it ends too early") from None


async def _flat_object(text: str) -> dict:
    position = _skip(text, 0)
    _expect(text, position, "{")
    position = _skip(text, position + 1)
    found: dict = {}
    if text[position] == "}":
        return _end(text, position + 1, found)
    while True:
        _expect(text, position, '"')
        name, position = scanstring(text, position + 1)
        position = _skip(text, position)
        _expect(text, position, ":")
        position = _skip(text, position + 1)
        found[name], position = await _value(text, position)
        position = _skip(text, position)
        if text[position] == "}":
            return _end(text, position + 1, found)
        _expect(text, position, ",")
        position = _skip(text, position + 1)


async def _value(text: str, position: int):
    first = text[position]
    if first == '"':
        return scanstring(text, position + 1)
    if text.startswith("null", position):
        return None, position + 4
    if first != "[":
        raise ApiError(400, _FLAT)
    items: list[str] = []
    position = _skip(text, position + 1)
    if text[position] == "]":
        return items, position + 1
    while True:
        _expect(text, position, '"')
        item, position = scanstring(text, position + 1)
        items.append(item)
        if len(items) % _ITEMS == 0:
            await _yield()
        position = _skip(text, position)
        if text[position] == "]":
            return items, position + 1
        _expect(text, position, ",")
        position = _skip(text, position + 1)


def _skip(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()


def _expect(text: str, position: int, what: str) -> None:
    if text[position] != what:
        raise ApiError(400, _FLAT if text[position] in "{[0123456789-tf" else
                       f"the body is not valid JSON: expected {what!r} at character {position}")


def _end(text: str, position: int, found: dict) -> dict:
    if _skip(text, position) != len(text):
        raise ApiError(400, "the body is not valid JSON: extra data after the object")
    return found


async def all_strings(values: list) -> bool:
    """Whether every item is a string, looked at a slice at a time."""
    for start in range(0, len(values), _ITEMS * 50):
        if not all(isinstance(value, str) for value in values[start:start + _ITEMS * 50]):
            return False
        await _yield()
    return True


async def json_list_in_slices(name: str, values: list[str]):
    """The bytes of {"name": [values]}, a slice at a time, for a streamed answer."""
    yield b'{"' + name.encode() + b'": ['
    for start in range(0, len(values), _ITEMS):
        chunk = ",".join(json.dumps(value, ensure_ascii=False) for value in values[start:start + _ITEMS])
        yield ((b"," if start else b"") + chunk.encode("utf-8"))
        await _yield()
    yield b"]}"
