"""The service as a process, for attacks through its public surfaces: SMTP, HTTP, files."""

import base64
import re
import smtplib
import time
from pathlib import Path

from tests.reliability.helpers import REQUEST_ADDRESS, Deployment, call

STORED = re.compile(rb"Stored as message (\d+)")


def send_raw(port: int, raw: bytes, mail_from: str = "attacker@example.net") -> tuple[int, int | None]:
    """One SMTP session: (reply code to MAIL if refused, else to DATA; stored message id or None)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as session:
        session.ehlo("client.example")
        code, _ = session.mail(mail_from)
        if code != 250:
            return code, None  # refused before the message (a per-sender limit)
        session.rcpt(REQUEST_ADDRESS)
        try:
            code, reply = session.data(raw)
        except smtplib.SMTPDataError as refused:
            return refused.smtp_code, None
    found = STORED.search(reply)
    return code, int(found.group(1)) if found else None


def request_with_body(subject: str, body: str) -> bytes:
    """A message whose text body travels base64, as the reviewed attack's did."""
    encoded = base64.encodebytes(body.encode()).decode().replace("\n", "\r\n")  # SMTP lines end in CRLF
    return (
        f"From: <attacker@example.net>\r\nTo: {REQUEST_ADDRESS}\r\nSubject: {subject}\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
    ).encode()


def settled(deployment: Deployment, message_id: int, attempts: int = 600) -> dict:
    """The stored message once it is no longer pending (a bounded poll, not a timing assertion)."""
    for _ in range(attempts):
        status, message = call(deployment, "GET", f"/v1/inbox/{message_id}")
        assert status == 200, message
        if message["status"] != "pending":
            return message
        time.sleep(0.05)
    raise AssertionError(f"message {message_id} was still pending")


def reader_pid(service_pid: int) -> int:
    """The mail reader: the service's child process started by multiprocessing's spawn."""
    # Listed under the thread that started each child: the reader starts from a worker thread.
    children = [c for task in Path(f"/proc/{service_pid}/task").iterdir()
                for c in (task / "children").read_text().split()]
    spawned = [int(child) for child in children
               if b"spawn_main" in (command := Path(f"/proc/{child}/cmdline").read_bytes())
               and b"resource_tracker" not in command]
    # The other child it could have, the search of stored mail's, comes with an access or an erasure.
    assert len(spawned) == 1, f"not one mail reader among the service's children {children}"
    return spawned[0]
