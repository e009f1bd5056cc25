"""An SMTP DATA section read as it arrives, searched by C code, not a line at a time.

aiosmtpd reads DATA a line at a time, with Python work for each line and no pause while its
buffer holds more, then goes over every line again: 10 MB of empty lines (five million of
them) held the loop, and every check, for 400 ms at a time for as long as they came. Reading
up to each ".\r\n" instead still cost Python work for every line that ends in a dot: fifty
senders of "a.\r\n" lines held every check 0.4-0.8 s for 34 s. Here each arrival is taken
whole and searched in C (for the end mark, for a line too long a window at a time, for the
dots to undo), so the loop's work grows with the arrivals, never with the lines in them. What
it answers is aiosmtpd's: 552 for too much, 500 for a line too long, each once the section has
been read to its end (RFC 5321 §4.2.5).
"""

import asyncio
import sys

END_MARK = b"\r\n.\r\n"  # a line of one dot; its first line break may be the DATA command's own
DOT_LINE = b".\r\n"
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"
_EVERYTHING = sys.maxsize  # read() takes all that has arrived: the reader is left empty


async def read_data(reader: asyncio.StreamReader, size_limit: int | None, line_limit: int) -> tuple[bytes, str | None]:
    """The message, with the transparency dots of RFC 5321 §4.5.2 removed, and None; or, read to
    its end all the same, b"" and the reply refusing it. What follows the end mark (the next
    command, pipelined) is put back in the reader for aiosmtpd."""
    message = bytearray()  # dots removed as each arrival comes: no pass over ten megabytes at the end
    seen = b"\r\n"  # the last bytes arrived, up to four (less than a mark): at first, DATA's line break
    held = b""  # the last three bytes arrived, not in `message` yet: they may be the end mark's ".\r\n"
    before = b"\r\n"  # the two bytes arrived before `held`: where a line starts
    partial = b""  # the last line, while it has no line break yet
    size, refusal = 0, None
    while True:
        block = await reader.read(_EVERYTHING)
        if not block:
            raise ConnectionResetError("the connection closed during DATA")
        found = (seen + block).find(END_MARK)  # a mark cannot lie within `seen` alone: it is shorter
        if found >= 0:
            cut = found - len(seen) + len(END_MARK)
            block, rest = block[:cut], block[cut:]
            if rest and not reader.at_eof():
                # Nothing can have arrived since read() emptied the reader: `rest` goes back first.
                reader.feed_data(rest)
        seen = (seen + block)[-(len(END_MARK) - 1):]
        arrived = held + block
        ready, held = arrived[:-len(DOT_LINE)], arrived[-len(DOT_LINE):]
        size += len(ready)  # `held` counts once it is known not to be the end mark
        if refusal is None:
            partial, too_long = _open_line(partial, block, line_limit)
            if too_long:
                refusal = TOO_LONG
            elif size_limit and size > size_limit:
                refusal = TOO_MUCH
        if refusal is None:
            message += (before + ready).replace(b"\r\n.", b"\r\n")[len(before):]
        else:
            message.clear()  # refused: nothing more is held
        before = (before + ready)[-len(before):]
        if found >= 0:
            break  # `held` is the end mark's ".\r\n"
    if refusal is not None:
        return b"", refusal
    return bytes(message), None


def _open_line(partial: bytes, block: bytes, line_limit: int) -> tuple[bytes, bool]:
    """The line still open after `block` (it followed `partial`), and whether the two hold a line
    longer than `line_limit` with its line break: a line still open counts the one it must end
    with, and a "\r" at its end, which may be the first half of it, as that half. Found with C
    searches a window of line_limit bytes at a time, each jumping past the window's last line
    break: about two for every line_limit bytes, however short or long the lines."""
    text = partial + block
    at = 0  # where the line being looked at starts
    while True:
        last = text.rfind(b"\r\n", at, at + line_limit)  # a line break within reach: every line before it fits
        if last < 0:
            break
        at = last + 2
    if text.find(b"\r\n", at) >= 0:
        return b"", True  # a whole line of line_limit - 1 bytes or more, before its line break
    open_line = text[at:]
    return open_line, len(open_line) + (1 if open_line.endswith(b"\r") else 2) > line_limit
