"""A report-shaped message cannot stall the service. Measured before: a null-sender message
whose Content-Type is `multipart/report; report-type=delivery-status; x="` and then 70 folded
lines of 900 ";" was classified on the event loop (the standard library's quadratic parameter
parser), and three of them held single checks for up to 7.8 s. Now the SMTP edge decides from
the envelope and size alone, and the reader reads parameters from a bounded header."""

import threading
import time

from suppression.inbound.classify import classify_message
from tests.reliability.helpers import deploy
from tests.security.helpers import send_raw, settled
from tests.support.latency import Prober, describe, worst_waiting
from tests.support.service import ServiceProcess

WORST_CHECK_SECONDS = 0.1


def hostile_report(n: int) -> bytes:
    folded = "".join("\r\n " + ";" * 900 for _ in range(70))
    return (f"From: <mailer-daemon@mx{n}.example>\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: failure {n}\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; x=\"{folded}"
            f"\r\n\r\nbody\r\n").encode()


def test_single_checks_stay_fast_while_three_hostile_reports_arrive_in_parallel(tmp_path, run_alone):
    deployment = deploy(tmp_path)
    # It measures latencies of 100 ms: no other test runs meanwhile (tests/support/alone.py),
    # from the first check to the last; the service starts beside other tests.
    with ServiceProcess(deployment.config, deployment.http_port, tmp_path) as service, run_alone():
        stored: list[int | None] = [None] * 3

        def deliver(n: int) -> None:
            code, stored[n] = send_raw(deployment.smtp_port, hostile_report(n), mail_from="")
            assert code == 250

        # Timed from a process of their own (tests/support/latency.py), at least 50, until all
        # three are sent and read: the reader works beside the loop, never on it.
        with Prober(service.base_url, deployment.admin_key, service.process.pid, minimum=50) as prober:
            senders = [threading.Thread(target=deliver, args=(n,)) for n in range(3)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            messages = [settled(deployment, message_id) for message_id in stored]
            timings = prober.finish()
    assert worst_waiting(timings).waiting < WORST_CHECK_SECONDS, describe(timings)
    assert all(m["status"] == "automatic" for m in messages), [m["reasons"] for m in messages]
    assert not any("longer than" in r for m in messages for r in m["reasons"])  # read, not given up on


def test_the_reader_reads_a_hostile_content_type_from_a_bounded_header():
    # Before: 2.7 s in the parser's own get_boundary; the budget per message is 10 s, and a
    # few such messages delayed every real request behind them. 0.5 s is far above the
    # bounded parse (~10 ms) and far below the unbounded one.
    started = time.process_time()
    decision = classify_message(hostile_report(0), "", {"plusinfo@plusnxt.com"}, lambda token: None)
    assert time.process_time() - started < 0.5
    assert decision.kind == "automatic" and decision.report == "delivery-status"
