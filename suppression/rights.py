"""What an access export tells a person besides their data (GDPR Art. 15(1)(a), (c), (d)):
why each kind of data is held, to whom it went, and how long it is kept."""

from suppression.config import Settings
from suppression.returning import KEEP_COUNTS_DAYS

# The events that name an address; review.opened masks it and subject.erased carries only the keyed hash.
_NAMING_EVENTS = ("suppression.created", "suppression.removed")

PURPOSES = (
    {"data": "suppressions", "purpose": "to send no mail the person asked not to get (their opt-out, a bounce,"
                                        " a complaint or an administrator's entry), for as long as mail is sent"},
    {"data": "history", "purpose": "to prove when, how and by whom each opt-out was made or lifted"},
    {"data": "messages", "purpose": "to read and carry out requests sent by email, and to let a person decide"
                                    " those the service could not"},
    {"data": "replies", "purpose": "to confirm an honoured request by email at most once a day"},
    {"data": "rate_limits", "purpose": "to limit how many other people's addresses one sender may unsubscribe"
                                       " in a day (protection against abuse)"},
    {"data": "come_back_requests", "purpose": "to limit how many confirmations to come back an address is sent"
                                              " in a day (kept as a keyed hash, never the address)"},
)


def retention(settings: Settings) -> list[dict]:
    days = settings.retention.raw_message_days
    return [
        {"data": "suppressions", "kept": "while they apply; after an erasure only as a keyed hash, so that the"
                                         " opt-out is still honoured"},
        {"data": "history", "kept": "for as long as the list is kept (the proof of each opt-out); after an"
                                    " erasure without the address"},
        {"data": "messages", "kept": f"raw text: {days} days after the message came once it is settled, and while"
                                     " a person has still to decide it; what was decided: until erased"},
        {"data": "replies", "kept": "until erased"},
        {"data": "rate_limits", "kept": "until erased (counted for 24 hours)"},
        {"data": "come_back_requests", "kept": f"{KEEP_COUNTS_DAYS} days"},
    ]


def recipients(settings: Settings, has_history: bool, has_replies: bool) -> list[dict]:
    """Who was (or will be) sent this person's address: each webhook receiver given the events
    that name it, when the person has a history, and the outbound relay that carried replies
    (confirmations of a request, or of asking to come back)."""
    found = []
    if has_history:
        for receiver in settings.webhooks:
            events = [e for e in _NAMING_EVENTS if receiver.wants(e)]
            if events:
                found.append({"kind": "webhook", "receiver": receiver.label, "events": events})
    if has_replies:
        found.append({"kind": "mail relay", "receiver": f"{settings.reply.relay_host}:{settings.reply.relay_port}",
                      "events": ["confirmation replies"]})
    return found
