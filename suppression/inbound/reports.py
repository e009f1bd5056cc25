"""Machine reports: delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965).

What a report names proves nothing by itself: anyone can send one. The text of the message
it returns is kept here so that the caller can look for proof that the mail was ours.
"""

import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

from suppression.inbound.decode import MAX_TEXT_CHARS, address_of, header, part_text

MAX_REPORT_RECIPIENTS = 100  # recipient blocks read from one report; real ones name one or a few


@dataclass
class Report:
    kind: str  # "delivery-status" or "feedback-report"
    failed: list[str] = field(default_factory=list)  # permanently failed recipients (complainants)
    notes: list[str] = field(default_factory=list)
    returned: str = ""  # the returned message's headers and text, where our link token would be
    complaint: bool = True  # for feedback reports: whether the feedback type is a complaint
    guessed: bool = False  # the complainant was read from the returned To header, not named by the report


# A report's Content-Type is short; the standard library's get_param is quadratic in the
# parameters, and a hostile header of folded ";" held a reader for seconds.
_MAX_CONTENT_TYPE = 1000
_REPORT_TYPE = re.compile(r';\s*report-type\s*=\s*"?([A-Za-z-]{1,40})', re.I)
_XTEXT = re.compile(r"\+([0-9A-F]{2})")
# RFC 5965 and the IANA Feedback-Type registry: only "abuse" is a person saying "this is spam".
# fraud, virus, other, not-spam and auth-failure (RFC 6591) are about something else.
_COMPLAINT_TYPES = ("abuse",)


def read_report(message: Message) -> Report | None:
    """The report this message carries, or None if it is not a multipart/report we read."""
    if message.get_content_type() != "multipart/report":
        return None
    found = _REPORT_TYPE.search(str(message.get("Content-Type", ""))[:_MAX_CONTENT_TYPE])
    report_type = found.group(1).lower() if found else ""
    parts = [p for p in message.walk() if isinstance(p, Message)]
    if report_type == "delivery-status":
        report = _delivery_status(parts)
    elif report_type == "feedback-report":
        report = _feedback(parts)
    else:
        return None
    report.returned = _returned_text(parts)
    return report


def _returned_text(parts: list[Message]) -> str:
    """The returned message (message/rfc822 or text/rfc822-headers): its headers and text parts."""
    texts: list[str] = []
    for part in parts:
        if part.get_content_type() not in ("message/rfc822", "text/rfc822-headers"):
            continue
        original = _original(part)
        if original is None:
            continue
        texts.extend(f"{name}: {value}" for name, value in original.items())
        texts.extend(
            part_text(leaf) for leaf in original.walk()
            if not leaf.is_multipart() and leaf.get_content_maintype() == "text"
        )
    return "\n".join(texts)[:MAX_TEXT_CHARS]


def _fields(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)][: MAX_REPORT_RECIPIENTS + 2]
    if isinstance(payload, str):
        blocks = payload.split("\n\n", MAX_REPORT_RECIPIENTS + 2)[: MAX_REPORT_RECIPIENTS + 2]
        return [HeaderParser().parsestr(block[:MAX_TEXT_CHARS]) for block in blocks if block.strip()]
    return []


def _delivery_status(parts: list[Message]) -> Report:
    report = Report("delivery-status")
    seen = 0
    for part in parts:
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _fields(part):
            # The address we sent to, when the reporting MTA kept it (RFC 3464 §2.3.1); the
            # final one may be where a forward or an alias led (§2.3.2).
            # Original-Recipient is the ORCPT parameter, xtext-encoded (RFC 3461 §4): "+2B" is "+".
            original = header(block, "Original-Recipient")
            recipient = _XTEXT.sub(lambda hexed: chr(int(hexed.group(1), 16)), original) if original else ""
            recipient = recipient or header(block, "Final-Recipient")
            if not recipient:
                continue
            seen += 1
            if seen > MAX_REPORT_RECIPIENTS:
                report.notes.append(f"more than {MAX_REPORT_RECIPIENTS} recipients: the rest were not read")
                return report
            address = recipient.split(";", 1)[-1].strip().strip("<>")
            action, status = header(block, "Action").lower(), header(block, "Status")
            if action == "failed" and status.startswith("5"):
                report.failed.append(address)
                report.notes.append(f"permanent failure for {address}: {status}")
            else:
                report.notes.append(f"no permanent failure for {address}: {action or 'no action'} {status}")
    return report


def _feedback(parts: list[Message]) -> Report:
    report = Report("feedback-report")
    complainants: list[str] = []
    feedback_type, guessed = "", False
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            for block in _fields(part):
                feedback_type = feedback_type or header(block, "Feedback-Type").lower()
                for value in (block.get_all("Original-Rcpt-To") or [])[:MAX_REPORT_RECIPIENTS]:
                    text = str(value)
                    complainants.append(address_of(text) or text.strip()[:300])
        elif kind in ("message/rfc822", "text/rfc822-headers") and not complainants:
            original = _original(part)
            if original is not None and address_of(header(original, "To")):
                complainants.append(address_of(header(original, "To")))
                guessed = True
    if feedback_type in _COMPLAINT_TYPES:
        report.failed, report.guessed = complainants, guessed
        report.notes.append(f"feedback type {feedback_type or 'unstated'}: complaint by {', '.join(complainants) or 'an unnamed recipient'}")
    else:
        report.complaint = False
        report.notes.append(f"feedback type {feedback_type[:50] or 'unstated'}: not a person's spam complaint;"
                            " kept for a person")
    return report


def _original(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return HeaderParser().parsestr(payload)
    return None
