"""Mail to the request addresses: kept durably first, then read and acted on by one task.

receive() returns only when the raw message is committed, so an SMTP 250 is never a
promise on sand. The intake task takes stored messages each client network in turn, then
oldest first (suppression/turns.py); a restart picks up whatever was stored and not yet handled.
Handling a message twice changes nothing more: suppressing is idempotent.
"""

import asyncio
import contextlib
import dataclasses
import logging
from functools import partial
from datetime import datetime, timedelta, timezone

from suppression.addresses import (
    mask_address,
    mask_addresses_in,
    normalise_address,
    sender_key,
)
from suppression.background import cancel_and_wait
from suppression.errors import Conflict, InvalidAddress, MailStorageFull, StoreUnavailable
from suppression.mail_shares import MailShares, carries_our_token
from suppression.inbound.classify import REQUEST, REVIEW, UNPROVEN, Decision
from suppression.reader import ReaderSettings, ReaderUnavailable
from suppression.service import SuppressionService
from suppression.slow_mail import SlowMail, first_look_reader
from suppression.tokens import verify_token
from suppression.turns import Pace, UnreadMail
from suppression.model import Outcome, Status, utc_iso

log = logging.getLogger(__name__)

POSTMASTER = Status.POSTMASTER
_POSTMASTER_WHY = "mail to postmaster (RFC 5321 §4.5.1): kept for a person, never read as a request"
_BATCH = 50
_RETRY_SECONDS = 5.0
_RECOUNT_SECONDS = 300.0  # how often the shares of stored mail are counted from the database
# While mail is arriving, storing it (the 250s) goes first and reading trails: until no new
# message has come for _QUIET_SECONDS, but never once the oldest unread has waited
# _TRAIL_SECONDS (the promise to people is 5 s from the 250 to the suppression).
_QUIET_SECONDS = 0.05
_TRAIL_SECONDS = 2.0
# The reader's address space: a 10 MB message parsed with all its parts needs a few hundred MB.
_READER_MEMORY_BYTES = 2 * 1024 * 1024 * 1024


