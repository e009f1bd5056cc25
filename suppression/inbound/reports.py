"""Machine reports: delivery status notifications (RFC 3464) and feedback reports (ARF, RFC 5965)."""

from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser

from suppression.inbound.decode import address_of, header


@dataclass
class Report:
    kind: str  # "delivery-status" or "feedback-report"
    failed: list[str] = field(default_factory=list)  # permanently failed recipients
    notes: list[str] = field(default_factory=list)


def read_report(message: Message) -> Report | None:
    """The report this message carries, or None if it is not a multipart/report we read."""
    if message.get_content_type() != "multipart/report":
        return None
    report_type = (message.get_param("report-type") or "").lower()
    parts = [p for p in message.walk() if isinstance(p, Message)]
    if report_type == "delivery-status":
        return _delivery_status(parts)
    if report_type == "feedback-report":
        return _feedback(parts)
    return None


def _fields(part: Message) -> list[Message]:
    """The field blocks of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    if isinstance(payload, str):
        return [HeaderParser().parsestr(block) for block in payload.split("\n\n") if block.strip()]
    return []


def _delivery_status(parts: list[Message]) -> Report:
    report = Report("delivery-status")
    for part in parts:
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _fields(part):
            recipient = header(block, "Final-Recipient") or header(block, "Original-Recipient")
            if not recipient:
                continue
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
    feedback_type = ""
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            for block in _fields(part):
                feedback_type = feedback_type or header(block, "Feedback-Type").lower()
                for value in block.get_all("Original-Rcpt-To") or []:
                    text = str(value)
                    complainants.append(address_of(text) or text.strip())
        elif kind in ("message/rfc822", "text/rfc822-headers") and not complainants:
            original = _original(part)
            if original is not None and address_of(header(original, "To")):
                complainants.append(address_of(header(original, "To")))
    if feedback_type in ("abuse", "fraud", "virus", "other", ""):
        report.failed = complainants
        report.notes.append(f"feedback type {feedback_type or 'unstated'}: complaint by {', '.join(complainants) or 'an unnamed recipient'}")
    else:
        report.notes.append(f"feedback type {feedback_type}: not a complaint")
    return report


def _original(part: Message) -> Message | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return payload[0]
    if isinstance(payload, str):
        return HeaderParser().parsestr(payload)
    return None
