"""The decision about one received message, with the reasons for it.

In order: machine reports (bounces, complaints); a mail sent through our own List-Unsubscribe
mailto; other automatic mail; then the person's own words. Whose address: the one bound in a
link token found in the message, else those the person names, else the sender.
"""

import re
from itertools import islice
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from suppression.addresses import normalise_address
from suppression.errors import BadToken, InvalidAddress
from suppression.inbound.authresults import sender_verdict
from suppression.inbound.automatic import automatic_reasons
from suppression.inbound import asked_about
from suppression.inbound.decode import address_of, body_text, header, parse, part_text
from suppression.inbound.named import MAX_NAMED, named_addresses, named_elsewhere, only_mentioned, sender_meant
from suppression.inbound.intent import doubts_in, find_intent, scope_in_words
from suppression.inbound.judge import Judge, shipped_judge
from suppression.inbound.ownwords import own_words
from suppression.inbound.reports import read_report
from suppression.inbound.weighing import joined, weigh
from suppression.model import ALL_EMAILS, Reason, Scope, Status
from suppression.tokens import TOKEN_SHAPE, LinkClaim, token_candidates

REQUEST, AUTOMATIC, BOUNCE, COMPLAINT, REVIEW = Status.REQUEST, Status.AUTOMATIC, Status.BOUNCE, Status.COMPLAINT, Status.REVIEW
# How a request proves whose address it is: our link token in the message (the mailto, a
# quoted link), our Message-ID in In-Reply-To/References, or DMARC passed at a trusted
# authserv-id for the sender's own address. UNPROVEN: the From header or the text's word only,
# which anyone can write; honoured automatically only within the budgets (intake.py).
TOKEN, REPLY, DMARC, UNPROVEN = "token", "reply", "dmarc", "none"

# A run of characters that may belong to an address. One character class repeated, so the
# engine never backtracks: each run is found in one pass, then looked at as a whole (an
# address has an "@" with a "." after it). A pattern of three such runs around "@" and "."
# backtracked cubically on "a@a@a@...", freezing the process on a 4.5 KB message. CJK
# punctuation ends a run as ASCII's does ("対象アドレス：jane@example.com").
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|ref|réf|r|rif|res|tr|rv|fw|fwd|wg|doorst|enc|回复|回覆|答复|转发|転送)\s*[:：]\s*)+", re.I)
_MAX_SUBJECT = 1000
MAX_WORDS = 4000  # of the person's own words kept for the review desk
# Own words longer than this are no one's request to decide alone: the longest in the judge's
# corpus are about 1,100 characters. A person reads them; and the phrase patterns, linear as
# they are, never spend more on a stranger's message than this much text twice.
MAX_JUDGED = 10_000
UNSUBSCRIBE = Reason.UNSUBSCRIBE  # the suppression reason of a person's own request


@dataclass(frozen=True)
class Decision:
    kind: str  # request, automatic, bounce, complaint or review
    reasons: tuple[str, ...]
    addresses: tuple[str, ...] = ()  # canonical addresses to suppress
    scope: Scope = ALL_EMAILS
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    answerable: bool = False  # a person wrote it: a confirmation may go to the sender
    authentication: str = ""  # the trusted MTA's verdict on the sender, if there is one
    names_others: bool = False  # a request for addresses other than the sender's own, named in the text
    reason: str | None = None  # the suppression reason for `addresses` (unsubscribe, bounce, complaint)
    # Where a confirmation may go: the envelope sender, or From when DMARC passed at a trusted
    # authserv-id. From alone is anyone's to write; answering it would send our mail to a
    # victim of a forgery (backscatter, RFC 3834 §4).
    reply_to: str = ""
    found: tuple[str, ...] = ()  # every address the reader found, for a person to choose from
    words: str = ""  # the person's own words (subject and body without quotes), as read
    proof: str = ""  # for a request: TOKEN, REPLY, DMARC or UNPROVEN
    report: str = ""  # the report type of a machine report (delivery-status, feedback-report), else ""
    campaign: str | None = None  # the campaign the link tokens that prove the addresses were minted for


