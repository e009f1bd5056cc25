"""A disk that fills up, a database file that is read-only: new work is refused with 503 or 451
and a clear log line, checks go on, and the service recovers by itself when the disk does."""

import signal
import subprocess
import time

import pytest

from tests.support.service import ServiceProcess
from tests.reliability.helpers import (
    FileSizeLimitDisk,
    TmpfsDisk,
    call,
    can_mount,
    deploy,
    integrity,
    one_click,
    smtp_send,
)

MOUNTS = can_mount()
DISKS = [FileSizeLimitDisk] + ([TmpfsDisk] if MOUNTS else [])


@pytest.fixture(params=DISKS, ids=lambda kind: kind.name)
def disk(request, tmp_path):
    disk = request.param(tmp_path / "data")
    yield disk
    disk.remove()


def wait_for(condition, attempts: int = 250) -> bool:
    """Poll (bounded) for asynchronous work; not a timing assertion."""
    for _ in range(attempts):
        if condition():
            return True
        time.sleep(0.02)
    return False


def suppressed(deployment, email: str) -> bool:
    status, body = call(deployment, "GET", f"/v1/suppressions/{email}")
    assert status == 200, body
    return body["suppressed"]


def refuses_new_work(deployment, tag: str) -> None:
    status, body = call(deployment, "POST", "/v1/suppressions", {"email": f"api-{tag}@example.com"})
    assert status == 503 and "cannot take writes" in body["error"], (status, body)
    assert one_click(deployment.link(f"click-{tag}@example.com")) == 503
    assert smtp_send(deployment.smtp_port, f"mail-{tag}@example.com", tag) == 451
    assert call(deployment, "GET", "/healthz") == (200, {"status": "degraded", "writes": "refused", "review": "ok"})
    # The list is still answered from memory and the database's readable pages.
    assert suppressed(deployment, "before@example.com")


def takes_new_work(deployment, tag: str) -> None:
    assert call(deployment, "POST", "/v1/suppressions", {"email": f"api-{tag}@example.com"})[0] == 200
    assert one_click(deployment.link(f"click-{tag}@example.com")) == 200
    assert smtp_send(deployment.smtp_port, f"mail-{tag}@example.com", tag) == 250
    assert wait_for(lambda: suppressed(deployment, f"mail-{tag}@example.com"))
    assert call(deployment, "GET", "/healthz") == (200, {"status": "ok", "writes": "ok", "review": "ok"})


def changes_of(deployment) -> list[str]:
    status, body = call(deployment, "GET", "/v1/changes?limit=1000")
    assert status == 200
    return [f"{c['action']} {c['email']}" for c in body["changes"]]


def test_a_full_disk_refuses_new_work_and_the_service_recovers_when_it_frees(disk, tmp_path):
    deployment = deploy(tmp_path, data_dir=disk.folder)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        assert call(deployment, "POST", "/v1/suppressions", {"email": "before@example.com"})[0] == 200
        disk.fill(service.process.pid)
        refuses_new_work(deployment, "full")
        refuses_new_work(deployment, "full")  # and goes on refusing, without falling over
        disk.free(service.process.pid)
        takes_new_work(deployment, "freed")
        code, output = service.stop(signal.SIGTERM)
    assert code == 0, output
    assert "refuses writes; new work is refused (503, SMTP 451)" in output
    assert "the database takes writes again" in output
    assert "Traceback" not in output
    assert integrity(deployment.database) == "ok"
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        # What was acknowledged is kept; what was refused left nothing behind.
        assert changes_of(deployment) == [
            "suppress before@example.com", "suppress api-freed@example.com",
            "suppress click-freed@example.com", "suppress mail-freed@example.com",
        ]
        status, inbox = call(deployment, "GET", "/v1/inbox")
        assert [m["sender"] for m in inbox["messages"]] == ["mail-freed@example.com"]


def _read_only_bind(database):
    subprocess.run(["mount", "--bind", str(database), str(database)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(database)], check=True)


if MOUNTS:

    def test_a_read_only_database_file_is_served_for_checks_and_written_once_it_is_writable(tmp_path):
        deployment = deploy(tmp_path)
        with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
            assert call(deployment, "POST", "/v1/suppressions", {"email": "before@example.com"})[0] == 200
            assert service.stop(signal.SIGTERM)[0] == 0
        # The file alone is read-only (a read-only bind mount over it holds even for root).
        _read_only_bind(deployment.database)
        try:
            with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
                refuses_new_work(deployment, "ro")
                subprocess.run(["mount", "-o", "remount,bind,rw", str(deployment.database)], check=True)
                takes_new_work(deployment, "rw")
                code, output = service.stop(signal.SIGTERM)
        finally:
            subprocess.run(["umount", "-l", str(deployment.database)], check=True)
        assert code == 0, output
        assert "the database file is read-only" in output
        assert "the database takes writes again" in output
        assert "Traceback" not in output
        assert integrity(deployment.database) == "ok"
        with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
            assert changes_of(deployment) == [
                "suppress before@example.com", "suppress api-rw@example.com",
                "suppress click-rw@example.com", "suppress mail-rw@example.com",
            ]
