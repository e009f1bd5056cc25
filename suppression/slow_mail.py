"""Mail that is slow to read, read beside the rest: one message must not hold up everyone's.

The promise to people is 5 s from the 250 to the suppression, and the intake reads its mail
in order. A stranger's message that takes the whole budget to read (`message_read_seconds`,
10 s by default: a million empty MIME parts will do it) held every message behind it for
that long. So the intake's reader gives each message a first look of
`message_first_look_seconds` (0.5 s; nearly every message reads in milliseconds, 11 MB with
an attachment and a large HTML part in 0.2 s); one not read
by then is set aside here and read again by a reader of its own, with the whole budget, one at
a time, while the intake reads on. What overruns that is kept for review, as before. Until it is
read the message stays pending in the store, so a restart reads it again; only its id is
held here, and the intake's query for mail to read leaves it out.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from suppression.background import cancel_and_wait
from suppression.errors import StoreUnavailable
from suppression.inbound.classify import Decision
from suppression.model import Status
from suppression.reader import MailReader, ReaderSettings, ReaderUnavailable
from suppression.store import Store

log = logging.getLogger(__name__)

# Set aside at most: past it, a flood of slow mail, each is read in turn with the whole budget,
# as before this lane was made; the ids are a query's parameters (Store.pending_messages' skip).
MAX_ASIDE = 256

Settle = Callable[[list[tuple[int, bytes, str]], list[Decision]], Awaitable[object]]


def first_look_reader(settings: ReaderSettings, first_look_seconds: float) -> MailReader:
    """The intake's reader: a first look of `first_look_seconds` at each message, and one that
    overruns it set aside (None); given the whole budget or more, the whole budget, as one lane."""
    if first_look_seconds >= settings.budget_seconds:
        return MailReader(settings)
    return MailReader(dataclasses.replace(settings, budget_seconds=first_look_seconds), set_aside=True)


class SlowMail:
    """Messages set aside by the first look, read with the whole budget and settled by `settle`
    (the intake's: the budgets counted as for any message) under the intake's `lock`."""

    def __init__(self, settings: ReaderSettings, store: Store, settle: Settle, lock: asyncio.Lock):
        self.reader = MailReader(settings)  # its child is started on the first slow message only
        self._store, self._settle, self._lock = store, settle, lock
        self.ids: dict[int, None] = {}  # set aside and not yet settled, oldest first
        self._task: asyncio.Task | None = None

    async def aside_or_read(self, item: tuple[int, bytes, str]) -> Decision | None:
        """None, the message set aside to be read here; or, with MAX_ASIDE aside already, its
        decision, read now with the whole budget."""
        if len(self.ids) >= MAX_ASIDE:
            (decision,) = await asyncio.to_thread(self.reader.read, [item])
            return decision
        self.ids[item[0]] = None
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="slow-mail")
        return None

    async def settled(self) -> None:
        """Return once every message set aside has been read and settled (or, after a failure,
        left pending)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await asyncio.to_thread(self.reader.close)

    async def _run(self) -> None:
        while self.ids:
            message_id = next(iter(self.ids))
            try:
                await self._read(message_id)
            except (StoreUnavailable, ReaderUnavailable) as exc:
                # Still pending: the intake gives it a first look again, and sets it aside again.
                log.warning("message %d: could not be read beside the others now: %s", message_id, exc)
            except Exception:
                log.exception("message %d: reading it beside the others failed; it stays pending", message_id)
            finally:
                self.ids.pop(message_id, None)

    async def _read(self, message_id: int) -> None:
        message = await self._store.get_message(message_id)
        if message is None or message.status != Status.PENDING or message.raw is None:
            return  # erased, or settled otherwise, meanwhile
        item = (message_id, message.raw, message.mail_from)
        (decision,) = await asyncio.to_thread(self.reader.read, [item])
        async with self._lock:
            await self._settle([item], [decision])