def classify_message(
    raw: bytes,
    mail_from: str,
    request_addresses: Collection[str],
    read_token: Callable[[str], LinkClaim],
    trusted_authserv_ids: Collection[str] = (),
    topics: Mapping[str, str] | None = None,
    judge: Judge | None = None,
    addresses_judge: Judge | None = None,
) -> Decision:
    """Decide what a received message is; `read_token` verifies a link token or raises BadToken.

    `topics` (id: label) lets the person's words name a topic; without it a request found
    through a quoted link is for all emails. `judge` weighs the person's own words, and
    `addresses_judge` whether each address they name is asked about (default: the models
    shipped with the package).
    """
    message = parse(raw)
    subject = header(message, "Subject")[:_MAX_SUBJECT]
    sender = address_of(header(message, "From"))
    verdict = sender_verdict(message, trusted_authserv_ids)
    about = {
        "sender": sender, "subject": subject[:500], "message_id": header(message, "Message-ID")[:500],
        "authentication": verdict.summary if verdict else "",
    }
    defects = [type(d).__name__ for d in message.defects]

    report = read_report(message)
    if report is not None:
        return _from_report(report, read_token, {**about, "report": report.kind})

    machine = automatic_reasons(message, mail_from)
    subject_claims = _claims(subject, read_token)
    if subject_claims and TOKEN_SHAPE.sub("", subject).strip().lower() in ("unsubscribe", ""):
        # Only our own List-Unsubscribe mailto carries a token there: a request even when
        # a provider generated it, but not one to answer then.
        return _request(subject_claims, ["sent through our List-Unsubscribe mailto (token in the subject)"],
                        {**about, "answerable": not machine, "reply_to": _reply_address(sender, mail_from, verdict),
                         "proof": TOKEN})
    if machine:
        return Decision(AUTOMATIC, tuple(machine), **about)

    own_subject, body = own_parts(message, subject)
    text, _ = joined(own_subject, body)
    about["words"] = text[:MAX_WORDS]
    claims = subject_claims or _claims("\n".join(_all_texts(message)), read_token)
    proof = TOKEN
    if not claims:
        # A reply to our mail: the Message-ID we gave it (links.message_id) carries the token.
        claims, proof = _claims(f"{header(message, 'In-Reply-To')}\n{header(message, 'References')}", read_token), REPLY
    named, invalid, places, guessed = named_addresses(text, request_addresses)
    own = _address_or_none(sender or mail_from)
    about["found"] = tuple(dict.fromkeys([*(claim.email for claim in claims), *named]))
    if _has_calendar(message):
        # An invitation's agenda is about a meeting ("unsubscribe rates" on slide 3), not a request.
        return Decision(REVIEW, ("a calendar invitation (text/calendar): not a request; kept for a person",), **about)
    if not text:
        return Decision(REVIEW, ("no words of the sender's own: nothing asks for anything",), **about)
    if len(text) > MAX_JUDGED:
        why = [f"the sender's own words are too long to decide alone ({len(text):,} characters;"
               f" the reader decides up to {MAX_JUDGED:,})"]
        # The desk shows their start: what asks, at either end, is named for the person.
        asked = [*find_intent(text[:MAX_JUDGED]).asked, *find_intent(text[-MAX_JUDGED:]).asked]
        if asked:
            why.append(f"phrases that ask, in its first and last {MAX_JUDGED:,} characters:"
                       f" {', '.join(dict.fromkeys(asked))}")
        return Decision(REVIEW, tuple(why), **about)
    judge = judge or shipped_judge()
    weighed = weigh(own_subject, body, judge)
    intent, probability = weighed.intent, weighed.probability
    threshold = judge.threshold_for(bool(named))
    phrases = [f"phrases that ask: {', '.join(dict.fromkeys(intent.asked))}"] if intent.asked else []
    if intent.negated:
        phrases.append(f"negated: {', '.join(dict.fromkeys(intent.negated))}")
    # A phrase that would ask negated in its own clause ("please do not unsubscribe me"), even
    # beside one that asks (a subject "Remove" over "please do not remove me"): whatever the
    # judge makes of the rest, a person decides.
    negated = bool(intent.negated) or weighed.negated_across
    if intent.stays:
        phrases.append(f"words that want the mail: {', '.join(dict.fromkeys(intent.stays))}")
    refused = weighed.turned_down and not defects  # a body that did not decode is no one's words
    # A curt request about the sender's own address: the judge's threshold for others stays.
    curt = intent.curt and not named
    unsure = (probability < threshold and not curt) or negated or intent.stays or refused or intent.too_few
    # Only of what would otherwise be decided a request; a question of which address is on the list
    # beside addresses named to remove is no question ("I don't know which one you have: remove both
    # a@… and b@…").
    doubts = [] if unsure else doubts_in(text, questions=not named)
    if doubts:
        phrases.append("words that take it back, deny it, warn, ask a question or are of another channel: "
                       + ", ".join(dict.fromkeys(doubts)))
    if unsure or doubts:
        why = [f"the reader is not sure the sender's own words ask to unsubscribe (judged {probability:.2f};"
               f" decided alone from {threshold:.2f}" + ("; a phrase that would ask is negated)" if negated
                                                        else "; words want the mail)" if intent.stays
                                                        else "; words doubt the request)" if doubts
                                                        else "; the words under the subject turn it down)" if refused
                                                        else "; too few words to tell)" if intent.too_few
                                                        else ")"), *phrases]
        if invalid:
            why.append(f"named addresses that are not valid: {', '.join(invalid)}")
        if defects:
            why.append(f"malformed MIME: {', '.join(sorted(set(defects)))}")
        return Decision(REVIEW, tuple(why), **about)
    asked = "; ".join([f"the sender's own words ask to unsubscribe (judged {probability:.2f})", *phrases])

    about["answerable"] = True  # a person asked in their own words (only requests are answered)
    about["reply_to"] = _reply_address(sender, mail_from, verdict)
    ours = {address.rpartition("@")[2] for address in request_addresses}
    if claims:
        # The token proves whose address it is; the person's words say what they want. An
        # address they name beside it, but for no other use, may be what they ask about
        # ("please unsubscribe anna@... only, not me" had the token's address suppressed).
        proven_by_link = {claim.email for claim in claims}
        beside = {address: places[address] for address in named if address not in proven_by_link}
        if beside and named_elsewhere(text, beside, ours) is None:
            return Decision(REVIEW, (asked, f"names addresses beside the one its link proves: {', '.join(beside)}"),
                            **about)
        # A reply to a newsletter asking for "everything" is not about the newsletter alone.
        linked = {claim.scope for claim in claims}
        scope = scope_in_words(text, topics or {}, linked.pop() if len(linked) == 1 else ALL_EMAILS)
        said = f"scope from the person's words: {scope.topic or 'all emails'}"
        where = "a link token in the message" if proof == TOKEN else "our Message-ID in the mail it answers"
        return _request(claims, [asked, f"address from {where}", said], {**about, "proof": proof}, scope)
    if verdict is not None and verdict.forged:
        # Without a token, the sender's word is all there is, and the sender is not who it says.
        return Decision(REVIEW, (asked, f"the sender failed authentication: {verdict.summary}"), **about)
    if len(named) >= MAX_NAMED:
        return Decision(REVIEW, (asked, f"names {MAX_NAMED} or more addresses: a list, not one person's request"),
                        **about)
    if invalid:
        # A person who names an address we cannot read must not have only the rest honoured.
        return Decision(REVIEW, (asked, f"named addresses that are not valid: {', '.join(invalid)}"), **about)
    if guessed:
        return Decision(REVIEW, (asked, "addresses written with no space in Chinese or Japanese, where each ends is a"
                                        f" guess: {', '.join(guessed)}"), **about)
    proven = verdict is not None and verdict.passed
    if named:
        reasons = (asked, f"addresses named in the text: {', '.join(named)}")
        others = [a for a in named if a != own]
        mentioned = only_mentioned(text, {a: places[a] for a in others}, ours) if others else None
        if mentioned:
            return Decision(REVIEW, (*reasons, mentioned), **about)
        unsure = asked_about.unclear(text, places, others, addresses_judge or asked_about.shipped()) if others else None
        meant = sender_meant(text, {a: places[a] for a in others}) if others and own not in named else None
        if meant:
            # The sender's address among those found: the desk offers it beside the named ones
            # (also where the addresses' model doubts a named one: "mich und meine Frau (x@...)").
            found = tuple(dict.fromkeys([*about["found"], *([own] if own else [])]))
            return Decision(REVIEW, (*reasons, *([unsure] if unsure else []), meant), **{**about, "found": found})
        if unsure:
            return Decision(REVIEW, (*reasons, unsure), **about)
        return Decision(REQUEST, reasons, tuple(named), names_others=bool(others), reason=UNSUBSCRIBE,
                        proof=DMARC if proven and not others else UNPROVEN, **about)
    if own is None:
        return Decision(REVIEW, (asked, "no valid sender address to unsubscribe"), **about)
    if own in request_addresses:
        return Decision(REVIEW, (asked, "the sender is our own request address"), **about)
    return Decision(REQUEST, (asked, "the sender's own address"), (own,), reason=UNSUBSCRIBE,
                    proof=DMARC if proven else UNPROVEN, **about)


