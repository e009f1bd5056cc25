"""The domain's records as plain dicts, in the one shape the API and the CLI both print."""

import codecs
import json

from suppression.addresses import mask_addresses_in
from suppression.claims import state_of_legacy, until_of
from suppression.model import Change, Status, StoredMessage, Suppression


def change_record(change: Change) -> dict:
    """A change as the feed and the history show it. After an erasure, `email` is the address's
    keyed hash ("erased:..."); the `erase` change itself lists, in `replaced`, the cursors of
    the changes whose address it replaced, so a tool that keeps a copy can forget those. A
    suppression made on the page carries `why` and `why_text` when the person said why; one made
    through a link minted for a campaign carries `campaign`, and so does a lift made by a person
    coming back (source "return") through such a link.

    Each claim is a change: `suppress` for every new claim (the first, or another party's on
    an address suppressed already), `lift` for a claim lifted while others still hold the
    address, `unsuppress` when none is left. `campaign` and `until` are the claim's own, present
    when it has them (a pause ends at `until`); `after` is the scope's standing once the change is made:
    {"suppressed": BOOL, "until": TIMESTAMP or null} (null: no end). A copy of the list that
    follows `after` is right whatever the order of claims and lifts."""
    record = {
        "cursor": str(change.id) if change.action != "expire" else None,  # an end written by nobody
        "at": change.at,
        "action": change.action,
        "email": change.email,
        "topic": change.scope.topic,
        "reason": change.reason,
        "source": change.source,
        "actor": change.actor,
    }
    # The claim's campaign and end, when it has them (a pause has an end; "expire", in a history
    # only, is a pause running out).
    if change.action != "erase":
        record.update({name: value for name, value in (("campaign", change.campaign), ("until", change.until))
                       if value is not None})
    if change.action not in ("erase", "expire"):
        state = change.state if change.state is not None else state_of_legacy(change.action, change.reason)
        holds = bool(state) and change.action != "unsuppress"
        record["after"] = {"suppressed": holds, "until": until_of(state) if holds else None}
    detail = json.loads(change.detail) if change.detail else {}
    if change.action == "erase":
        record["replaced"] = detail.get("cursors", [])
    for name in ("why", "why_text"):  # the person's answer to "why are you leaving?", if given
        if name in detail:
            record[name] = detail[name]
    if "campaign" in detail:  # the campaign of the link a person came back through (a lift's detail)
        record["campaign"] = detail["campaign"]
    return record


def suppression_record(row: Suppression) -> dict:
    """Which suppression applies, why, and since when."""
    return {
        "scope": row.scope.name,
        "reason": row.reason,
        "source": row.source,
        "since": row.since,
    }


def message_record(message: StoredMessage, due: str, with_raw: bool = False) -> dict:
    """A received message; its raw text only when asked for (and while it is kept)."""
    record = {
        "id": message.id,
        "received": message.received_at,
        "received_at": message.received_at,  # the earlier name, kept
        "due": due,
        "status": message.status,
        "mail_from": message.mail_from,
        "rcpt_to": message.rcpt_to,
        "size": message.size,
        "sender": message.sender,
        "subject": message.subject,
        "message_id": message.message_id,
        "authentication": message.authentication,
        "reasons": message.reasons,
        "found": message.found,
        "words": message.words,
        # Suppressed because of it; while a person must decide it, also the addresses found.
        "addresses": (list(dict.fromkeys([*message.addresses, *message.found])) if message.status == Status.REVIEW
                      else message.addresses),
        "topic": message.scope.topic,
        "processed_at": message.processed_at,
        "resolved_at": message.resolved_at,
        "resolved_by": message.resolved_by,
        "note": message.note,
    }
    if with_raw:
        record["raw"] = text_of(message.raw) if message.raw is not None else None
    return record


def text_of(raw: bytes, piece: int = 64 * 1024) -> str:
    """raw.decode("utf-8", "replace"), a piece at a time: a thread that decodes 10 MB in one call
    holds the interpreter, and so every other thread, for 50 ms."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    return "".join([decoder.decode(raw[start:start + piece]) for start in range(0, len(raw), piece)]
                   + [decoder.decode(b"", final=True)])


def subject_record(subject, due) -> dict:
    """Everything held about one address (a rights.Subject); `due` gives a message's due time."""
    return {
        "email": subject.email,
        "suppressions": [suppression_record(row) for row in subject.suppressions],
        "history": [change_record(change) for change in subject.history],
        "messages": [message_record(m, due(m), with_raw=True) for m in subject.messages],
        "replies": [{"day": day, "sent_at": sent_at} for day, sent_at in subject.replies],
        "rate_limits": [{"at": at, "message": message, "addresses": n} for at, message, n in subject.sender_counts],
        "come_back_requests": [{"day": day, "count": n} for day, n in subject.return_requests],
        "recipients": subject.recipients,
        "purposes": subject.purposes,
        "retention": subject.retention,
    }


def event_record(event, due: str | None, desk_url: str) -> dict:
    """A webhook's body (an outbox.Event): Standard Webhooks' {"type", "timestamp", "data"}. A
    change's data is its feed record; a message put before a person names no address (the desk
    shows it to those allowed to see it), only where and by when it must be decided."""
    if event.change is not None:
        data = change_record(event.change)
    elif event.message is not None:
        message_id, received, reasons = event.message
        # The reasons name addresses ("addresses named in the text: jane@..."): masked, as in the log.
        data = {"id": message_id, "received": received, "due": due, "reasons": [mask_addresses_in(r) for r in reasons],
                "desk": desk_url}
    else:
        data = {}
    return {"type": event.type, "timestamp": event.at, "data": data}
