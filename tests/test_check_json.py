"""The single check's answer, put together without json.dumps in its common case (issue 24):
always the very text json.dumps (web.json_response) writes; and a bulk check's large JSON
body, read in pieces wherever they are cut: always what json.loads reads, or refused."""

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers import bodies
from handlers.api import check_json
from handlers.bodies import flat_object
from handlers.errors import ApiError

_values = st.one_of(st.none(), st.booleans(), st.text(max_size=30), st.integers(), st.just("ö\"\\\u2028\ud800"))


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=60), st.one_of(st.none(), st.text(max_size=20)), _values,
       st.dictionaries(st.sampled_from(["purpose", "reason", "source", "since", "until", "email"]), _values, max_size=3),
       st.booleans())
def test_the_check_answer_is_what_json_dumps_writes(email, topic, suppressed, extra, reorder):
    body = {"email": email, "topic": topic, "suppressed": suppressed, **extra}
    if reorder:
        body = dict(reversed(list(body.items())))
    assert check_json(body) == json.dumps(body)


def test_the_common_answer_takes_the_short_way():
    body = {"email": "jöhn@xn--exmple-cua.com", "topic": None, "suppressed": False}
    assert check_json(body) == json.dumps(body) == '{"email": "j\\u00f6hn@xn--exmple-cua.com", "topic": null, "suppressed": false}'


# -- a large body, read in pieces (handlers/bodies.py) -------------------------------------

_strings = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_flat_values = st.one_of(st.none(), _strings, st.lists(_strings, max_size=6))
_spaces = st.sampled_from(["", " ", "\n", " \t\r\n "])


@st.composite
def _flat_bodies(draw) -> bytes:
    """A flat JSON object as bytes, in any of the spellings json.dumps writes, with any spacing."""
    value = draw(st.dictionaries(_strings, _flat_values, max_size=4))
    text = json.dumps(value, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 0, 2])))
    return (draw(_spaces) + text + draw(_spaces)).encode()