def words_of(message, subject: str) -> tuple[str, bool]:
    """The sender's own words (a subject that is not a reply's, and the body without quotes,
    forwards and signatures), and whether the subject is all of them."""
    return joined(*own_parts(message, subject))


def own_parts(message, subject: str) -> tuple[str, str]:
    """The sender's own subject (none for a reply's) and own body, apart."""
    return "" if _REPLY_PREFIX.match(subject) else subject, own_words(body_text(message)).strip()


def _has_calendar(message) -> bool:
    return any(part.get_content_type() == "text/calendar" for part in islice(message.walk(), 100))


def _address_or_none(text: str) -> str | None:
    try:
        return normalise_address(text)
    except InvalidAddress:
        return None


def _reply_address(sender: str, mail_from: str, verdict) -> str:
    if verdict is not None and verdict.passed and sender:
        return sender
    return mail_from.strip().strip("<>")


def _from_report(report, read_token: Callable[[str], LinkClaim], about: dict) -> Decision:
    """Suppress only the recipients a report proves we mailed: our link token for each is in the
    message it returns. Anything else it names is left for a person."""
    notes = list(report.notes)
    if report.kind == "feedback-report" and not report.complaint:
        return Decision(REVIEW, tuple(notes), **about)
    named = list(dict.fromkeys(a for a in map(_address_or_none, report.failed) if a is not None))
    if report.kind == "delivery-status" and not named:
        return Decision(AUTOMATIC, ("delivery report without a permanent failure", *notes), **about)
    returned = _claims(report.returned, read_token)
    proven = list(dict.fromkeys(claim.email for claim in returned))
    about = {**about, "found": tuple(dict.fromkeys([*proven, *named]))}
    if report.kind == "delivery-status":
        kind, reason = BOUNCE, Reason.BOUNCE
        suppress = [a for a in named if a in proven]  # a dead address, and the mail to it was ours
    else:
        # A complaint is about the returned message; providers often redact the complainant
        # but keep our links, and the token names the person we sent it to.
        kind, reason = COMPLAINT, Reason.COMPLAINT
        suppress = proven
    # A To header guessed at is superseded by the token; an address the report names is not.
    unproven = [] if suppress and report.guessed else [a for a in named if a not in suppress]
    if suppress:
        notes.append(f"proven ours by the link token in the returned message: {', '.join(suppress)}")
    campaign = _campaign_of([claim for claim in returned if claim.email in suppress])
    if not unproven and suppress:
        return Decision(kind, tuple(notes), tuple(suppress), reason=reason, campaign=campaign, **about)
    if unproven:
        notes.append(f"no link token of ours in the returned message proves we mailed: {', '.join(unproven[:20])}"
                     + (f" and {len(unproven) - 20} more" if len(unproven) > 20 else ""))
    else:
        notes.append("no recipient named and no link token of ours in the returned message")
    return Decision(REVIEW, tuple(notes), tuple(suppress), reason=reason if suppress else None, campaign=campaign,
                    **about)


def _request(claims: list[LinkClaim], reasons: list[str], about: dict, scope: Scope | None = None) -> Decision:
    if scope is None:  # our mailto: the token's own scope (links of several scopes: all emails)
        scopes = {claim.scope for claim in claims}
        scope = scopes.pop() if len(scopes) == 1 else ALL_EMAILS
    addresses = tuple(dict.fromkeys(claim.email for claim in claims))
    return Decision(REQUEST, tuple(reasons), addresses, scope, reason=UNSUBSCRIBE, campaign=_campaign_of(claims),
                    **{"proof": TOKEN, **about})


def _campaign_of(claims: list[LinkClaim]) -> str | None:
    """The one campaign the tokens name; None if they name none, or several (no send is to blame alone)."""
    campaigns = {claim.campaign for claim in claims}
    return campaigns.pop() if len(campaigns) == 1 else None


def _claims(text: str, read_token: Callable[[str], LinkClaim]) -> list[LinkClaim]:
    claims = []
    for candidate in token_candidates(text):
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
