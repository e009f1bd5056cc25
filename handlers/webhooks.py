"""Delivers the outbox to each [[webhooks]] receiver (CONTRACT §9), signed per Standard Webhooks.

Each receiver has a task and an HTTP session of its own, so one that hangs or is down delays
nobody else: not the other receivers, not any answer of the service. A receiver gets its
events one at a time in the outbox's order; a failed attempt is retried, with doubling waits
and jitter, until it takes the event (a 2xx), however long that is; a 410 Gone disables it.
Progress is saved after each batch and after each failure, so a kill delivers some events
again (same `webhook-id`, for the receiver to drop) and loses none.
"""

import asyncio
import email.utils
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import aiohttp
import yarl
from standardwebhooks.webhooks import Webhook

from suppression.background import cancel_and_wait
from suppression.config import WebhookSettings
from suppression.errors import StoreUnavailable
from suppression.model import seconds_since, utc_iso
from suppression.outbox import Event, Receiver, next_attempt
from suppression.records import event_record
from suppression.service import SuppressionService

log = logging.getLogger(__name__)

BATCH = 100  # events read at once
IDLE_SECONDS = 1.0  # how often an idle or waiting receiver looks again (for the CLI's replays)
USER_AGENT = "suppression-webhooks/1"


@dataclass
class ReceiverStatus:
    """What this process knows of a receiver between scrapes."""

    delivered: Counter = field(default_factory=Counter)  # outcome -> attempts
    disabled: bool = False


_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]*")
_SAID_URL = re.compile(r"""url=(['"]).*?\1""")
_NAMED = "<URL>"  # what an error says in place of the URL
_KEPT = 1000  # characters of an error read: the log keeps 300 of what is left


def _without_url(error: str, url: str) -> str:
    """An error's text without the receiver's URL, which aiohttp names in some (url='http://...'),
    path and query included, where a receiver may keep its secret: the URL as configured and as
    yarl writes it, what a url= quotes (an apostrophe in the URL makes repr quote it with "),
    and anything else shaped like a URL. Of its first _KEPT characters only: aiohttp quotes up to
    128 KB of a malformed answer, and _URL's time grows with the square of a run of letters (a
    receiver's 60 KB status line held the loop 3.6 s, 250 KB 16 s, at every retry)."""
    error = error[:_KEPT]  # a URL cut short is still one: its secret follows "://", or is cut off
    for written in {url, str(yarl.URL(url)), str(yarl.URL(url).with_user(None))}:
        error = error.replace(written, _NAMED)
    return _URL.sub(_NAMED, _SAID_URL.sub(f"url={_NAMED}", error))