class RequestIntake:
    def __init__(self, service: SuppressionService, on_request=None):
        self.service = service
        settings = service.settings
        self.request_addresses = frozenset(normalise_address(a) for a in settings.smtp.request_addresses)
        self.postmaster_domains = frozenset(a.rpartition("@")[2] for a in self.request_addresses)
        reading = _reader_settings(service, self.request_addresses)
        # A first look at each message; one that overruns it is read again beside the others.
        self.reader = first_look_reader(reading, settings.smtp.message_first_look_seconds)
        self._handling = asyncio.Lock()
        self.slow = SlowMail(reading, service.store, self._settle_read, self._handling)
        self._on_request = on_request  # awaited with (message id, Decision) after a request is honoured
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._replying: set[asyncio.Task] = set()
        self.handled = 0
        self._unread = UnreadMail()
        self.pace = Pace(_BATCH)  # how many messages a round reads
        self._last_stored = 0.0
        self.quiet_seconds, self.trail_seconds = _QUIET_SECONDS, _TRAIL_SECONDS
        self.reading = 0  # messages handed to the reader now
        self.shares = MailShares(settings.smtp)
        self._read_token = partial(verify_token, service.signing_keys, max_age_seconds=service.links.max_age_seconds)
        self._counted_at = -_RECOUNT_SECONDS
        self.deferred = 0  # unproven requests kept for review past a budget, by this process

    def accepts(self, recipient: str) -> bool:
        """Whether mail for this recipient is ours to take: a request address, or postmaster (any
        case) at their domains or bare (RFC 5321 §4.5.1); InvalidAddress if it is no address."""
        if _is_postmaster(recipient, self.postmaster_domains):
            return True
        return normalise_address(recipient) in self.request_addresses

    async def receive(self, raw: bytes, mail_from: str, rcpt_to: list[str], origin: str | None = None,
                      for_review: str | None = None, network: str | None = None) -> int:
        """Store a message durably, wake the intake task, and return its id; MailStorageFull past the total.

        Mail for postmaster alone is kept as `postmaster`, for a person, and never read as a request.
        A message of an `origin` already stored (read from a mailbox again) is not stored twice.
        With `for_review` (why), it is kept for a person at once, never read. `network` is the
        client network it came over (SMTP), for the budget of requests on the sender's word alone.
        """
        mail_from = mail_from or ""
        proven = carries_our_token(raw, self._read_token)
        refusal = self.shares.refusal(len(raw), self.service.store.stored_mail_bytes, network, mail_from, proven)
        if refusal is not None:
            raise MailStorageFull(refusal)
        message_id = await self._store(raw, mail_from, rcpt_to, origin, for_review, network)
        self.shares.record(len(raw), network, mail_from)
        return message_id

    async def _store(self, raw: bytes, mail_from: str, rcpt_to: list[str], origin: str | None,
                     for_review: str | None, network: str | None) -> int:
        if for_review is not None:
            return await self.service.store.add_message(raw, mail_from, rcpt_to, (REVIEW, [for_review]), origin)
        if rcpt_to and all(_is_postmaster(r, self.postmaster_domains) for r in rcpt_to):
            settled = (POSTMASTER, [_POSTMASTER_WHY])
            return await self.service.store.add_message(raw, mail_from, rcpt_to, settled, origin)
        message_id = await self.service.store.add_message(raw, mail_from, rcpt_to, origin=origin, network=network)
        self._last_stored = asyncio.get_running_loop().time()
        self._unread.add(message_id, network, self._last_stored)
        self._wake.set()
        return message_id

    async def start(self) -> None:
        try:
            await self._recount()
        except StoreUnavailable as exc:  # a database that cannot be read now is counted by the task later
            log.warning("cannot count the mail kept now, will retry: %s", exc)
        self._wake.set()  # whatever a previous run stored and did not handle
        self._task = asyncio.create_task(self._run(), name="request-intake")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self.slow.stop()
        await asyncio.to_thread(self.reader.close)
        if self._replying:
            # Confirmations are optional: a hung relay must not hold up a shutdown.
            log.info("stopping: %d confirmation(s) not sent", len(self._replying))
            for task in list(self._replying):
                await cancel_and_wait(task)

    async def replies_sent(self) -> None:
        """Wait for confirmations under way (tests, shutdown)."""
        while self._replying:
            await asyncio.gather(*list(self._replying), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can lose a cancellation that
                # meets the wake-up, and then stop() would wait for ever.
                async with asyncio.timeout(_RETRY_SECONDS):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                if asyncio.get_running_loop().time() - self._counted_at >= _RECOUNT_SECONDS:
                    await self._recount()
                await self.handle_pending(trailing=True)
            except StoreUnavailable as exc:
                log.warning("cannot handle stored mail now, will retry: %s", exc)
            except ReaderUnavailable as exc:
                # The mail stays stored and pending: nothing is lost, it is read once a reader starts.
                log.error("cannot read stored mail now, will retry in %g s: %s", _RETRY_SECONDS, exc)
            except Exception:
                # A fault of ours must not end the reading of everyone's mail for good.
                log.exception("handling stored mail failed; will retry in %g s", _RETRY_SECONDS)

    async def _recount(self) -> None:
        """Count the mail kept per network and sender again: other instances and retention change it."""
        await asyncio.to_thread(self.shares.recount, await self.service.store.stored_mail())
        self._counted_at = asyncio.get_running_loop().time()

    async def handle_pending(self, trailing: bool = False) -> int:
        """Handle every stored message not yet handled; return how many.

        A batch is read in one thread call and settled together, so its writes share a commit.
        `trailing` (the intake task) lets mail still arriving be stored first, within the trail;
        without it (a direct call) those set aside as slow are waited for too.
        """
        count = 0
        while True:
            if trailing:
                await self._trail_intake()  # not holding the lock: a direct call may read meanwhile
            # One handler at a time (the intake task, or a caller such as a test or the CLI): two reading
            # the same pending messages would each count a sender's requests without the other's.
            async with self._handling:
                # Those set aside are being read beside these (suppression/slow_mail.py).
                size, first = self.pace.size, self._unread.turns_in(self.pace.size)
                batch = await self.service.store.pending_messages(size, skip=list(self.slow.ids), first=first)
                self._unread.not_pending(first, [message_id for message_id, _, _ in batch])
                if batch:
                    await self._handle_batch(batch)
                else:  # whatever was noted as unread was handled (or was a mailbox message stored before)
                    self._unread.clear()
            if not batch:
                if not trailing:
                    await self.slow.settled()
                return count
            count += len(batch)

    @property
    def unread(self) -> int:
        """Messages this process stored and has not yet read (those set aside included)."""
        return len(self._unread) + len(self.slow.ids)

    async def _trail_intake(self) -> None:
        """Wait while mail is still arriving, but not past the oldest unread message's trail."""
        loop = asyncio.get_running_loop()
        while wait := self._unread.trail(loop.time(), self._last_stored, self.quiet_seconds, self.trail_seconds):
            await asyncio.sleep(wait)

    async def handle(self, message_id: int, raw: bytes, mail_from: str) -> Decision:
        """Handle one stored message (again, if it was handled before), with the whole budget."""
        async with self._handling:
            item = (message_id, raw, mail_from)
            (decision,) = await asyncio.to_thread(self.slow.reader.read, [item])
            return (await self._settle_read([item], [decision]))[0]

    async def _handle_batch(self, batch: list[tuple[int, bytes, str]]) -> None:
        self.reading = len(batch)
        try:
            with self.pace.timed(len(batch)):
                decisions = await asyncio.to_thread(self.reader.read, batch)
        finally:
            self.reading = 0
        for index, (item, decision) in enumerate(zip(batch, decisions, strict=True)):
            if decision is None:  # slow: set aside, or past a flood of them read now
                self._unread.discard(item[0])
                decisions[index] = await self.slow.aside_or_read(item)
        read = [(item, decision) for item, decision in zip(batch, decisions, strict=True) if decision is not None]
        await self._settle_read([item for item, _ in read], [decision for _, decision in read])

    async def _settle_read(self, batch: list[tuple[int, bytes, str]], decisions: list[Decision]) -> list[Decision]:
        """Settle what was read, the budgets counted; the decisions as settled."""
        budgeted = any(decision.kind == REQUEST and (decision.proof == UNPROVEN or decision.names_others)
                       for decision in decisions)
        # With other instances on PostgreSQL, one at a time counts budgets and settles what they
        # allowed: two counting at once would each grant the whole budget.
        async with self.service.store.budget_lock() if budgeted else contextlib.nullcontext():
            limited = await self._limit_senders(batch, decisions)
            await asyncio.gather(*(
                self.settle(item[0], decision, counted) for item, (decision, counted) in zip(batch, limited, strict=True)
            ))
        for message_id, _, _ in batch:
            self._unread.discard(message_id)
        return [decision for decision, _ in limited]

    async def _limit_senders(
        self, batch: list[tuple[int, bytes, str]], decisions: list[Decision]
    ) -> list[tuple[Decision, tuple[str, int] | None]]:
        """Requests on the sender's word alone past their network's or everyone's hourly budget,
        and requests naming other people past their sender's daily limit, are kept for review.

        The budgets count what an attacker cannot multiply: the client network, and all mail
        together (an envelope sender or a From is anyone's to change per message). Each
        decision comes back with (sender, addresses) to count, or None.
        """
        decisions = await self._budget_unproven(batch, decisions)
        limit = self.service.settings.smtp.sender_requests_per_day
        since = utc_iso(datetime.now(timezone.utc) - timedelta(days=1))
        counts: dict[str, int] = {}
        limited = []
        for (_, _, mail_from), decision in zip(batch, decisions, strict=True):
            if decision.kind != REQUEST or not decision.names_others:
                limited.append((decision, None))
                continue
            sender, named = sender_key(mail_from) or sender_key(decision.sender), len(decision.addresses)
            if sender not in counts:
                counts[sender] = await self.service.store.sender_requests_since(sender, since)
            if counts[sender] + named > limit:
                why = (f"rate limit: this sender has had {counts[sender]} addresses of other people honoured in"
                       f" 24 hours and this message names {named} (limit {limit}); kept for review")
                limited.append((dataclasses.replace(
                    decision, kind=REVIEW, reasons=(*decision.reasons, why), addresses=(), reason=None,
                    found=tuple(dict.fromkeys([*decision.found, *decision.addresses])),
                ), None))
                continue
            counts[sender] += named
            limited.append((decision, (sender, named)))
        return limited

    async def _budget_unproven(self, batch: list[tuple[int, bytes, str]], decisions: list[Decision]) -> list[Decision]:
        smtp = self.service.settings.smtp
        unproven = [message_id for (message_id, _, _), decision in zip(batch, decisions, strict=True)
                    if decision.kind == REQUEST and decision.proof == UNPROVEN]
        if not unproven:
            return decisions
        since = utc_iso(datetime.now(timezone.utc) - timedelta(hours=1))
        # Honoured so far, then with this batch's own: counted once for the batch.
        networks, in_network, total = await self.service.store.unproven_budget(
            since, unproven, smtp.unproven_requests_per_network_per_hour, smtp.unproven_requests_per_hour)
        kept = []
        for (message_id, _, _), decision in zip(batch, decisions, strict=True):
            if decision.kind != REQUEST or decision.proof != UNPROVEN:
                kept.append(decision)
                continue
            network = networks.get(message_id)
            if len(decision.addresses) > 1:
                # The budgets count messages: ten naming ten addresses each were a hundred people.
                why = (f"a request on the sender's word alone names {len(decision.addresses)} addresses;"
                       " such a request is honoured for one address at most; kept for review")
            elif network is not None and in_network[network] >= smtp.unproven_requests_per_network_per_hour:
                why = (f"budget: at least {in_network[network]} requests on the sender's word alone were honoured from"
                       f" this network in the last hour (limit {smtp.unproven_requests_per_network_per_hour});"
                       " kept for review")
            elif total >= smtp.unproven_requests_per_hour:
                why = (f"budget: at least {total} requests on the sender's word alone were honoured in the last hour"
                       f" (limit {smtp.unproven_requests_per_hour}); kept for review")
            else:
                if network is not None:
                    in_network[network] += 1
                total += 1
                kept.append(decision)
                continue
            several = len(decision.addresses) > 1
            if not several:  # the metric counts the budgets' deferrals
                self.deferred += 1
            log.warning("message %d: a request without proof kept for review %s", message_id,
                        "for the addresses it names" if several else "past its hourly budget")
            kept.append(dataclasses.replace(
                decision, kind=REVIEW, reasons=(*decision.reasons, why), addresses=(), reason=None,
                found=tuple(dict.fromkeys([*decision.found, *decision.addresses])),
            ))
        return kept

    async def settle(self, message_id: int, decision: Decision, counted: tuple[str, int] | None = None) -> None:
        """Suppress what a decision names and record its outcome, in one write; then log and answer."""
        keys = self.service.live.stored_keys(decision.addresses)
        try:
            await self.service.settle_message(
                message_id, _outcome(decision), keys, decision.reason if decision.addresses else None, counted,
                decision.campaign,
            )
        except Conflict:
            # An erasure took its text while it was read: what was read must not come back, nor be answered.
            log.warning("message %d: settled while it was read (an erasure); the reading is dropped", message_id)
            return
        except (StoreUnavailable, asyncio.CancelledError):
            raise  # the database, not this message: it stays pending and is read again
        except Exception as exc:
            # This message's reading could not be written (text no database stores, say). Left
            # pending, it would fail again and hold up everyone's mail after it: a person reads it.
            if decision == _UNSTORABLE:
                raise
            log.error("message %d: what was read could not be stored; kept for review", message_id, exc_info=exc)
            return await self.settle(message_id, _UNSTORABLE)
        self.handled += 1
        # Masked: the log is no place for the list's addresses (the inbox view has them).
        log.info("message %d: %s %s (%s)", message_id, decision.kind,
                 ", ".join(map(mask_address, decision.addresses)) or "-",
                 mask_addresses_in("; ".join(decision.reasons))[:1000])
        if decision.kind == REQUEST and self._on_request is not None:
            # In the background: a slow relay must not hold up the next person's request.
            task = asyncio.create_task(self._on_request(message_id, decision))
            self._replying.add(task)
            task.add_done_callback(self._replying.discard)


def _reader_settings(service: SuppressionService, request_addresses: frozenset[str]) -> ReaderSettings:
    settings = service.settings
    return ReaderSettings(
        request_addresses=request_addresses,
        signing_keys=service.signing_keys,
        max_age_seconds=service.links.max_age_seconds,
        topics=dict(settings.topics),
        trusted_authserv_ids=settings.smtp.trusted_authserv_ids,
        budget_seconds=settings.smtp.message_read_seconds,
        memory_bytes=_READER_MEMORY_BYTES,
        judge_path=settings.smtp.reader_model,
    )


_UNSTORABLE = Decision(REVIEW, ("what the reader found in it could not be stored; kept for a person",))


def _outcome(decision: Decision) -> Outcome:
    return Outcome(
        decision.kind, list(decision.reasons), list(decision.addresses), decision.scope,
        decision.sender or None, decision.subject or None, decision.message_id or None,
        decision.authentication or None, list(decision.found), decision.words or None,
        decision.proof or None, decision.report or None,
    )


def _is_postmaster(recipient: str, domains: frozenset[str]) -> bool:
    local, at, domain = recipient.strip().strip("<>").rpartition("@")
    if not at:
        return domain.lower() == "postmaster"
    try:
        return local.lower() == "postmaster" and normalise_address(recipient).rpartition("@")[2] in domains
    except InvalidAddress:
        return False
