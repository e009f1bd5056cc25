"""A deployed service in a subprocess, its clients, and ways to make its disk fail under it."""

import os
import resource
import smtplib
import sqlite3
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from suppression.links import mint_link
from suppression.model import Scope
from tests.support.cli import cli
from tests.support.http import api_call, free_port
from tests.support.settings import write_config

SIGNING_KEY = "reliability-tests-signing-key-0123456789"
REQUEST_ADDRESS = "PLUSinfo@plusnxt.com"


@dataclass
class Deployment:
    config: Path
    http_port: int
    smtp_port: int
    data_dir: Path
    cwd: Path
    admin_key: str

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def database(self) -> Path:
        return self.data_dir / "suppression.sqlite3"

    def link(self, email: str, topic: str | None = None) -> str:
        return mint_link(
            email, Scope.of_topic(topic), base_url=self.base_url, secret_keys=SIGNING_KEY, request_address=REQUEST_ADDRESS
        ).url


def deploy(tmp_path: Path, data_dir: Path | None = None, extra_smtp: str = "") -> Deployment:
    """A config on free ports with a known signing key, and an admin key made with the CLI (in this
    process: tests/test_cli.py runs `apikey create` as a program)."""
    http, smtp = free_port(), free_port()
    data_dir = data_dir or tmp_path / "data"
    config = write_config(
        tmp_path / "config.toml", data_dir, http, smtp, extra=extra_smtp + f'\n[signing]\nsecret_keys = ["{SIGNING_KEY}"]\n'
    )
    config.chmod(0o600)  # it holds the signing key
    created = cli("apikey", "create", "ops", "--scope", "admin", config=config)
    assert created.returncode == 0, created.stderr
    return Deployment(config, http, smtp, data_dir, tmp_path, created.stdout.strip().splitlines()[-1])


def call(deployment: Deployment, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A JSON API request with the deployment's admin key."""
    return api_call(deployment.base_url, method, path, deployment.admin_key, body)


def one_click(url: str) -> int:
    """The RFC 8058 POST a mailbox provider sends; returns the status."""
    request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def request_mail(sender: str, tag: str) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {REQUEST_ADDRESS}\r\nSubject: unsubscribe\r\n"
        f"Message-ID: <{tag}@client.example>\r\n\r\nPlease unsubscribe me.\r\n"
    ).encode()


def smtp_send(port: int, sender: str, tag: str) -> int:
    """One message over SMTP; the reply code to its DATA (or the refusal before it)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as session:
            session.ehlo("client.example")
            session.mail(sender)
            session.rcpt(REQUEST_ADDRESS)
            return session.data(request_mail(sender, tag))[0]
    except smtplib.SMTPResponseException as refused:
        return refused.smtp_code


def integrity(database: Path) -> str:
    db = sqlite3.connect(database)
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def can_mount() -> bool:
    """Whether this process may mount filesystems (root with CAP_SYS_ADMIN, as in CI)."""
    if os.geteuid() != 0:
        return False
    # A folder of this process's own: the workers of pytest-xdist each probe at collection.
    probe = Path(tempfile.mkdtemp(prefix="suppression-mount-probe-"))
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
        if mounted.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


class TmpfsDisk:
    """The data folder on a small tmpfs of its own: filled with a file until ENOSPC, freed by deleting it."""

    name = "tmpfs"

    def __init__(self, folder: Path, size_mb: int = 48):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(folder)], check=True)
        self.filler = folder / "filler"

    def fill(self, pid: int) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError as full:
            assert full.errno == 28, full  # ENOSPC: the disk is full
        finally:
            os.close(fd)

    def free(self, pid: int) -> None:
        self.filler.unlink()

    def remove(self) -> None:
        subprocess.run(["umount", "-l", str(self.folder)], check=True)


class FileSizeLimitDisk:
    """Where mounting is not allowed: the service's RLIMIT_FSIZE set under it, so every write to
    its files fails in the kernel (EFBIG) as on a full disk, and lifted again."""

    name = "rlimit"

    def __init__(self, folder: Path):
        self.folder = folder

    def fill(self, pid: int) -> None:
        for process in _with_descendants(pid):  # the SQLite writer is a process of its own
            resource.prlimit(process, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))

    def free(self, pid: int) -> None:
        for process in _with_descendants(pid):
            resource.prlimit(process, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    def remove(self) -> None:
        pass


def _with_descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended meanwhile
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, waiting = [], [pid]
    while waiting:
        process = waiting.pop()
        found.append(process)
        waiting.extend(children.get(process, []))
    return found


def quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="@")
