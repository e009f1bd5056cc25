"""The store's write transactions, written once for both dialects as steps (steps.py): each
takes the dialect's statements `q` and yields what it runs. Who runs them, and in which
transaction, is the store's (sqlite.py, postgresql.py); what they guarantee is written on the
Protocol (suppression/store/__init__.py)."""

import json
import logging
from collections.abc import Callable

from suppression.claims import HARD, is_repeat, shown, standing, suppressed, suppression_of_claims, until_of
from suppression.errors import Conflict, InvalidValue, NotFound
from suppression.model import ALL_EMAILS, UNREAD_ERASED, Claim, Outcome, Placed, Scope, Traces, signed64, utc_now
from suppression.model import Status
from suppression.outbox import Receiver
from suppression.store.rows import claim_of_row
from suppression.store.steps import COUNT, NEW_ID, PAUSE, ROW, ROWS, Steps

log = logging.getLogger("suppression.store")

# -- claims: one party's ask, and the suppressions row they all add up to --------------------------


def claims_on(q, email: str, topic: str) -> Steps:
    rows = yield ROWS, q.CLAIMS_ON, (email, topic)
    return [claim_of_row(row) for row in rows]


def claim(q, at, email, key, scope: Scope, reason, source, actor, detail=None, campaign=None, until=None) -> Steps:
    """Add one party's claim unless the same one stands already; the suppressions row follows."""
    topic = scope.stored
    if detail is not None:
        detail = q.stored_detail(detail)
    claims = yield from claims_on(q, email, topic)
    for standing_claim in claims:
        if is_repeat(standing_claim, reason, source, until):
            return Placed(suppression_of_claims(email, scope, claims), standing_claim, None, False)
    claim_id = yield NEW_ID, q.INSERT_CLAIM, (email, topic, reason, source, actor, at, campaign, until)
    new = Claim(claim_id, email, scope, reason, source, actor, at, campaign, until)
    claims.append(new)
    state = yield from settle_row(q, email, topic, key, claims)
    change_id = yield from log_change(q, at, "suppress", email, topic, reason, source, actor, detail, campaign,
                                      until, state)
    return Placed(suppression_of_claims(email, scope, claims), new, change_id, shown(claims).id == claim_id)


def lift(q, at, email, topic, lifted: Callable[[Claim], bool], source, actor, detail=None) -> Steps:
    """Remove the claims `lifted` picks; log `unsuppress` if none is left that holds now, else `lift`."""
    claims = yield from claims_on(q, email, topic)
    gone = [c for c in claims if lifted(c)]
    if not gone:
        return None
    yield COUNT, q.DELETE_CLAIMS, ([c.id for c in gone],)
    left = [c for c in claims if c not in gone]
    state = yield from settle_row(q, email, topic, None, left)
    action = "lift" if suppressed(state, at) else "unsuppress"
    return (yield from log_change(q, at, action, email, topic, gone[0].reason if action == "lift" else None, source,
                                  actor, detail, state=state))


def lift_all(q, email, lifted: Callable[[Claim], bool], source, actor, detail=None) -> Steps:
    """lift() in every scope with claims on `email`: (scope, change id) of each that changed."""
    at, done = utc_now(), []
    for (topic,) in (yield ROWS, q.TOPICS_CLAIMED, (email,)):
        change_id = yield from lift(q, at, email, topic, lifted, source, actor, detail)
        if change_id is not None:
            done.append((Scope.of_stored(topic), change_id))
    return done


def settle_row(q, email, topic, key, claims: list[Claim]) -> Steps:
    """Make the suppressions row what `claims` add up to; return their standing."""
    state = standing(claims)
    if not claims:
        yield COUNT, q.DELETE_SUPPRESSION, (email, topic)
        return state
    first = shown(claims)
    values = (first.reason, first.source, first.since, until_of(state), state == HARD)
    if key is None:
        yield COUNT, q.UPDATE_SUPPRESSION, (*values, email, topic)
    else:
        yield COUNT, q.UPSERT_SUPPRESSION, (email, topic, signed64(key), *values)
    return state


