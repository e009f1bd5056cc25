"""Coming back (CONTRACT §10): a person whose own opt-out suppresses them asks, on the link's
page, to receive mail again; a confirmation goes to that address, and only a POST on it lifts.

Holding someone's link is not enough to bring them back: the confirmation reaches only the
mailbox, its token has a salt and cipher of its own and works for a week, and it lifts only the
opt-outs made before it was asked for (a later opt-out stays), so using it twice changes nothing
more. A bounce, a complaint, an admin's entry (API, CLI, import, the desk) or an erasure is never
lifted, and the asking says nothing about which applies: the same answer, after the same work.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from suppression.addresses import normalise_address, sender_key
from suppression.claims import HARD, standing
from suppression.erasure import ErasureKeys, is_record
from suppression.model import Actor, Claim, Reason, Scope, Source, Suppression, utc_iso
from suppression.tokens import ReturnClaim, mint_return, verify_return

log = logging.getLogger(__name__)

# What is a person's own opt-out, today, in the one-row-per-address model: made by their own
# hand (the one-click link, the page, an email they sent that the reader honoured) and for the
# reason "unsubscribe". A bounce or complaint (reasons of their own), an admin's entry (sources
# api, cli, import; reasons manual, import, block) and a request the desk resolved (source
# "desk", an admin's decision) are not.
OWN_REASON = Reason.UNSUBSCRIBE
OWN_SOURCES = (Source.LINK, Source.ONE_CLICK, Source.EMAIL)
RETURN_SOURCE = Source.RETURN  # the change log's source of a lift made by a confirmation
RETURN_ACTOR = Actor.CONFIRMATION  # and its actor: the person, proven by the mail they received
KEEP_COUNTS_DAYS = 2  # the daily counts are forgotten after this


def is_own_opt_out(suppression: Suppression | Claim) -> bool:
    """Whether a person may lift this suppression by confirming from their mailbox."""
    return suppression.reason == OWN_REASON and suppression.source in OWN_SOURCES


def return_inbox(keys: ErasureKeys, email: str) -> str:
    """How the counts of asking to come back name an inbox (jane+1@ and jane+2@ are one): a keyed
    hash, never the address."""
    return keys.keyed_hash("return:" + sender_key(email))


@dataclass(frozen=True)
class ReturnInvitation:
    """A confirmation to mail: to whom, the link to confirm with, in which language."""

    email: str
    url: str
    lang: str


class ComingBack:
    """Asking to come back and confirming it: the counts and the opt-outs are read from the store,
    the lift is the service's (SuppressionService.lift_own_opt_outs).

    `invite` is given by the edge that mails (handlers/return_mail.py); it must not wait for
    the mail to go, so that asking takes as long whether a mail goes or not. `clock` (seconds
    since the epoch) stands in for time in tests.
    """

    def __init__(self, service, per_day: int, invite: Callable[[ReturnInvitation], None],
                 clock: Callable[[], float] = time.time):
        self.service = service
        self.per_day = per_day
        self.invite = invite
        self.clock = clock

    async def ask(self, text: str, campaign: str | None, lang: str) -> bool:
        """A request from the link's page: one count and one read whatever applies; the
        confirmation is handed to `invite` only when the address has an opt-out of its own to
        lift and has asked at most `per_day` times today. Whether it was (for tests and logs;
        the page never says)."""
        email = normalise_address(text)
        now = datetime.fromtimestamp(self.clock(), timezone.utc)
        asked = await self.count_return_request(email, now.date().isoformat())
        claims = await self._claims(email)
        if standing(claims) == HARD:  # what checks for transactional mail count: receipts are not sent
            log.info("a request to come back: a bounce, complaint or block holds; no confirmation sent")
            return False
        if not any(is_own_opt_out(c) for c in claims):
            log.info("a request to come back: nothing of the person's own to lift; no confirmation sent")
            return False
        if asked > self.per_day:
            log.info("a request to come back: asked %d times today (limit %d); no confirmation sent", asked, self.per_day)
            return False
        token = mint_return(self.service.signing_keys, ReturnClaim(email, utc_iso(now), campaign, lang), self.clock())
        base = self.service.settings.service.base_url.rstrip("/")
        self.invite(ReturnInvitation(email, f"{base}/return/{token}?lang={lang}", lang))
        return True

    async def count_return_request(self, email: str, day: str) -> int:
        """Count a request to come back on a UTC day; how many that inbox made that day, this one
        included. Per inbox, by keyed hash: the count never holds an address."""
        return await self.service.store.count_return_request(return_inbox(self.service.live.erased.keys, email), day)

    async def own_opt_outs(self, email: str) -> list[Suppression]:
        """The claims of an address that the person may lift by coming back (as suppressions: scope,
        reason, source, since); none once it is erased."""
        return [Suppression(c.email, c.scope, c.reason, c.source, c.since, c.until)
                for c in await self._claims(email) if is_own_opt_out(c)]

    async def _claims(self, email: str) -> list[Claim]:
        """Every claim on an address; none once it is erased (nothing is mailed to it, and
        nothing lifted)."""
        stored = self.service.live.erased.stored(email)[0]
        return [] if is_record(stored) else await self.service.store.claims_of(stored)

    def read(self, token: str) -> ReturnClaim:
        """Whose return a confirmation names; BadReturn if it is not one of ours or is older than a week."""
        return verify_return(self.service.signing_keys, token, self.clock())

    async def confirm(self, token: str) -> tuple[ReturnClaim, list[Scope]]:
        """The POST on a confirmation: lift the person's own opt-outs made before they asked; the scopes lifted."""
        claim = self.read(token)
        return claim, await self.service.lift_own_opt_outs(claim.email, claim.asked_at, claim.campaign)
