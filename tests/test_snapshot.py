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
    # On PostgreSQL nothing but the snapshot writes into data_dir, and nothing created it (on
    # SQLite, make_settings made it, with the test's database in it).
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


def test_a_snapshot_is_read_mapped_and_aligned_and_is_still_an_npz(tmp_path):
    """Every process that loads one snapshot shares its keys through the page cache (the
    workers of docs/operations.md): they come back mapped from the file, aligned for uint64,
    not copied; np.load still reads the file as it is."""
    import numpy as np

    from suppression.index.keys import ScopeRows, SuppressionIndex
    from suppression.index.snapshot import load_snapshot, save_snapshot

    keys = np.sort(np.random.default_rng(7).integers(0, 2**63, 70_000, dtype=np.int64).view(np.uint64))
    path = tmp_path / SNAPSHOT_NAME
    for topic_count in (1, 3):  # entries of several sizes and names: each padded to its own start
        scopes = [ALL_EMAILS, *(Scope(f"topic{i}") for i in range(topic_count - 1))]
        save_snapshot(path, "db", 9, {scope: ScopeRows(lasting=keys[i:], hard=keys[:5 + i]) for i, scope in enumerate(scopes)})
        cursor, rows = load_snapshot(path, "db", 9, mapped=True)
        assert cursor == 9
        for i, scope in enumerate(scopes):
            for array, expected in ((rows[scope].lasting, keys[i:]), (rows[scope].hard, keys[:5 + i])):
                assert isinstance(array, np.memmap) and array.flags.aligned and not array.flags.writeable
                assert np.array_equal(array, expected)
        index = SuppressionIndex(rows=rows)
        assert index.contains(int(keys[-1]), ALL_EMAILS) and not index.contains(1, ALL_EMAILS)
        index.add(ALL_EMAILS, 1)  # a change after loading lands beside the mapped keys, not in them
        assert index.contains(1, ALL_EMAILS)
        with np.load(path) as data:
            assert int(data["cursor"]) == 9 and np.array_equal(data["topic_0"], keys)
        copied = load_snapshot(path, "db", 9)[1][ALL_EMAILS].lasting  # one process alone: read, as before
        assert not isinstance(copied, np.memmap) and not isinstance(copied.base, np.memmap) and np.array_equal(copied, keys)
