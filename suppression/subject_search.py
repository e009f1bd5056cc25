"""Finding a person in what is stored besides the list: received mail, replies, rate-limit rows.

The search decodes every stored message (suppression/inbound/mentions.py), so its cost grows
with the mail kept (up to [smtp] max_stored_mail_bytes). It runs in a child process, one page
of mail at a time: the service's loop only hands pages over and collects the ids.

The child is started by the process's first search and kept for the next (one a process): a
start is a new interpreter importing the reader's modules, about 0.2 s of CPU, as much as
searching a few megabytes of mail. It drops the people it searched for before it is kept, and
ends with the service process, however that ends: an idle child would otherwise outlive a
SIGKILL.
"""

import asyncio
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait

from suppression.addresses import sender_key
from suppression.errors import StoreUnavailable
from suppression.inbound.mentions import forget_people, keys_naming, messages_naming
from suppression.model import Traces


PAGE_BYTES = 4 * 1024 * 1024  # raw mail read and handed to the child at once
_KEYS_AT_ONCE = 20_000


def key_forms(forms: tuple[str, ...]) -> tuple[str, ...]:
    """The forms a person's rate-limit and reply rows are kept under: their address, and
    without its +tag (addresses.sender_key: jane+1@ and jane+2@ share one allowance)."""
    return tuple(dict.fromkeys([*forms, *(sender_key(f) for f in forms if "@" in f)]))


class _Child:
    """The child process for one search: the process's kept one if it still answers, else one
    started when there is something to search; kept after, unless it broke, once it has dropped
    the people it searched for."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False

    async def run(self, function, *args):
        if self._pool is None:
            self._pool = await _answering(_spare.take())
        try:
            return await _submitted(self._pool, function, *args)
        except BrokenProcessPool:
            self._broken = True
            raise StoreUnavailable("the search of stored mail stopped (its process ended); try again") from None
        except BaseException:  # cancelled: the child may be deep in a page no one will read now
            self._broken = True
            raise

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if self._broken:  # dead, or ending the page it is on: not waited for
            pool.shutdown(wait=False, cancel_futures=True)
            return
        try:
            await _submitted(pool, forget_people)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        if not _spare.leave(pool):
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)


async def _submitted(pool: ProcessPoolExecutor, function, *args):
    # Submitted from a thread: the first submit starts the child (a fork and exec and a
    # handshake), which must not hold the loop.
    return await asyncio.wrap_future(await asyncio.to_thread(pool.submit, function, *args))


async def _answering(kept: ProcessPoolExecutor | None) -> ProcessPoolExecutor:
    """The kept pool if its child answers (it may have been killed while it waited: the OOM
    killer, an operator), else a new one. Asked apart from the search, so that a page that kills
    the child is never read twice."""
    if kept is not None:
        try:
            await _submitted(kept, os.getpid)
            return kept
        except BrokenProcessPool:
            await asyncio.to_thread(kept.shutdown, wait=True, cancel_futures=True)
        except BaseException:
            kept.shutdown(wait=False, cancel_futures=True)
            raise
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_end_with_parent)


class _Spare:
    """The one idle search child of this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def take(self) -> ProcessPoolExecutor | None:
        with self._lock:
            pool, self._pool = self._pool, None
        return pool

    def leave(self, pool: ProcessPoolExecutor) -> bool:
        """Keep `pool` for the next search; False if one is kept already (end it yourself)."""
        with self._lock:
            if self._pool is not None:
                return False
            self._pool = pool
            return True


_spare = _Spare()


def _end_with_parent() -> None:
    """In the child: end the moment the process that started it ends. A child waiting for its
    next search reads a queue it holds both ends of, so it would never see that on its own."""
    threading.Thread(target=_exit_with, args=(multiprocessing.parent_process().sentinel,),
                     name="parent-watch", daemon=True).start()


def _exit_with(parent_sentinel) -> None:
    wait([parent_sentinel])
    os._exit(0)


async def find_traces(store, forms: tuple[str, ...], after: int = 0, with_keys: bool = True,
                      signing_keys: tuple[str, ...] = ()) -> Traces:
    """Every message after id `after` that names the person (any of `forms`: canonical address
    and Unicode form, or an erased address's keyed hash; or a token of ours, read with
    `signing_keys`, that carries the address), and their reply and rate-limit rows."""
    child = _Child()
    try:
        messages, searched_to = [], after
        in_raw = any("@" in form for form in forms)  # a keyed hash is only ever in columns
        while page := await store.message_page(searched_to, PAGE_BYTES):
            searched_to = page[-1][0]
            if not in_raw:
                page = [(message_id, None, columns) for message_id, _, columns in page]
            messages.extend(await child.run(messages_naming, forms, page, signing_keys))
        senders, replies = [], []
        if with_keys:
            keyed = key_forms(forms)
            senders = await _keys(child, keyed, await store.sender_request_keys())
            replies = await _keys(child, keyed, await store.reply_keys())
        return Traces(tuple(messages), tuple(senders), tuple(replies), searched_to)
    finally:
        await child.close()


async def _keys(child: _Child, forms: tuple[str, ...], keys: list[str]) -> list[str]:
    found = []
    for start in range(0, len(keys), _KEYS_AT_ONCE):
        found.extend(await child.run(keys_naming, forms, keys[start:start + _KEYS_AT_ONCE]))
    return found
