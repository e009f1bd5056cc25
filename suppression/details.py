"""A single check's details: the claims on a suppressed address and on its domain, read from
the database, and what they add up to for a scope and a purpose.

The index says whether an address is suppressed; the database says by whom, why and since
when. A check waits for that at most DETAILS_WAIT_SECONDS and never while the database is
known to be away: past it, the answer is "suppressed" without details.
"""

import asyncio

from suppression.addresses import domain_entry
from suppression.claims import HARD_REASONS, shown
from suppression.errors import StoreUnavailable
from suppression.background import retrieve
from suppression.index.live import LiveIndex
from suppression.model import ALL_EMAILS, Claim, Scope, Suppression
from suppression.store import Store

# The longest a check of a suppressed address waits for the database's details (reason, source,
# since); past it, or while the database is known to be away, it answers from memory without them.
DETAILS_WAIT_SECONDS = 0.05


class Details:
    def __init__(self, store: Store, live: LiveIndex):
        self.store = store
        self.live = live

    async def claims(self, stored: str, domain: str, free_within: float | None = None) -> tuple[list, list]:
        """The address's own claims and its domain's (asked only when any domain entry exists)."""
        own = await self.store.claims_of(stored, free_within)
        of_domain = await self.store.claims_of(domain, free_within) if self.live.domains else []
        return own, of_domain

    async def soon(self, stored: str, domain: str) -> tuple[list, list] | None:
        """The claims if the database gives them within DETAILS_WAIT_SECONDS; None if it does not,
        or is known to be away (then it is not asked: a restart must not pile up waiting reads)."""
        if not self.store.reachable:
            return None
        # Nor does it queue for a connection behind writes: a busy pool is a missing detail, and
        # reads a check gave up on do not pile up in the pool's queue.
        reading = asyncio.create_task(self.claims(stored, domain, DETAILS_WAIT_SECONDS), name="check-details")
        reading.add_done_callback(retrieve)
        await asyncio.wait({reading}, timeout=DETAILS_WAIT_SECONDS)
        if not reading.done() or reading.cancelled() or isinstance(reading.exception(), StoreUnavailable):
            return None  # a late read finishes (or fails) on its own; nobody waits for it
        return reading.result()

    async def decide(self, email: str, scope: Scope, now: str, transactional: bool) -> tuple[bool, Suppression | None] | None:
        """Whether an address the index lists is suppressed for the scope and purpose, and by what,
        from its claims; None if they did not come within DETAILS_WAIT_SECONDS (then it is, from
        memory). With no index (the CLI) the database is the only source, and is waited for."""
        stored, domain = self.live.erased.stored(email)[0], domain_entry(email)
        if self.live.index is None:
            claims = await self.claims(stored, domain)
        else:
            claims = await self.soon(stored, domain)
            if claims is None:
                self.live.answered_early["without_details"] += 1
                return None
        return matched(*claims, scope, now, transactional)


def matched(own: list[Claim], of_domain: list[Claim], scope: Scope, now: str,
            transactional: bool) -> tuple[bool, Suppression | None]:
    """Whether the claims on an address and its domain suppress it for a scope now, and the
    suppression that applies: all emails first, the address's own before its domain's; then the
    topic. For transactional mail, which has no topic, only hard claims for all emails count
    (CONTRACT §10: topic suppressions do not)."""
    scopes = (ALL_EMAILS,) if transactional else (ALL_EMAILS, scope)
    for claims in ([c for c in own if c.scope == ALL_EMAILS], [c for c in of_domain if c.scope == ALL_EMAILS],
                   [c for c in own if c.scope == scope], [c for c in of_domain if c.scope == scope]):
        counted = [c for c in claims if c.scope in scopes and _counts(c, now, transactional)]
        if counted:
            return True, _suppression_of(counted, [c for c in own + of_domain
                                                   if c.scope in (ALL_EMAILS, scope) and _counts(c, now, False)])
    return False, None


def _counts(claim: Claim, now: str, transactional: bool) -> bool:
    """Whether a claim holds at `now` for mail of a purpose (transactional: hard claims only)."""
    if transactional:
        return claim.until is None and claim.reason in HARD_REASONS
    return claim.until is None or claim.until > now


def _suppression_of(claims: list[Claim], holding: list[Claim]) -> Suppression:
    """What a check names: the first of `claims` to show, ending when every claim `holding` the
    address (in the scopes asked about) has ended, or never."""
    first = shown(claims)
    until = None if any(c.until is None for c in holding) else max((c.until for c in holding), default=None)
    hard = any(c.until is None and c.reason in HARD_REASONS for c in holding)
    return Suppression(first.email, first.scope, first.reason, first.source, first.since, until, hard)
