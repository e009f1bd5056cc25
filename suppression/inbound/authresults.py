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
_FIELD = b"authentication-results"
_DISOWNED = b"X-Disowned-"  # what a field of mail not relayed by our MTA is renamed to begin with
_COLON = re.compile(rb"[ \t]*:")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
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


def disowned(raw: bytes) -> bytes:
    """The message with each Authentication-Results field of its header renamed (X-Disowned-...),
    for mail that did not come through a trusted relay: there, every such field is the sender's
    own writing, whatever MTA it names. C-speed searches; a Python step only for each field."""
    if raw.startswith((b"\n", b"\r\n")):
        return raw  # no header
    end = _HEADER_END.search(raw)
    header = raw[:end.start() if end else len(raw)].lower()
    starts, at = [], header.find(_FIELD)
    while at != -1:
        after = at + len(_FIELD)
        if (at == 0 or header[at - 1] == 0x0A) and _COLON.match(header, after):
            starts.append(at)
        at = header.find(_FIELD, after)
    if not starts:
        return raw
    pieces, last = [], 0
    for at in starts:
        pieces += (raw[last:at], _DISOWNED)
        last = at
    pieces.append(raw[last:])
    return b"".join(pieces)
