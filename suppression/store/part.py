"""What the parts of a store (suppressions.py, changelog.py, messages.py, erasing.py, keys.py,
webhooks.py) ask of the store they are part of. Each part holds one kind of data and is written
once for both dialects; the store (sqlite.py, postgresql.py) composes them with what only it
does. The contract of every public method is written once, on the Protocol (__init__.py)."""

from collections.abc import Callable
from typing import Any

from suppression.store.dialect import Statements
from suppression.store.steps import Steps


class Part:
    q: Statements  # the dialect's statements
    stored_mail_bytes: int
    instance: str | None  # the instance that claims stored messages (PostgreSQL); None: one process

    async def _read(self, statement: str, params=(), free_within: float | None = None, whole: bool = False) -> list:
        """The rows of one query; a driver's error is StoreUnavailable. `whole`: rows holding
        stored mail, which PostgreSQL then sends as bytes rather than as hex text to decode on
        the loop (17 ms a 10 MB message; ten of them in an access export held it 156 ms)."""
        raise NotImplementedError

    async def _transact(self, steps: Callable[[], Steps], ordered: bool = True) -> Any:
        """Run a fresh `steps()` in a write transaction; its result once committed. `ordered`:
        it may log a change or an event (PostgreSQL orders those under the change log's lock)."""
        raise NotImplementedError

    def _wrote(self, change_id: int | None) -> int | None:
        """A change this process logged: what a check here must see from now on. Returns it."""
        return change_id

    def _claimed_by(self) -> str | None:
        """Who claims a message stored now (PostgreSQL: a serving instance); None: nobody."""
        return None

    async def truncate_journal(self, attempts: int = 50) -> bool:
        raise NotImplementedError
