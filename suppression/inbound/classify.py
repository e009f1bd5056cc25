"""The decision about one received message, with the reasons for it.

In order: machine reports (bounces, complaints); a mail sent through our own List-Unsubscribe
mailto; other automatic mail; then the person's own words. Whose address: the one bound in a
link token found in the message, else those the person names, else the sender.
"""

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from suppression.addresses import normalise_address
from suppression.errors import BadToken, InvalidAddress
from suppression.inbound.authresults import sender_verdict
from suppression.inbound.automatic import automatic_reasons
from suppression.inbound.decode import address_of, body_text, header, parse, part_text
from suppression.inbound.intent import find_intent
from suppression.inbound.ownwords import own_words
from suppression.inbound.reports import read_report
from suppression.tokens import LinkClaim

REQUEST, AUTOMATIC, BOUNCE, COMPLAINT, REVIEW = "request", "automatic", "bounce", "complaint", "review"

# Payload.timestamp.signature in URL-safe base64 (a leading dot when compressed).
_TOKEN = re.compile(r"(?<![A-Za-z0-9_.-])\.?[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,12}\.[A-Za-z0-9_-]{20,}")
_ADDRESS = re.compile(r"[^\s<>()\[\]{},;:\"'`/\\|]+@[^\s<>()\[\]{},;:\"'`/\\|]+\.[^\s<>()\[\]{},;:\"'`/\\|]+")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|ref|rif|res|tr|rv|fw|fwd|wg|doorst|enc|回复|回覆|答复|转发|転送)\s*[:：]\s*)+", re.I)
_MAX_TOKENS = 20  # candidates verified per message; a flood of look-alikes is not read further


@dataclass(frozen=True)
class Decision:
    kind: str  # request, automatic, bounce, complaint or review
    reasons: tuple[str, ...]
    addresses: tuple[str, ...] = ()  # canonical addresses to suppress
    topic: str | None = None  # None: all emails
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    answerable: bool = False  # a person wrote it: a confirmation may go to the sender
    authentication: str = ""  # the trusted MTA's verdict on the sender, if there is one
    names_others: bool = False  # a request for addresses other than the sender's own, named in the text


def classify_message(
    raw: bytes,
    mail_from: str,
    request_addresses: Collection[str],
    read_token: Callable[[str], LinkClaim],
    trusted_authserv_ids: Collection[str] = (),
) -> Decision:
    """Decide what a received message is; `read_token` verifies a link token or raises BadToken."""
    message = parse(raw)
    subject = header(message, "Subject")
    sender = address_of(header(message, "From"))
    verdict = sender_verdict(message, trusted_authserv_ids)
    about = {
        "sender": sender, "subject": subject[:500], "message_id": header(message, "Message-ID")[:500],
        "authentication": verdict.summary if verdict else "",
    }
    defects = [type(d).__name__ for d in message.defects]

    report = read_report(message)
    if report is not None:
        return _from_report(report, about)

    machine = automatic_reasons(message, mail_from)
    subject_claims = _claims(subject, read_token)
    if subject_claims and _TOKEN.sub("", subject).strip().lower() in ("unsubscribe", ""):
        # Only our own List-Unsubscribe mailto carries a token there: a request even when
        # a provider generated it, but not one to answer then.
        return _request(subject_claims, ["sent through our List-Unsubscribe mailto (token in the subject)"],
                        {**about, "answerable": not machine})
    if machine:
        return Decision(AUTOMATIC, tuple(machine), **about)

    own_subject = "" if _REPLY_PREFIX.match(subject) else subject
    words = own_words(body_text(message))
    intent = find_intent(f"{own_subject}\n{words}")
    if not intent.asked:
        why = ["no unsubscribe request in the sender's own words"]
        if intent.negated:
            why.append(f"negated: {', '.join(dict.fromkeys(intent.negated))}")
        if defects:
            why.append(f"malformed MIME: {', '.join(sorted(set(defects)))}")
        return Decision(REVIEW, tuple(why), **about)
    asked = f"asked in own words: {', '.join(dict.fromkeys(intent.asked))}"

    about["answerable"] = True  # a person asked in their own words (only requests are answered)
    claims = subject_claims or _claims("\n".join(_all_texts(message)), read_token)
    if claims:
        return _request(claims, [asked, "address from a link token in the message"], about)
    if verdict is not None and verdict.forged:
        # Without a token, the sender's word is all there is, and the sender is not who it says.
        return Decision(REVIEW, (asked, f"the sender failed authentication: {verdict.summary}"), **about)
    named, invalid = _named(f"{own_subject}\n{words}", request_addresses)
    own = _address_or_none(sender or mail_from)
    if named:
        reasons = (asked, f"addresses named in the text: {', '.join(named)}")
        return Decision(REQUEST, reasons, tuple(named), names_others=any(a != own for a in named), **about)
    if invalid:
        return Decision(REVIEW, (asked, f"named addresses that are not valid: {', '.join(invalid)}"), **about)
    if own is None:
        return Decision(REVIEW, (asked, "no valid sender address to unsubscribe"), **about)
    if own in request_addresses:
        return Decision(REVIEW, (asked, "the sender is our own request address"), **about)
    return Decision(REQUEST, (asked, "the sender's own address"), (own,), **about)


def _address_or_none(text: str) -> str | None:
    try:
        return normalise_address(text)
    except InvalidAddress:
        return None


def _from_report(report, about: dict) -> Decision:
    addresses = []
    for text in report.failed:
        try:
            addresses.append(normalise_address(text))
        except InvalidAddress:
            continue
    if report.kind == "delivery-status":
        if addresses:
            return Decision(BOUNCE, tuple(report.notes), tuple(dict.fromkeys(addresses)), **about)
        return Decision(AUTOMATIC, ("delivery report without a permanent failure", *report.notes), **about)
    if addresses:
        return Decision(COMPLAINT, tuple(report.notes), tuple(dict.fromkeys(addresses)), **about)
    return Decision(REVIEW, ("feedback report without a usable recipient", *report.notes), **about)


def _request(claims: list[LinkClaim], reasons: list[str], about: dict) -> Decision:
    topics = {claim.topic for claim in claims}
    topic = topics.pop() if len(topics) == 1 else None  # links of several topics: all emails
    addresses = tuple(dict.fromkeys(claim.email for claim in claims))
    return Decision(REQUEST, tuple(reasons), addresses, topic, **about)


def _claims(text: str, read_token: Callable[[str], LinkClaim]) -> list[LinkClaim]:
    claims = []
    for candidate in list(dict.fromkeys(_TOKEN.findall(text)))[:_MAX_TOKENS]:
        try:
            claims.append(read_token(candidate))
        except BadToken:
            continue
    return claims


def _all_texts(message) -> list[str]:
    """Every text part, quoted and forwarded ones included, HTML as source (links live in it)."""
    return [
        part_text(part)
        for part in message.walk()
        if not part.is_multipart() and part.get_content_maintype() == "text"
    ]


def _named(text: str, request_addresses: Collection[str]) -> tuple[list[str], list[str]]:
    named, invalid = [], []
    for found in _ADDRESS.findall(text):
        candidate = found.strip(".")
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[7:]
        try:
            address = normalise_address(candidate)
        except InvalidAddress:
            invalid.append(candidate[:100])
            continue
        if address not in request_addresses and address not in named:
            named.append(address)
    return named, invalid
