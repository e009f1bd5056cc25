"""An SMTP DATA section read in blocks, not a line at a time.

aiosmtpd reads DATA a line at a time, with Python work for each line and no pause while its
buffer holds more, then goes over every line again: 10 MB of empty lines (five million of
them) held the loop, and every check, for 400 ms at a time for as long as they came, and for
a second at the end. Here the section is taken in blocks that C code searches (for the end
mark, the longest line, the dots to undo), and the loop is let go between blocks. What it
answers is aiosmtpd's: 552 for too much, 500 for a line too long, each once the section has
been read to its end (RFC 5321 §4.2.5).
"""

import asyncio
import time

DOT_LINE = b".\r\n"  # the end is a line of one dot: this, after a line break
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"
_TURN_SECONDS = 0.005  # of reading before the loop is let go


async def read_data(reader: asyncio.StreamReader, size_limit: int | None, line_limit: int) -> tuple[bytes, str | None]:
    """The message, with the transparency dots of RFC 5321 §4.5.2 removed, and None; or, read to
    its end all the same, b"" and the reply refusing it. Never reads past the end mark: what
    follows it (the next command, pipelined) stays in the reader."""
    kept = bytearray()  # one buffer: millions of blocks ("a.\r\n" lines) are no objects to join and free
    before = b"\r\n"  # the last two bytes read: at first, the line break of the DATA command
    partial = b""  # the last line, while it has no line break yet
    size, refusal, turn = 0, None, time.monotonic()
    while True:
        try:
            # Every ".\r\n" is found in C; it ends the section when a line break comes before it.
            block = await reader.readuntil(DOT_LINE)
            found = True
        except asyncio.LimitOverrunError as overrun:
            block = await reader.read(overrun.consumed)  # none there: all that cannot be the start of one
            found = False
        except asyncio.IncompleteReadError:
            raise ConnectionResetError("the connection closed during DATA") from None
        ended = found and (block[-5:-3] if len(block) >= 5 else (before + block)[-5:-3]) == b"\r\n"
        before = (before + block[-2:])[-2:]
        size += len(block) - (len(DOT_LINE) if ended else 0)
        partial, longest = _lines(partial, block, line_limit)
        if refusal is None and longest > line_limit:
            refusal = TOO_LONG
        if refusal is None and size_limit and size > size_limit:
            refusal = TOO_MUCH
        if refusal is None:
            kept += block
        else:
            kept.clear()  # refused: nothing more is held
        if ended:
            break
        if time.monotonic() - turn > _TURN_SECONDS:
            await asyncio.sleep(0)
            turn = time.monotonic()
    if refusal is not None:
        return b"", refusal
    del kept[-len(DOT_LINE):]
    return (b"\r\n" + kept).replace(b"\r\n.", b"\r\n")[2:], None


def _lines(partial: bytes, block: bytes, line_limit: int) -> tuple[bytes, int]:
    """The line still open after `block` (it followed `partial`), and the length of the longest
    line the two hold, with its line break: a line still open counts the one it must end with,
    and a "\r" at its end, which may be the first half of it, as that half."""
    if len(partial) + len(block) + 2 <= line_limit:  # the common case: no line can be too long
        cut = block.rfind(b"\r\n")
        return (block[cut + 2:] if cut >= 0 else partial + block), 0
    lines = (partial + block).split(b"\r\n")
    last = lines[-1]
    longest = max(max(map(len, lines[:-1]), default=0) + 2, len(last) + (1 if last.endswith(b"\r") else 2))
    return (last if len(last) <= line_limit else last[-1:]), longest  # a refused line's "\r" may end it next
