"""A database as an older program left it: the store opened at its first migrations only, then
as this program opens it."""

import contextlib

import suppression.store.postgresql
import suppression.store.sqlite
from suppression.service import SuppressionService
from tests.support.settings import blank_database


@contextlib.asynccontextmanager
async def opened_store(settings, monkeypatch=None, migrations: int | None = None):
    """The settings' store, opened (at its first `migrations` migrations, if given, on a database
    made blank first: nothing may have it open) and closed after."""
    if migrations is not None:
        blank_database(settings)  # a test's database starts with every migration applied
        module = suppression.store.postgresql if settings.store.url else suppression.store.sqlite
        monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[:migrations])
    try:
        store = SuppressionService.of_settings(settings).store
        await store.open()
        try:
            yield store
        finally:
            await store.close()
    finally:
        if migrations is not None:
            monkeypatch.undo()
