"""The receiving MTA's verdict on the sender (RFC 8601 Authentication-Results), when we trust it.

Anyone can write an Authentication-Results header into a message, so only headers whose
authserv-id is one of ours count, and of those only the topmost: the one our MTA added last
(RFC 8601 §5 has it remove older ones claiming its name). A topmost one that cannot be read
gives no verdict; the ones below it are never read instead. Mail that did not come through a
trusted relay has every such field renamed as it arrives (disowned): all are the sender's.
"""

import re
from collections.abc import Collection
from dataclasses import dataclass
from email.message import Message

import authres

_METHODS = ("dmarc", "spf", "dkim")
_MAX_HEADER_CHARS = 4000
_LINE_OF_THE_FIELD = b"\nauthentication-results"  # in the lowered header, line breaks made LF
_DISOWNED = b"X-Disowned-"  # what a field of mail not relayed by our MTA is renamed to begin with
_COLON = re.compile(rb"[ \t]*:")
# Two line breaks in a row, as the email parser reads them (CRLF, a bare CR, a bare LF), each
# pair holds one of these: "\r\n\r\n" "\n\r", "\r\n\n" "\n\n", "\r\r\n" "\r\r" and so on.
_BLANK_LINES = (b"\n\r", b"\n\n", b"\r\r")  # CRLF mail's first: the others look before it
MOST_FIELDS = 64  # Authentication-Results fields in one message; no mail server writes more
# The header of mail not relayed by our servers, at most: each byte of it is lowered and searched
# on the loop, 4.5 ms a megabyte. Sendmail refuses past 32 KB, Exim past 1 MB; Postfix keeps 100 KB.
MOST_HEADER_BYTES = 256 * 1024
# A line the email parser does not read as a field (feedparser's headerRE: "From ", a name of
# printable ASCII and a colon, or a blank first), told by its first characters: a name run
# ended by anything but a colon. CR LF is one line break.
_NOT_A_FIELD = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?![ \t]|From )[\x21-\x39\x3b-\x7e]*+[^\x21-\x39\x3b-\x7e:]")
_AUTHSERV_ID = re.compile(r"\s*([^\s;(]{1,255})")


@dataclass(frozen=True)
class Verdict:
    summary: str  # e.g. "dmarc=fail spf=fail dkim=none (by mx.plusnxt.com)"
    forged: bool  # the sender's domain says this message is not from it
    passed: bool = False  # DMARC passed: the From address is the sender's own


def sender_verdict(message: Message, trusted_ids: Collection[str]) -> Verdict | None:
    """The trusted verdict on the From address, or None without one."""
    trusted = {t.lower() for t in trusted_ids}
    if not trusted:
        return None
    for value in message.get_all("Authentication-Results") or ():
        named = _AUTHSERV_ID.match(str(value))
        if named is None or named[1].lower() not in trusted:
            continue
        # The topmost of ours: what it says, or nothing if it cannot be read (the ones below are
        # anyone's to write, and a verdict of ours made unreadable must not let them count).
        if len(str(value)) > _MAX_HEADER_CHARS:
            return None  # no MTA writes one this long; the parser's cost grows with it
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(str(value).split()))
        except Exception:  # authres raises its own SyntaxError and others on hostile text
            return None
        if str(parsed.authserv_id).lower() not in trusted:
            return None
        results = {}
        for result in parsed.results:
            method = str(result.method).lower()
            if method in _METHODS and method not in results:
                results[method] = str(result.result).lower()
        return _verdict(results, str(parsed.authserv_id))
    return None


def _verdict(results: dict[str, str], by: str) -> Verdict:
    if "dmarc" in results:
        forged = results["dmarc"] == "fail"
    else:  # no DMARC policy evaluated: an SPF failure with no DKIM pass to make up for it
        forged = results.get("spf") == "fail" and results.get("dkim") != "pass"
    summary = " ".join(f"{m}={results.get(m, 'none')}" for m in _METHODS) + f" (by {by[:100]})"
    return Verdict(summary, forged, passed=results.get("dmarc") == "pass")


class TooManyResults(ValueError):
    """More Authentication-Results fields than any mail server writes: refused, not renamed."""


class HeaderTooLarge(ValueError):
    """A header longer than MOST_HEADER_BYTES: refused, not read to its end on the loop."""


def disowned(raw: bytes) -> bytes:
    """The message with each Authentication-Results field of its header renamed (X-Disowned-...),
    for mail that did not come through a trusted relay: there, every such field is the sender's
    own writing, whatever MTA it names. A field begins a line as the email parser reads lines
    (after CRLF, a bare LF or a bare CR). C-speed searches, and a Python step for each of at most
    MOST_FIELDS fields; past those, TooManyResults (each one more was a turn of the loop). A header
    longer than MOST_HEADER_BYTES: HeaderTooLarge."""
    if raw.startswith((b"\n", b"\r")):
        return raw  # no header
    end = _header_end(raw, MOST_HEADER_BYTES + 1)
    if end > MOST_HEADER_BYTES:
        end = _first_line_not_a_field(raw[:MOST_HEADER_BYTES + 1])
        if end is None:
            raise HeaderTooLarge(f"a header of more than {MOST_HEADER_BYTES} bytes")
    # Lowered, its line breaks made LF (the same length), after a LF: the first field starts a line too.
    header = (b"\n" + raw[:end]).lower().replace(b"\r", b"\n")
    starts, lines, at = [], 0, header.find(_LINE_OF_THE_FIELD)
    while at != -1:
        lines += 1  # every line that begins so counts, a field or not: the Python steps are bounded
        if lines > MOST_FIELDS:
            raise TooManyResults(f"more than {MOST_FIELDS} Authentication-Results header fields")
        after = at + len(_LINE_OF_THE_FIELD)
        if _COLON.match(header, after):
            starts.append(at)  # in the header after its first LF: the field's place in raw
        at = header.find(_LINE_OF_THE_FIELD, after)
    if not starts:
        return raw
    pieces, last = [], 0
    for at in starts:
        pieces += (raw[last:at], _DISOWNED)
        last = at
    pieces.append(memoryview(raw)[last:])  # the body not copied twice: 10 ms for 10 MB
    return b"".join(pieces)


def _first_line_not_a_field(window: bytes) -> int | None:
    """Where the line break before the first line that cannot be a field begins (0: the first
    line), if `window` shows it is one (_NOT_A_FIELD). The email parser ends the header there,
    blank line or not (the MissingHeaderBodySeparatorDefect of mail whose body follows its header
    at once)."""
    found = _NOT_A_FIELD.search(b"\n" + window)  # the first line, after a line break too
    return None if found is None else max(found.start() - 1, 0)


def _header_end(raw: bytes, within: int) -> int:
    """Where the first blank line begins (none: the whole message), if before `within`; else
    `within`. Each kind is looked for only before the earliest found so far: a kind the message
    never has was looked for to its end, 17 ms for 10 MB of body."""
    end = min(len(raw), within)
    for blank in _BLANK_LINES:
        at = raw.find(blank, 0, end + len(blank) - 1)  # one that begins before `end`
        if at >= 0:
            end = at
    return end