class WebhookDispatcher:
    def __init__(self, service: SuppressionService, receivers: tuple[WebhookSettings, ...]):
        self.service = service
        self.receivers = receivers
        self.status = {r.label: ReceiverStatus() for r in receivers}
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        # Before serving, so that the first change after start-up is already an event; in the
        # background only while the database refuses it.
        try:
            await self._sync_receivers()
        except StoreUnavailable:
            self._tasks.append(asyncio.create_task(self._sync(), name="webhook receivers"))
        for receiver in self.receivers:
            self._tasks.append(asyncio.create_task(self._run(receiver), name=f"webhook {receiver.label}"))
        if self.receivers:
            log.info("webhooks: delivering to %d receiver(s)", len(self.receivers))

    async def report(self) -> list[tuple[str, int, float, bool, Counter]]:
        """(label, events waiting, age in seconds of the oldest waiting, disabled, attempts by
        outcome) of each receiver, for the metrics."""
        rows = []
        now = datetime.now(timezone.utc)
        for receiver in self.receivers:
            state = await self.service.store.receiver(receiver.url)
            if state is None:
                continue
            backlog = await self.service.store.backlog(state.cursor)
            age = seconds_since(backlog.oldest_at, now) if backlog.oldest_at is not None else 0.0
            rows.append((receiver.label, backlog.events, age, state.disabled_at is not None,
                         self.status[receiver.label].delivered))
        return rows

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks.clear()

    async def _sync_receivers(self) -> None:
        """Keep the configured receivers' progress, and only theirs."""
        added, removed = await self.service.store.sync_receivers([r.url for r in self.receivers])
        if added:
            log.info("webhooks: %d new receiver(s) start with the events from now on", len(added))
        if removed:
            log.info("webhooks: %d receiver(s) no longer configured are forgotten", len(removed))

    async def _sync(self) -> None:
        # Not a reason to refuse to start: a read-only database still answers checks.
        while True:
            try:
                await self._sync_receivers()
                return
            except StoreUnavailable as exc:
                log.warning("webhooks: the receivers cannot be recorded now, will try again: %s", exc)
                await asyncio.sleep(IDLE_SECONDS * 5)

    async def _run(self, receiver: WebhookSettings) -> None:
        signer = _Signer(receiver)
        timeout = aiohttp.ClientTimeout(total=receiver.timeout_seconds)
        # One connection at a time to each receiver: its events go in order.
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, auto_decompress=False) as session:
            delivery = _Delivery(self.service, receiver, signer, session, self.status[receiver.label])
            while True:
                try:
                    await delivery.step()
                except StoreUnavailable as exc:
                    log.warning("webhooks %s: the database cannot be read or written now, will try again: %s",
                                receiver.label, exc)
                    await asyncio.sleep(IDLE_SECONDS)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhooks %s: delivery failed unexpectedly; will try again", receiver.label)
                    await asyncio.sleep(IDLE_SECONDS)


class _Signer:
    """Signs with the receiver's secret, and during a rotation with its previous one too: the
    header then carries both signatures, space-separated, as Standard Webhooks allows."""

    def __init__(self, receiver: WebhookSettings):
        secrets = (receiver.secret, receiver.previous_secret) if receiver.previous_secret else (receiver.secret,)
        self.webhooks = tuple(Webhook(secret) for secret in secrets)

    def sign(self, message_id: str, at: datetime, body: str) -> str:
        return " ".join(webhook.sign(message_id, at, body) for webhook in self.webhooks)


