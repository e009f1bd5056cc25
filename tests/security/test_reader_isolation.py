"""No message can take the process hostage: reading happens in a child with a time budget.

The review's message: subject "unsubscribe", a base64 body of "a@" 1,600 times (4.5 KB),
froze the whole service for 17 s, and again at every restart; 200,000 characters froze it
for good. Driven through real SMTP and HTTP against the service as a process.
"""

import os
import signal
import time
import urllib.request

from tests.reliability.helpers import call, deploy
from tests.security.helpers import REQUEST_ADDRESS, reader_pid, request_with_body, send_raw, settled
from tests.support.service import ServiceProcess

ATTACK = request_with_body("unsubscribe", "a@" * 1600)
ATTACK_200K = request_with_body("unsubscribe", "a@" * 100_000)
PLAIN = request_with_body("hello", "Just a question about my order.")


def wait_for_metric(deployment, line: str, attempts: int = 500) -> bool:
    """Poll /metrics (bounded) until it has `line`: reading is asynchronous; no timing assertion."""
    for _ in range(attempts):
        with urllib.request.urlopen(deployment.base_url + "/metrics", timeout=10) as answer:
            if line in answer.read().decode():
                return True
        time.sleep(0.02)
    return False


def content_reasons(message: dict) -> list[str]:
    """The reasons, having checked that the reader read it rather than gave up on it."""
    assert not any("longer than" in r or "reader stopped" in r for r in message["reasons"]), message["reasons"]
    return message["reasons"]


# The tests that stop the reader read in one lane, so that the stopped child is the one reading.
ONE_LANE = "message_first_look_seconds = 10"


def test_a_check_is_answered_while_the_attack_message_is_being_read(tmp_path):
    deployment = deploy(tmp_path, extra_smtp=ONE_LANE)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        _, first = send_raw(deployment.smtp_port, PLAIN)
        settled(deployment, first)  # the reader is started by the first message
        reader = reader_pid(service.process.pid)
        os.kill(reader, signal.SIGSTOP)  # the reader is now in the middle of the next message
        try:
            code, attack = send_raw(deployment.smtp_port, ATTACK)
            assert code == 250
            status, answer = call(deployment, "GET", "/v1/suppressions/someone@example.com")
            assert (status, answer["suppressed"]) == (200, False)
            status, message = call(deployment, "GET", f"/v1/inbox/{attack}")
            assert message["status"] == "pending"  # answered while the message was being read
        finally:
            os.kill(reader, signal.SIGCONT)
        message = settled(deployment, attack)
        # Read in full, not given up on (the old code came to its decision 17 s later): what
        # the judge makes of "unsubscribe" above "a@a@..." is not this test's subject, only
        # that it was read, and that it names no one but the sender.
        assert message["status"] in ("request", "review") and set(message["addresses"]) <= {"attacker@example.net"}
        assert "judged" in content_reasons(message)[0]


def test_a_200000_character_variant_is_read_and_checks_go_on(tmp_path):
    deployment = deploy(tmp_path)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        code, attack = send_raw(deployment.smtp_port, ATTACK_200K)
        assert code == 250
        answered = 0
        for _ in range(1500):  # bounded (about a minute): the old code would not finish it for hours
            status, _ = call(deployment, "GET", "/v1/suppressions/someone@example.com")
            answered += status == 200
            status, message = call(deployment, "GET", f"/v1/inbox/{attack}")
            if message["status"] != "pending":
                break
            time.sleep(0.03)
        assert message["status"] in ("request", "review") and answered >= 1
        # Read to its end (its addresses looked for over all of it), then too long to judge.
        assert "too long to decide alone (200,012 characters" in content_reasons(message)[0]


def test_a_message_that_overruns_its_budget_goes_to_review_and_is_never_read_again(tmp_path):
    deployment = deploy(tmp_path, extra_smtp=f"message_read_seconds = 1\n{ONE_LANE}")
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        _, first = send_raw(deployment.smtp_port, PLAIN)
        settled(deployment, first)
        stuck = reader_pid(service.process.pid)
        os.kill(stuck, signal.SIGSTOP)  # a reader that never finishes, as on a pathological input
        _, slow = send_raw(deployment.smtp_port, request_with_body("unsubscribe", "please unsubscribe me"))
        message = settled(deployment, slow)
        assert message["status"] == "review" and message["addresses"] == []
        assert any("took longer than 1 s" in r for r in message["reasons"])
        # A fresh reader takes the next message at once.
        _, after = send_raw(deployment.smtp_port, request_with_body("unsubscribe", "please unsubscribe me"),
                            mail_from="reader.ok@example.com")
        assert settled(deployment, after)["status"] == "request"
        assert reader_pid(service.process.pid) != stuck
        assert service.stop()[0] == 0
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        # After a restart the overrun message is not read again: it waits for a person.
        status, again = call(deployment, "GET", f"/v1/inbox/{slow}")
        assert (again["status"], again["processed_at"]) == ("review", message["processed_at"])


