
"""Read-your-writes across processes (CONTRACT §8, issue 13): a check that starts after a write
was acknowledged, by this process or another (the CLI), sees it; a big import is caught up by
reading the rows, leaving the index in the shape of a fresh start."""

import pytest
import struct

import suppression.index.live
from suppression.changesignal import SIGNAL_NAME
from suppression.model import ALL_EMAILS
from suppression.service import SuppressionService
from suppression.store import SuppressionStore

# Runs on SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores
from tests.support.cli import cli, run_cli
from tests.support.http import api_call, free_port
from tests.support.service import ServiceProcess
from tests.support.settings import make_settings, write_config


async def open_pair(tmp_path):
    """A server's service (with its index) and a CLI's (without), on one data_dir, as two
    processes would have them: each its own store, connections and shared word."""
    settings = make_settings(tmp_path / "data")
    server = SuppressionService(settings, SuppressionStore(settings.database_path))
    await server.start()
    cli = SuppressionService(settings, SuppressionStore(settings.database_path))
    await cli.start(with_index=False)
    return server, cli


async def test_a_write_by_another_process_is_seen_by_the_next_check_with_no_wait(tmp_path):
    server, cli = await open_pair(tmp_path)
    try:
        for n in range(20):
            await cli.suppress(f"other{n}@example.com", ALL_EMAILS, "manual", "cli", "cli")
            # No await between the acknowledgement and the check: the follower has not run.
            assert (await server.check(f"other{n}@example.com")).suppressed
            await cli.unsuppress(f"other{n}@example.com", ALL_EMAILS, "cli", "cli")
            assert not (await server.check(f"other{n}@example.com")).suppressed
        await cli.suppress("bulk@example.com", ALL_EMAILS, "manual", "cli", "cli")
        await server.live.see_writes()  # what the bulk endpoints do first
        assert await server.suppressed_texts(["bulk@example.com", "no@example.com"], ALL_EMAILS) == ["bulk@example.com"]
    finally:
        await cli.stop()
        await server.stop()


async def test_a_big_import_elsewhere_is_read_from_the_rows_into_a_fresh_shape(tmp_path, monkeypatch):
    # Past 100,000 changes behind (or a tenth of the list); here past 1,000, so that the test
    # imports 1,500 addresses and not 150,000.
    monkeypatch.setattr(suppression.index.live, "_REBUILD_GAP", 1_000)
    server, cli = await open_pair(tmp_path)
    try:
        await server.suppress("before@example.com", ALL_EMAILS, "manual", "api", "api")
        lines = [f"imported{n}@example{n % 97}.com" for n in range(1_500)]
        report = await cli.import_lines(["email", *lines], "cli")
        assert report.added == 1_500
        assert (await server.check(lines[-1])).suppressed  # the first check after the import
        everything = server.live.index._sets[ALL_EMAILS]
        assert (len(everything._added), len(everything._removed)) == (0, 0)  # as after a restart
        assert len(server.live.index) == 1_501
        assert await server.suppressed_texts(lines[:3] + ["before@example.com", "nobody@example.com"], ALL_EMAILS) == [
            *lines[:3], "before@example.com"]
    finally:
        await cli.stop()
        await server.stop()


async def test_a_restored_database_behind_the_shared_word_still_sees_new_writes(tmp_path):
    settings = make_settings(tmp_path / "data")
    settings.service.data_dir.mkdir(mode=0o700, exist_ok=True)  # made already on SQLite, with its database
    (settings.service.data_dir / SIGNAL_NAME).write_bytes(struct.pack("<Q", 10**9))  # from a newer copy
    server, cli = await open_pair(tmp_path)
    try:
        assert not (await server.check("after-restore@example.com")).suppressed
        await cli.suppress("after-restore@example.com", ALL_EMAILS, "manual", "cli", "cli")
        assert (await server.check("after-restore@example.com")).suppressed
    finally:
        await cli.stop()
        await server.stop()


def test_the_cli_then_a_running_server_from_outside(tmp_path):
    http = free_port()
    config = write_config(tmp_path / "c.toml", tmp_path / "data", http, free_port())
    key = cli("apikey", "create", "k", "--scope", "admin", config=config).stdout.strip().splitlines()[-1]
    with ServiceProcess(config, http, tmp_path) as service:
        for n in range(5):
            assert run_cli("add", f"outside{n}@example.com", config=config).returncode == 0
            status, body = api_call(service.base_url, "GET", f"/v1/suppressions/outside{n}@example.com", key)
            assert (status, body["suppressed"]) == (200, True)


async def test_a_check_waits_for_an_acknowledged_write_a_bounded_time_then_answers_with_what_it_has(
        tmp_path, monkeypatch):
    # The bound made zero: the first check after a big import by another process cannot wait for
    # the index to read it, so it answers from the index as it is and counts that; the index
    # goes on catching up by itself, and a later check sees the import.
    import asyncio

    import suppression.index.live

    monkeypatch.setattr(suppression.index.live, "READ_YOUR_WRITES_SECONDS", 0.0)
    monkeypatch.setattr(suppression.index.live, "FOLLOW_SECONDS", 3600.0)  # only checks make it catch up here
    server, cli = await open_pair(tmp_path)
    try:
        lines = [f"late{n}@example.org" for n in range(120_000)]
        await cli.import_lines(["email", *lines], "cli")
        assert not (await server.check(lines[-1])).suppressed
        assert server.live.answered_early["behind_writes"] == 1
        for _ in range(600):  # bounded: the catch-up runs on its own, a check never drives it
            if (await server.check(lines[-1])).suppressed:
                break
            await asyncio.sleep(0.05)
        assert (await server.check(lines[-1])).suppressed
        assert await server.suppressed_texts(lines[:2], ALL_EMAILS) == lines[:2]
    finally:
        await cli.stop()
        await server.stop()
