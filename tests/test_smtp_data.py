"""DATA read in blocks (handlers/smtp_data.py) gives what aiosmtpd's line-at-a-time reading gave:
the message with its transparency dots removed, 552 and 500 once the section has ended, and
nothing read past the end mark, however the bytes arrive."""

import asyncio

from hypothesis import given, settings, strategies as st

from handlers.smtp_data import TOO_LONG, TOO_MUCH, read_data

LINE_LIMIT = 1001  # aiosmtpd's, and its reader's limit


async def read(pieces: list[bytes], size_limit: int | None = None) -> tuple[bytes, str | None, bytes]:
    """(message, refusal, what is left in the reader) for a section arriving in these pieces."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)

    async def arrive():
        for piece in pieces:
            reader.feed_data(piece)
            await asyncio.sleep(0)

    arriving = asyncio.ensure_future(arrive())
    message, refusal = await read_data(reader, size_limit, LINE_LIMIT)
    await arriving
    reader.feed_eof()
    return message, refusal, await reader.read()


def sent(lines: list[bytes]) -> bytes:
    """The section a client sends for these lines: each dot-stuffed, then the end mark."""
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


async def test_the_dots_of_transparency_are_removed_and_a_line_ending_in_a_dot_is_text():
    message, refusal, rest = await read([b"..hello\r\n.x\r\nHello.\r\n.\r\nQUIT\r\n"])
    assert (message, refusal, rest) == (b".hello\r\nx\r\nHello.\r\n", None, b"QUIT\r\n")


async def test_an_empty_message_and_one_of_an_empty_line():
    assert await read([b".\r\nQUIT\r\n"]) == (b"", None, b"QUIT\r\n")
    assert await read([b"\r\n.\r\n"]) == (b"\r\n", None, b"")


async def test_an_end_mark_split_over_arrivals_is_found_and_nothing_after_it_is_taken():
    assert await read([b"abc\r", b"\n", b".", b"\r", b"\nNEXT"]) == (b"abc\r\n", None, b"NEXT")


async def test_bare_line_feeds_and_carriage_returns_stay_inside_their_line():
    assert await read([b"a\nb\rc\r\n.\r\n"]) == (b"a\nb\rc\r\n", None, b"")


async def test_too_much_is_552_and_a_long_line_500_once_the_section_ends():
    assert await read([b"x" * 900 + b"\r\n" + b"y" * 900 + b"\r\n.\r\nQUIT\r\n"], size_limit=1000) == (
        b"", TOO_MUCH, b"QUIT\r\n")
    assert await read([b"x" * 600, b"y" * 600 + b"\r\n.\r\nQUIT\r\n"]) == (b"", TOO_LONG, b"QUIT\r\n")
    assert (await read([b"x" * 998 + b"\r\n.\r\n"]))[1] is None  # 1,000 with its line break


async def test_five_hundred_thousand_empty_lines_are_read_in_blocks():
    message, refusal, _ = await read([b"\r\n" * 500_000 + b".\r\n"])
    assert (len(message), refusal) == (1_000_000, None)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r\n", b"\n")), max_size=40),
       cuts=st.lists(st.integers(min_value=1, max_value=30), max_size=20))
def test_any_lines_come_back_as_they_were_however_they_arrive(lines, cuts):
    section = sent(lines)
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(section[at:at + cut])
        at += cut
    pieces.append(section[at:] + b"RSET\r\n")
    message, refusal, rest = asyncio.run(read([p for p in pieces if p]))
    assert (message, refusal, rest) == (b"".join(line + b"\r\n" for line in lines), None, b"RSET\r\n")