@st.composite
def _chunked(draw, body: bytes) -> list[bytes]:
    """The body cut anywhere, through a character's bytes or an escape as well."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=8)))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]


def _read(chunks: list[bytes], quick_margin: int | None = None, window: int | None = None) -> dict:
    """flat_object's reading, with take_items's margin and the least characters a refill
    decodes as given: the shipped ones are larger than any body drawn here, which would then
    be decoded at once, its cuts and the quick way untried."""
    shipped = bodies._QUICK_MARGIN, bodies._WINDOW
    if quick_margin is not None:
        bodies._QUICK_MARGIN = quick_margin
    if window is not None:
        bodies._WINDOW = window
    try:
        return asyncio.run(flat_object(chunks))
    finally:
        bodies._QUICK_MARGIN, bodies._WINDOW = shipped


_margins = st.sampled_from([None, 0, 1, 3, 8])
_windows = st.sampled_from([1, 2, 5, 16, None])


@settings(max_examples=400, deadline=None)
@given(st.data(), _margins, _windows)
def test_a_large_body_read_in_pieces_is_what_json_loads_reads(data, margin, window):
    body = data.draw(_flat_bodies())
    assert _read(data.draw(_chunked(body)), margin, window) == json.loads(body)


@settings(max_examples=400, deadline=None)
@given(st.data(), _margins, _windows)
def test_a_broken_body_read_in_pieces_is_refused_as_json_loads_refuses_it(data, margin, window):
    body = data.draw(_flat_bodies())
    at = data.draw(st.integers(0, len(body)))
    broken = data.draw(st.sampled_from([body[:at], body[:at] + b"\\" + body[at:], body[:at] + b"\xff" + body[at:],
                                        body[:at] + b"," + body[at:], body + b"x"]))
    try:
        expected = json.loads(broken)
    except (ValueError, UnicodeDecodeError):
        with pytest.raises(ApiError) as refused:
            _read(data.draw(_chunked(broken)), margin, window)
        assert refused.value.status == 400
    else:
        assert _read(data.draw(_chunked(broken)), margin, window) == expected


def _cut(body: bytes, size: int) -> list[bytes]:
    return [body[i:i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("quick_margin", [None, 0])
@pytest.mark.parametrize("window", [None, 16])
def test_a_string_past_the_longest_in_a_large_body_is_refused_however_it_is_cut(monkeypatch, quick_margin, window):
    monkeypatch.setattr(bodies, "_LONGEST_STRING", 100)
    fits = {"emails": ["a" * 100, "\u00e9" * 100, "b"]}
    body = json.dumps(fits).encode()
    assert _read(_cut(body, 16), quick_margin, window) == _read([body], quick_margin, window) == fits
    # Too long, amid other items (where the quick way takes them) or last.
    for emails in (["a" * 50, "\u00e9" * 101], ["a" * 50, "c" * 101, "b"], ["\u00e9" * 101] + ["d"] * 20):
        body = json.dumps({"emails": emails}).encode()
        for chunks in ([body], _cut(body, 16)):
            with pytest.raises(ApiError, match="longer than 100 characters"):
                _read(chunks, quick_margin, window)


def test_a_bad_character_early_in_a_long_string_is_named_not_taken_for_its_length(monkeypatch):
    monkeypatch.setattr(bodies, "_LONGEST_STRING", 100)
    monkeypatch.setattr(bodies, "_WINDOW", 16)
    body = b'{"emails": ["a\x01' + b"b" * 5000 + b'"]}'
    with pytest.raises(ApiError, match="Invalid control character"):
        _read(_cut(body, 16))


def test_a_long_string_in_small_chunks_is_scanned_a_few_times_not_once_a_chunk(monkeypatch):
    # Scanned again at every chunk, a string of n characters in chunks of c cost n^2/c: a
    # client pacing its sends chose c.
    monkeypatch.setattr(bodies, "_WINDOW", 64)
    scanned = []

    def counting(text, at, *rest):
        scanned.append(len(text) - at)
        return json.decoder.scanstring(text, at, *rest)

    monkeypatch.setattr(bodies, "scanstring", counting)
    body = json.dumps({"emails": ["x" * 60_000]}).encode()
    assert _read(_cut(body, 16)) == {"emails": ["x" * 60_000]}
    assert sum(scanned) <= 4 * len(body), (len(scanned), sum(scanned))


@pytest.mark.parametrize("window", [None, 1000])
@pytest.mark.parametrize("size", [7, 1000, 10_796, 256 * 1024])
def test_the_loop_is_given_back_every_so_many_items_however_the_body_is_cut(monkeypatch, size, window):
    # Counted from len(items), the quick way's short runs (a small window) stepped over every
    # multiple of 2,000: 200,000 addresses in 10,796-byte chunks gave the loop back once.
    if window is not None:
        monkeypatch.setattr(bodies, "_WINDOW", window)
        monkeypatch.setattr(bodies, "_QUICK_MARGIN", 100)
    given_back = []

    async def counted():
        given_back.append(1)

    monkeypatch.setattr(bodies, "_yield", counted)
    emails = [f"user{n}@example.com" for n in range(20_000)]
    body = json.dumps({"emails": emails}).encode()
    assert _read(_cut(body, size)) == {"emails": emails}
    assert len(given_back) >= len(emails) // bodies._ITEMS - 1  # at 2,000, 4,000, ... 18,000 items


def test_a_long_run_of_space_gives_the_loop_back_as_it_is_read(monkeypatch):
    given_back = []

    async def counted():
        given_back.append(1)

    monkeypatch.setattr(bodies, "_yield", counted)
    spaces = b" " * 2_000_000
    body = b'{"emails": [' + spaces + b'"a@example.com"' + spaces + b"]" + spaces + b"}"
    assert _read(_cut(body, 4096)) == {"emails": ["a@example.com"]}
    assert len(given_back) >= 3 * len(spaces) // (2 * bodies._WINDOW)  # once a refill at least


def test_a_large_body_of_many_names_is_refused_before_they_are_all_read():
    body = json.dumps({f"k{n}": None for n in range(100_000)}).encode()
    with pytest.raises(ApiError, match="one flat object") as refused:
        _read([body])
    assert refused.value.status == 400


_records = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(_records)
def test_an_answer_written_in_pieces_is_what_json_dumps_writes(record):
    assert b"".join(bodies.json_in_pieces(record)).decode() == json.dumps(record)


def test_names_that_are_not_strings_are_written_as_json_dumps_writes_them():
    record = {"list": [{1: "a", None: [1, 2], True: {"x": [3]}}], "more": [[1, 2], {"y": [{"z": "w"}]}]}
    assert b"".join(bodies.json_in_pieces(record)).decode() == json.dumps(record)


def test_a_long_string_is_written_in_pieces_as_json_dumps_writes_it_whole(monkeypatch):
    monkeypatch.setattr(bodies, "_STRING_PIECE", 7)  # pieces that cut escapes and characters of every width
    text = "a\"b\\c\n\u00e9\u4e2d\U0001f600\udcff" * 50
    pieces = bodies.json_in_pieces({"raw": text, "n": [1, None]})
    assert b"".join(pieces).decode() == json.dumps({"raw": text, "n": [1, None]}) and len(pieces) > 10


@pytest.mark.parametrize("raw", [b"", b"plain", b"\xff" * 200_001, ("\u00e9" * 70_000).encode(), b"a\xe2\x82" * 40_000])
def test_raw_mail_is_decoded_in_pieces_as_in_one_call(raw):
    from suppression.records import text_of

    assert text_of(raw, piece=1001) == raw.decode("utf-8", "replace")
    assert text_of(raw) == raw.decode("utf-8", "replace")
