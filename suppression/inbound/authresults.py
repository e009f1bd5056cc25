"""The receiving MTA's verdict on the sender (RFC 8601 Authentication-Results), when we trust it.

Anyone can write an Authentication-Results header into a message, so only headers whose
authserv-id is one of ours count, and of those the topmost: the one our MTA added last
(RFC 8601 §5 has it remove older ones claiming its name).
"""

from collections.abc import Collection
from dataclasses import dataclass
from email.message import Message

import authres

_METHODS = ("dmarc", "spf", "dkim")
_MAX_HEADER_CHARS = 4000


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
        if len(str(value)) > _MAX_HEADER_CHARS:
            continue  # no MTA writes one this long; the parser's cost grows with it
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(" ".join(str(value).split()))
        except Exception:  # authres raises its own SyntaxError and others on hostile text
            continue
        if str(parsed.authserv_id).lower() not in trusted:
            continue
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
