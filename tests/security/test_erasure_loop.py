"""An erasure searches all stored mail, decoding every message: that work grows with the mail
kept (up to [smtp] max_stored_mail_bytes), so it is done in a child process, a page at a time,
and single checks answer meanwhile as quickly as ever (issue 21: no work on the loop that grows
with someone else's input)."""

import base64
import random
import string

from tests.reliability.helpers import call, deploy
from tests.security.helpers import send_raw, settled
from tests.security.test_loop_budget import assert_no_stall, probed
from tests.support.cli import cli
from tests.support.service import ServiceProcess

MESSAGES = 8  # about 11 MB, three pages of the search (PAGE_BYTES); read on the loop they held it 0.5 s
BODY_CHARACTERS = 1_000_000


# Lower-case letters, spaces and umlauts, drawn a byte at a time and spelled out after (1, 2, 3:
# ä, ö, ü): a million characters drawn one by one took 0.12 s a message.
_LETTERS = bytes(ord((string.ascii_lowercase + "  123")[value % 31]) for value in range(256))


def big_message(number: int, tail: str) -> bytes:
    drawn = random.Random(number).randbytes(BODY_CHARACTERS).translate(_LETTERS).decode("ascii")
    words = drawn.replace("1", "ä").replace("2", "ö").replace("3", "ü")
    body = base64.encodebytes((words + tail).encode("utf-8")).decode().replace("\n", "\r\n")
    return (f"From: writer{number}@example.org\r\nSubject: long letter {number}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}").encode()


def test_an_erasure_over_many_megabytes_of_encoded_mail_does_not_stall_checks(tmp_path, run_alone):
    deployment = deploy(tmp_path)
    created = cli("apikey", "create", "mailer", "--scope", "check", config=deployment.config)
    check_key = created.stdout.strip().splitlines()[-1]
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as running:
        ids = []
        for number in range(MESSAGES):
            tail = " Write to ERASE.ME@EXAMPLE.COM." if number == MESSAGES - 1 else ""
            code, message_id = send_raw(deployment.smtp_port, big_message(number, tail), f"writer{number}@example.org")
            assert code == 250, code
            ids.append(message_id)
        for message_id in ids:
            settled(deployment, message_id, attempts=2400)
        # It measures latencies of 100 ms: no other test runs meanwhile (tests/support/alone.py);
        # the mail above is sent and read beside other tests.
        with run_alone():
            (status, erased), timings = probed(running, check_key, lambda: call(
                deployment, "POST", "/v1/subjects/erase.me@example.com/erase"))
        assert (status, erased["erased"]) == (200, True)
        assert_no_stall(timings)
        assert call(deployment, "GET", f"/v1/inbox/{ids[-1]}")[1]["raw"] is None  # the address was only in base64
        assert call(deployment, "GET", f"/v1/inbox/{ids[0]}")[1]["raw"] is not None