def log_change(q, at, action, email, topic, reason, source, actor, detail=None, campaign=None, until=None,
               state=None) -> Steps:
    change_id = yield NEW_ID, q.INSERT_CHANGE, (at, action, email, topic, reason, source, actor, detail, campaign,
                                                until, state)
    return change_id


# -- API keys ----------------------------------------------------------------------------------


def add_api_key(q, key_id, name, role, secret_hash, unique_violation: type[Exception]) -> Steps:
    try:
        yield COUNT, q.ADD_API_KEY, (key_id, name, role, secret_hash, utc_now())
    except unique_violation:
        raise Conflict(f"an API key named {name!r} exists already") from None


# -- received mail ------------------------------------------------------------------------------


def add_message(q, raw: bytes, mail_from, rcpt_to, settled, origin, network, claimed_by) -> Steps:
    """(id, whether it was added): a message of a known origin is not stored again."""
    if origin is not None:
        row = yield ROW, q.MESSAGE_OF_ORIGIN, (origin,)
        if row is not None:
            return row[0], False
    at = utc_now()
    status, reasons = settled or (Status.PENDING, None)
    message_id = yield NEW_ID, q.INSERT_MESSAGE, (
        at, mail_from, json.dumps(rcpt_to), len(raw), raw, status,
        json.dumps(reasons) if reasons is not None else None, at if settled else None, origin, claimed_by, network)
    return message_id, True


def settle_message(q, instance, message_id, outcome: Outcome, keys, reason, source, actor, counted, campaign) -> Steps:
    row = yield ROW, q.MESSAGE_TO_SETTLE, (message_id,)
    if row is not None and row[0] not in (None, instance):
        # Another instance took it over, believing this one dead: it settles it, once.
        log.warning("message %d: claimed meanwhile by another instance; left to it", message_id)
        return None
    if row is not None and row[1] != Status.PENDING:
        # Settled meanwhile: an erasure took its text (and put it before a person) while
        # it was being read; what the reader found in it must not come back.
        raise Conflict(f"message {message_id} is no longer waiting to be read ({row[1]})")
    at, last = utc_now(), None
    if reason is not None:
        for email, key in keys:
            placed = yield from claim(q, at, email, key, outcome.scope, reason, source, actor, campaign=campaign)
            last = placed.change_id or last
    yield COUNT, q.SETTLE_MESSAGE, (
        outcome.status, json.dumps(outcome.reasons), json.dumps(outcome.addresses), outcome.scope.topic,
        outcome.sender, outcome.subject, outcome.message_id, outcome.authentication, json.dumps(outcome.found),
        outcome.words, at, outcome.proof, outcome.report, message_id)
    if counted is not None:
        sender, addresses = counted
        yield COUNT, q.COUNT_SENDER_REQUEST, (sender, at, message_id, addresses, message_id)
    return last


def resolve_message(q, message_id, status, keys, scope: Scope, reason, source, actor, note) -> Steps:
    row = yield ROW, q.MESSAGE_TO_RESOLVE, (message_id,)
    if row is None:
        raise NotFound(f"no received message {message_id}")
    if row[0] != Status.REVIEW:
        raise Conflict(f"message {message_id} is settled already ({row[0]})")
    at, last = utc_now(), None
    for email, key in keys:
        placed = yield from claim(q, at, email, key, scope, reason, source, actor)
        last = placed.change_id or last
    yield COUNT, q.RESOLVE_MESSAGE, (status, json.dumps([email for email, _ in keys]), scope.topic, at, actor, note,
                                     message_id)
    return last


# -- erasure ------------------------------------------------------------------------------------