def slow_to_read(parts: int) -> bytes:
    """A request behind `parts` empty MIME parts: about 14 µs of reading each."""
    return (f"From: <slow@example.net>\r\nTo: {REQUEST_ADDRESS}\r\nSubject: unsubscribe\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n").encode() + b"--b\r\n\r\n" * parts + (
        b"--b\r\nContent-Type: text/plain\r\n\r\nplease unsubscribe me\r\n--b--\r\n")


def test_a_slow_message_is_read_beside_the_others(tmp_path):
    """Read in turn, a message that takes seconds held every request behind it (the promise is
    5 s from the 250): past its first look (0.5 s) it is read again by a second reader."""
    # Its whole budget is a minute here: the 2 s of its reading took more than the 10 s shipped
    # on a machine at half speed with the suite's three workers beside it (2026-12-07).
    deployment = deploy(tmp_path, extra_smtp="message_read_seconds = 60")
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path):
        code, slow = send_raw(deployment.smtp_port, slow_to_read(150_000), mail_from="slow@example.net")
        assert code == 250
        _, quick = send_raw(deployment.smtp_port, request_with_body("unsubscribe", "please unsubscribe me"),
                            mail_from="quick@example.net")
        assert settled(deployment, quick)["status"] == "request"
        _, pending = call(deployment, "GET", f"/v1/inbox/{slow}")
        assert pending["status"] == "pending"  # 2 s of reading here; the request behind it did not wait
        assert wait_for_metric(deployment, "suppression_intake_unread 1.0")  # set aside, still counted
        message = settled(deployment, slow, attempts=1400)  # up to 70 s: the budget and more
        # Read to its end in the second reader, with the whole budget.
        assert message["status"] == "request" and message["addresses"] == ["slow@example.net"]
        assert not any("longer than" in r for r in message["reasons"])


def test_a_reader_that_dies_mid_message_sends_it_to_review(tmp_path):
    deployment = deploy(tmp_path, extra_smtp=ONE_LANE)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        _, first = send_raw(deployment.smtp_port, PLAIN)
        settled(deployment, first)
        reader = reader_pid(service.process.pid)
        os.kill(reader, signal.SIGSTOP)
        _, victim = send_raw(deployment.smtp_port, ATTACK)
        # Reading trails storing by a moment: wait until it is handed to the stopped reader.
        assert wait_for_metric(deployment, "suppression_intake_reading 1.0")
        status, message = call(deployment, "GET", f"/v1/inbox/{victim}")
        assert message["status"] == "pending"  # handed to the stopped reader
        os.kill(reader, signal.SIGKILL)
        message = settled(deployment, victim)
        assert message["status"] == "review"
        assert any("reader stopped while reading it" in r for r in message["reasons"])
        status, answer = call(deployment, "GET", "/v1/suppressions/someone@example.com")
        assert status == 200


def test_a_flood_of_slow_messages_costs_the_requests_behind_it_one_first_look(tmp_path):
    """Each slow message cost the intake a first look and a new child: sixty of them, from one
    sender, held a request behind them 43 s. Once a first look overruns, large messages are set
    aside unread for a minute, and read one at a time beside the others."""
    deployment = deploy(tmp_path)
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service:
        slow = []
        for n in range(2):  # each about 0.8 s to read: past the first look (0.5 s)
            code, message_id = send_raw(deployment.smtp_port, slow_to_read(60_000), mail_from=f"slow{n}@example.net")
            assert code == 250
            slow.append(message_id)
        _, quick = send_raw(deployment.smtp_port, request_with_body("unsubscribe", "please unsubscribe me"),
                            mail_from="quick@example.net")
        assert settled(deployment, quick)["status"] == "request"
        for message_id in slow:  # each read to its end by the second reader
            assert settled(deployment, message_id)["status"] == "request"
        log = service.output
    # One first look overran; the other was not given one.
    assert log.count("was not read within 0.5 s") == 1, log
    assert "set aside unread: a first look overran" in log