class _Delivery:
    """One receiver's loop body: wait if there is nothing to do, else deliver the next events."""

    def __init__(self, service, receiver: WebhookSettings, signer: "_Signer", session, status: ReceiverStatus):
        self.service, self.receiver, self.signer, self.session, self.status = service, receiver, signer, session, status

    async def step(self) -> None:
        state = await self.service.store.receiver(self.receiver.url)
        if state is None:
            await asyncio.sleep(IDLE_SECONDS)  # the service is syncing receivers (start-up)
            return
        self.status.disabled = state.disabled_at is not None
        if state.disabled_at is not None:
            await self.service.store.wait_for_writes(IDLE_SECONDS)  # until a replay enables it again
            return
        if not await self.service.store.lead_receiver(self.receiver.url):
            await asyncio.sleep(IDLE_SECONDS)  # another instance delivers to it; taken over if it stops
            return
        waiting = _seconds_until(state.next_attempt_at)
        if waiting > 0:
            await self.service.store.wait_for_writes(min(waiting, IDLE_SECONDS))
            return
        events = await self.service.store.events_after(state.cursor, BATCH)
        if not events:
            await self.service.store.wait_for_writes(IDLE_SECONDS)
            return
        await self._deliver_batch(state, events)

    async def _deliver_batch(self, state: Receiver, events: list[Event]) -> None:
        cursor = state.cursor
        for event in events:
            if not self.receiver.wants(event.type):
                cursor = event.seq
                continue
            status, error, wait = await self._post(event)
            self.status.delivered["ok" if error is None else "failed"] += 1
            if error is None:
                if state.attempts:
                    log.info("webhooks %s: delivering again after %d failed attempt(s)", self.receiver.label,
                             state.attempts)
                    state = Receiver(state.url, state.cursor, state.generation, state.added_at)
                cursor = event.seq
                continue
            if status == 410:
                await self._disable(state, cursor)
            else:
                await self._fail(state, cursor, error, wait)
            return
        await self._save(state, cursor)

    async def _post(self, event: Event) -> tuple[int | None, str | None, float | None]:
        """(HTTP status or None, why it failed or None, the wait a 429 or 503 asked for or None)."""
        body = json.dumps(event_body(self.service, event), ensure_ascii=False, separators=(",", ":"))
        # Unique forever (random, kept with the event): stable across retries, never repeated by
        # a database restored from a backup. Events made before it had one keep the old form.
        message_id = f"evt_{event.uid}" if event.uid else f"evt_{self.service.live.database_id}_{event.seq}"
        now = datetime.now(timezone.utc)
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(message_id, now, body),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        try:
            async with self.session.post(self.receiver.url, data=body.encode("utf-8"), headers=headers,
                                         allow_redirects=False) as answer:
                await answer.content.readany()  # a little of the answer, never all of a huge one
                if 200 <= answer.status < 300:
                    return answer.status, None, None
                wait = retry_after(answer.headers.get("Retry-After")) if answer.status in (429, 503) else None
                return answer.status, f"answered {answer.status}", wait
        except asyncio.TimeoutError:
            return None, f"no answer within {self.receiver.timeout_seconds:g} s", None
        except (aiohttp.ClientError, OSError) as exc:
            return None, _without_url(f"{type(exc).__name__}: {exc}", self.receiver.url)[:300], None

    async def _save(self, state: Receiver, cursor: int) -> None:
        if cursor != state.cursor or state.attempts:
            await self.service.store.save_delivery(state.url, state.generation, cursor)

    async def _fail(self, state: Receiver, cursor: int, error: str, wait: float | None = None) -> None:
        attempts = (state.attempts if cursor == state.cursor else 0) + 1
        now = datetime.now(timezone.utc)
        failing_since = state.failing_since if cursor == state.cursor and state.failing_since else utc_iso(now)
        retry_at = next_attempt(now, attempts, self.receiver.first_retry_seconds, self.receiver.max_retry_seconds)
        if wait is not None:  # what the receiver asked for (RFC 9110 §10.2.3), up to the longest wait
            retry_at = max(retry_at, now + timedelta(seconds=min(wait, self.receiver.max_retry_seconds)))
        # The first failure of a run, then every tenth: a receiver down for days is not a flood.
        if attempts == 1 or attempts % 10 == 0:
            log.warning("webhooks %s: attempt %d failed (%s); trying again at %s, and for as long as it takes",
                        self.receiver.label, attempts, error, utc_iso(retry_at))
        await self.service.store.save_delivery(state.url, state.generation, cursor, attempts=attempts,
                                         failing_since=failing_since, next_attempt_at=utc_iso(retry_at),
                                         last_error=error)

    async def _disable(self, state: Receiver, cursor: int) -> None:
        log.error("webhooks %s: the receiver answered 410 Gone; it is disabled and gets nothing more until"
                  " `suppression webhooks replay %s` enables it", self.receiver.label, self.receiver.label)
        await self.service.store.save_delivery(state.url, state.generation, cursor, last_error="answered 410 Gone",
                                         disabled_reason="answered 410 Gone")
        self.status.disabled = True


def retry_after(value: str | None) -> float | None:
    """A Retry-After header's wait in seconds: delta-seconds or an HTTP date; None if neither."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value[:12]), 10**9))
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a zone of twenty digits
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())


def _seconds_until(moment: str | None) -> float:
    if moment is None:
        return 0.0
    return (datetime.fromisoformat(moment) - datetime.now(timezone.utc)).total_seconds()


def event_body(service: SuppressionService, event: Event) -> dict:
    """What a receiver is sent for an event (a message for the desk says by when it is due)."""
    due = service.review.due_after(event.message[1]) if event.message is not None else None
    return event_record(event, due, service.settings.service.base_url.rstrip("/") + "/admin/")
