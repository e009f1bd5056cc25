"""A suppression is the set of everyone who asked: the rules that turn an address's claims for
one scope into its standing, and that say which claims a lifter may lift. Pure: both stores
and the index use these, so the rules are written once.

A scope's standing is one short text, kept with each change in the log (`changes.state`) so
that the index and every copy of the list follow it without reading the claims:

- ``""``  not suppressed (no claim left);
- ``"P"`` suppressed with no end;
- ``"H"`` suppressed with no end, and a bounce, complaint or block without end is among the
  claims: it counts for transactional mail too;
- an ISO 8601 UTC timestamp: only pauses hold it, suppressed until then and then not, with no
  write at the end.
"""

from collections.abc import Iterable
from datetime import datetime, timezone

from suppression.errors import InvalidValue
from suppression.model import Claim, Reason, Scope, Source, Suppression, utc_iso

NOT_SUPPRESSED = ""
PERMANENT = "P"
HARD = "H"
# What says "never mail this address, receipts included": a dead or complaining address, or an
# admin's block. Counted by checks of purpose `transactional`.
HARD_REASONS = frozenset({Reason.BOUNCE, Reason.COMPLAINT, Reason.BLOCK})
# What an undo may lift: the person's own opt-out or pause, from their link or their email.
# (What a confirmed "coming back" lifts is suppression/returning.py's to say.)
OWN_SOURCES = frozenset({Source.LINK, Source.ONE_CLICK, Source.EMAIL})
OWN_REASONS = frozenset({Reason.UNSUBSCRIBE, Reason.PAUSE})
PURPOSES = ("promotional", "transactional")


def standing(claims: Iterable[Claim]) -> str:
    """The standing the claims add up to (see the module's docstring)."""
    claims = list(claims)
    lasting = [c for c in claims if c.until is None]
    if lasting:
        return HARD if any(c.reason in HARD_REASONS for c in lasting) else PERMANENT
    if claims:
        return max(c.until for c in claims)
    return NOT_SUPPRESSED


def shown(claims: Iterable[Claim]) -> Claim | None:
    """The claim a check names: the earliest without end, else the pause that ends last."""
    claims = list(claims)
    lasting = [c for c in claims if c.until is None]
    if lasting:
        return min(lasting, key=lambda c: (c.since, c.id))
    return max(claims, key=lambda c: (c.until, c.id), default=None)


def is_repeat(claim: Claim, reason: str, source: str, until: str | None) -> bool:
    """Whether asking again adds nothing: the same way of asking (source) with the same end, and
    no harder reason. One-click twice is one claim, as are two email requests; an admin's
    `manual` after a `complaint` through the API too; a `block` after a `manual` is a claim of
    its own (it counts for transactional mail), as is anything from another source."""
    same_way = claim.source == source and claim.until == until
    return same_way and (reason not in HARD_REASONS or claim.reason in HARD_REASONS)


def is_undo_of(claim: Claim, made_at: str) -> bool:
    """Whether an undo handed out for a click at `made_at` names this claim: that click's own
    opt-out or pause, and nothing anyone added after it."""
    return claim.since == made_at and claim.reason in OWN_REASONS and claim.source in OWN_SOURCES


def every_claim(claim: Claim) -> bool:
    """A lift's choice of claims (store.unsuppress): every one, an admin's lift."""
    return True


def is_opt_out_of(claim: Claim, reason: str, sources: tuple[str, ...], made_before: str) -> bool:
    """A lift's choice of claims (store.lift_own_opt_outs): the person's own opt-outs with this
    reason, from one of these sources, made before the time given."""
    return claim.reason == reason and claim.source in sources and claim.since <= made_before


def suppressed(state: str | None, now: str) -> bool:
    """Whether a standing suppresses at `now` (utc_iso text: text order is time order)."""
    if not state:
        return False
    return state in (PERMANENT, HARD) or state > now


def is_pause(state: str | None) -> bool:
    return bool(state) and state not in (PERMANENT, HARD)


def until_of(state: str | None) -> str | None:
    """The end of a paused standing, else None."""
    return state if is_pause(state) else None


def state_of_legacy(action: str, reason: str | None) -> str:
    """The standing a change logged before claims (migration 15) left."""
    if action != "suppress":
        return NOT_SUPPRESSED
    return HARD if reason in HARD_REASONS else PERMANENT


def milliseconds(text: str) -> int:
    """A stored timestamp as milliseconds since the epoch (how the index keeps a pause's end)."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def parse_until(value, now: datetime) -> str:
    """An `until` given by an admin (ISO 8601; UTC when no offset is given), as stored; it must
    lie in the future. InvalidValue otherwise."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidValue("`until` must be an ISO 8601 timestamp, e.g. 2027-01-31T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidValue("`until` must be an ISO 8601 timestamp, e.g. 2027-01-31T00:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment <= now:
        raise InvalidValue("`until` must lie in the future (a pause ends then)")
    if moment.year > 9998:
        raise InvalidValue("`until` is too far away; leave it out for a suppression without end")
    return utc_iso(moment)


def check_purpose(purpose: str | None) -> str:
    """A check's purpose (default promotional); InvalidValue for another."""
    if purpose is None:
        return "promotional"
    if purpose not in PURPOSES:
        raise InvalidValue(f"unknown purpose {purpose[:32]!r} (one of: {', '.join(PURPOSES)})")
    return purpose


def suppression_of_claims(email: str, scope: Scope, claims: list[Claim]) -> Suppression:
    """The suppressions row a scope's standing claims add up to (the store keeps it beside them)."""
    first, state = shown(claims), standing(claims)
    return Suppression(email, scope, first.reason, first.source, first.since, until_of(state), state == HARD)


def state_of(row: Suppression) -> str:
    """The standing a suppressions row stands for."""
    return state_of_columns(row.until, row.hard)


def state_of_columns(until: str | None, hard: bool) -> str:
    """The standing of a suppressions row read as its columns: it ends `until` (None: it lasts),
    and counts for transactional mail if `hard`."""
    if until is not None:
        return until
    return HARD if hard else PERMANENT
