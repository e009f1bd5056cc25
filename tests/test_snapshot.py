"""The index snapshot: quick start-up that is never wrong, only sometimes not used."""

import logging
import shutil

import pytest

from suppression.addresses import key_of_canonical
from suppression.model import ALL_EMAILS, Scope
from suppression.service import SuppressionService
from suppression.index.snapshot import SNAPSHOT_NAME
from suppression.store import SuppressionStore
from tests.support.settings import make_settings


async def started(settings) -> SuppressionService:
    service = SuppressionService(settings, SuppressionStore(settings.database_path), ("k" * 40,))
    await service.start()
    return service


async def suppressed(service, topic=None) -> list[str]:
    """What the index (not the database) says: the bulk check reads only the index."""
    return await service.suppressed_texts(["a@example.com", "b@example.com", "c@example.com"], Scope.of_topic(topic))


async def test_restart_from_the_snapshot_includes_changes_made_while_stopped(tmp_path, caplog):
    settings = make_settings(tmp_path / "data")
    service = await started(settings)
    await service.suppress("a@example.com", ALL_EMAILS, "manual", "api", "t")
    await service.suppress("b@example.com", Scope("newsletters"), "manual", "api", "t")
    await service.stop()
    assert (settings.service.data_dir / SNAPSHOT_NAME).exists()
    # Changes by another process while the service is down.
    store = SuppressionStore(settings.database_path)
    await store.open()
    await store.suppress("c@example.com", key_of_canonical("c@example.com"), ALL_EMAILS, "manual", "cli", "t")
    await store.unsuppress("a@example.com", ALL_EMAILS, "cli", "t")
    await store.close()
    with caplog.at_level(logging.INFO, logger="suppression.index.live"):
        service = await started(settings)
    assert "index loaded from snapshot" in caplog.text
    assert await suppressed(service) == ["c@example.com"]
    assert await suppressed(service, "newsletters") == ["b@example.com", "c@example.com"]
    await service.stop()


@pytest.mark.both_stores
async def test_the_snapshot_is_written_on_either_store_into_a_data_dir_not_made_yet(tmp_path, store, caplog):
    # On PostgreSQL nothing but the snapshot writes into data_dir, and nothing created it.
    settings = make_settings(tmp_path / "new" / "data", store)
    service = SuppressionService.of_settings(settings, ("k" * 40,))
    await service.start()
    await service.suppress("a@example.com", ALL_EMAILS, "manual", "api", "t")
    await service.stop()
    assert (settings.service.data_dir / SNAPSHOT_NAME).exists()
    assert "could not write the index snapshot" not in caplog.text
    with caplog.at_level(logging.INFO, logger="suppression.index.live"):
        service = SuppressionService.of_settings(settings, ("k" * 40,))
        await service.start()
    assert "index loaded from snapshot" in caplog.text
    assert await suppressed(service) == ["a@example.com"]
    await service.stop()


@pytest.mark.parametrize("damage", ["other database", "garbage", "ahead"])
async def test_a_snapshot_that_does_not_fit_is_ignored(tmp_path, caplog, damage):
    first = make_settings(tmp_path / "first")
    service = await started(first)
    await service.suppress("a@example.com", ALL_EMAILS, "manual", "api", "t")
    await service.suppress("b@example.com", ALL_EMAILS, "manual", "api", "t")
    await service.stop()
    snapshot = first.service.data_dir / SNAPSHOT_NAME
    if damage == "other database":
        second = make_settings(tmp_path / "second")
        await (await started(second)).stop()  # a second database, with a snapshot of its own
        shutil.copy(snapshot, second.service.data_dir / SNAPSHOT_NAME)
        target = second
    elif damage == "garbage":
        snapshot.write_bytes(b"not a snapshot")
        target = first
    else:
        # As if the database were restored from a backup older than the snapshot.
        shutil.copy(snapshot, tmp_path / "saved.npz")
        service = await started(first)
        await service.unsuppress("b@example.com", ALL_EMAILS, "api", "t")
        await service.stop()
        shutil.copy(tmp_path / "saved.npz", snapshot)
        import sqlite3
        with sqlite3.connect(first.database_path) as db:
            db.execute("DROP TRIGGER changes_append_only_delete")
            db.execute("DELETE FROM changes WHERE id > 1")
        target = first
    with caplog.at_level(logging.INFO, logger="suppression.index.live"):
        service = await started(target)
    assert "index loaded from rows" in caplog.text
    from_db = sorted({s.email for s in [row async for row in service.export()]})
    assert await suppressed(service) == from_db
    await service.stop()
