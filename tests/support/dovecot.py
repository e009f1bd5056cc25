"""A throwaway Dovecot IMAP server for the tests (Debian's dovecot-imapd), in a temporary folder:
its own config, a test user in a passwd file, maildirs owned by `nobody`, a self-signed
certificate for IMAPS. Started and stopped by the tests; `.ci/run` installs the package."""

import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

from tests.support.http import free_port
from tests.test_starttls import self_signed

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "plusinfo", "correct horse battery staple"


def available() -> bool:
    return Path(DOVECOT).exists() and os.geteuid() == 0


class Dovecot:
    def __init__(self, folder: Path, idle: bool = True, oauth2_url: str = "", move: bool = True):
        self.folder = folder
        self.move = move
        self.port, self.tls_port = free_port(), free_port()
        self.idle, self.oauth2_url = idle, oauth2_url
        self.process: subprocess.Popen | None = None
        self.cert_file, self.key_file = self_signed(folder)

    def start(self) -> "Dovecot":
        nobody = pwd.getpwnam("nobody")
        home = self.folder / "home"
        (home / USER).mkdir(parents=True, exist_ok=True)
        for path in (home, home / USER):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        (self.folder / "run").mkdir(exist_ok=True)
        (self.folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.folder / "dovecot.conf").write_text(self._config(nobody))
        # A session of its own: stop() ends the master and every child it started, by their group.
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.folder / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._wait_listening()
        return self

    def _config(self, nobody) -> str:
        # Advertising fewer capabilities than Dovecot has makes the servers the service must also
        # serve: one without IDLE (polled), one without MOVE (copied, flagged, expunged).
        capability = "" if self.idle and self.move else \
            "imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE SORT UIDPLUS" + \
            (" IDLE" if self.idle else "") + (" MOVE" if self.move else "") + "\n"
        oauth2 = ""
        mechanisms = "plain login"
        if self.oauth2_url:
            (self.folder / "oauth2.conf").write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth2_url}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n")
            oauth2 = f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {self.folder}/oauth2.conf\n}}\n"
            mechanisms += " xoauth2 oauthbearer"
        return f"""
base_dir = {self.folder}/run
instance_name = test-{self.port}
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{self.cert_file}
ssl_key = <{self.key_file}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
mail_location = maildir:~/Maildir
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
{capability}
service imap-login {{
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
{oauth2}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.folder}/passwd
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={self.folder}/home/%u
}}
protocol imap {{
  mail_plugins =
}}
"""

    def _wait_listening(self) -> None:
        (self.folder / "state").mkdir(exist_ok=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"dovecot exited: {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """End the server and every process of its group. SIGKILL by default: a SIGTERM'd master
        waits about a second for its children, a second every test spent in tear-down; the
        folder is thrown away after, so nothing a clean stop would write is wanted."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            self.process.wait(timeout=30)
        if self.process is not None:
            # A killed master leaves its children (they hold the ports): the rest of its group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None

    # -- a mail client, for the tests -------------------------------------------------------

    def client(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, raw: bytes, mailbox: str = "INBOX") -> None:
        with self.client() as client:
            status, _ = client.append(mailbox, None, None, raw)
            assert status == "OK"

    def flags(self, mailbox: str = "INBOX") -> list[str]:
        """Each message's flags, in order."""
        with self.client() as client:
            client.select(mailbox)
            status, data = client.fetch("1:*", "(FLAGS)")
            if status != "OK" or data == [None]:
                return []
            return [line.decode() for line in data if line]

    def count(self, mailbox: str = "INBOX") -> int:
        with self.client() as client:
            status, data = client.select(mailbox)
            return int(data[0])

    def create(self, mailbox: str) -> None:
        with self.client() as client:
            client.create(mailbox)


def tls_context_for(server: Dovecot) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cert_file)
