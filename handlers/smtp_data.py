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
    kept: list[bytes] = []
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
        ended = found and (before + block)[-5:-3] == b"\r\n"
        before = (before + block[-2:])[-2:]
        size += len(block) - (len(DOT_LINE) if ended else 0)
        lines = (partial + block).split(b"\r\n")
        partial = lines[-1]
        if refusal is None and max(map(len, lines)) + 2 > line_limit:
            refusal = TOO_LONG
        if len(partial) > line_limit:
            partial = partial[-1:]  # refused already; its "\r" may end the line in the next block
        if refusal is None and size_limit and size > size_limit:
            refusal = TOO_MUCH
        if refusal is None:
            kept.append(block)
        else:
            kept.clear()  # refused: nothing more is held
        if ended:
            break
        if time.monotonic() - turn > _TURN_SECONDS:
            await asyncio.sleep(0)
            turn = time.monotonic()
    if refusal is not None:
        return b"", refusal
    message = b"".join(kept)[:-len(DOT_LINE)]
    return (b"\r\n" + message).replace(b"\r\n.", b"\r\n")[2:], None