def erase(q, email, record, key, digest_keys, traces: Traces, scrub, actor) -> Steps:
    """(scopes suppressed, the erase change's id, bytes of raw mail removed): see Store.erase."""
    at = utc_now()
    had_claims = yield ROW, q.ANY_CLAIM, (email,)
    known = yield ROW, q.ANY_SUPPRESSION, (record,)
    # Its claims become the record's, and its suppressions what they add up to there.
    yield COUNT, q.MOVE_CLAIMS, (record, email)
    yield COUNT, q.DELETE_SUPPRESSIONS_OF, (email,)
    if had_claims is None and known is None:
        # Erased before, or without, ever opting out: never mailed again all the same.
        yield COUNT, q.INSERT_ERASURE_CLAIM, (record, ALL_EMAILS.stored, actor, at)
    for (topic,) in (yield ROWS, q.TOPICS_OF_CLAIMS, (record,)):
        yield from settle_row(q, record, topic, key, (yield from claims_on(q, record, topic)))
    cursors = [str(i) for (i,) in (yield ROWS, q.CHANGE_IDS_OF, (email,))]
    yield COUNT, q.PSEUDONYMISE_CHANGES, (record, email)
    change_id = yield NEW_ID, q.INSERT_ERASE_CHANGE, (at, record, ALL_EMAILS.stored, actor,
                                                      json.dumps({"cursors": cursors}))
    yield COUNT, q.INSERT_ERASED_SUBJECT, (record, signed64(key), signed64(digest_keys["sha256"]),
                                          signed64(digest_keys["md5"]), at, actor)
    freed = yield from scrub_messages(q, traces.messages, scrub)
    if traces.replies:
        yield COUNT, q.DELETE_REPLIES, (list(traces.replies),)
    if traces.senders:
        yield COUNT, q.MOVE_SENDER_REQUESTS, (record, list(traces.senders))
    scopes = [Scope.of_stored(t) for (t,) in (yield ROWS, q.TOPICS_SUPPRESSED, (record,))]
    return scopes, change_id, freed


def scrub_messages(q, ids, scrub: Callable[[str | None], str | None]) -> Steps:
    """Remove the raw text and own words of each message, and pass its other columns through
    `scrub`; return the bytes of raw mail removed. One not yet read cannot be any more: it goes
    before a person instead."""
    freed = 0
    for message_id in ids:
        row = yield ROW, q.MESSAGE_TO_SCRUB, (message_id,)
        if row is None:
            continue
        size, had_raw, status, *values = row
        freed += size if had_raw else 0
        cleaned = [scrub(v) if isinstance(v, str) else v for v in values]
        yield COUNT, q.SCRUB_MESSAGE, (*cleaned, message_id)
        if status == Status.PENDING:
            yield COUNT, q.UNREAD_TO_REVIEW, (json.dumps([UNREAD_ERASED]), message_id)
        yield PAUSE, "", ()  # the columns are short, but one person may have written many times
    return freed


# -- webhook receivers ------------------------------------------------------------------------


def sync_receivers(q, urls: list[str]) -> Steps:
    kept = [url for (url,) in (yield ROWS, q.RECEIVER_URLS, ())]
    removed = [url for url in kept if url not in urls]
    added = [url for url in urls if url not in kept]
    for url in removed:
        yield COUNT, q.DELETE_RECEIVER, (url,)
    (newest,) = yield ROW, q.NEWEST_SEQ, ()
    for url in added:
        yield COUNT, q.INSERT_RECEIVER, (url, newest, utc_now())
    return added, removed


def replay_receiver(q, url: str, from_seq: int | None) -> Steps:
    row = yield ROW, q.RECEIVER_CURSOR, (url,)
    if row is None:
        raise NotFound("no such receiver in the database; is it in the service's config, and has the"
                       " service started with it?")
    cursor = row[0] if from_seq is None else from_seq
    (newest,) = yield ROW, q.NEWEST_SEQ, ()
    (oldest_kept,) = yield ROW, q.OLDEST_EVENT, ()
    if cursor < 0 or cursor > newest:
        raise InvalidValue(f"--from must be an event number from 0 to {newest}")
    if cursor < newest and oldest_kept is not None and cursor < oldest_kept - 1:
        raise InvalidValue(f"events up to {oldest_kept - 1} are no longer kept; replay from {oldest_kept - 1}"
                           " or later (the change feed, /v1/changes, has every change)")
    return Receiver(*(yield ROW, q.REPLAY_RECEIVER, (cursor, url)))
