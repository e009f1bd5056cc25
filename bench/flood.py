"""One network's flood of mail slow to read, then one request from another network: how long
from that request's 250 to its suppression showing in the API.

    python bench/flood.py [--messages 100] [--rounds 2]

The flood is a probing helper's (2026-12-07): messages of 28,000 lines of one address (about
200 KB, 0.2 s each to read, under the reader's first look), each from a new envelope sender,
all from 127.0.0.1 (network 127.0.0.0/24); the request comes from 127.0.77.1 (127.0.77.0/24).
`trusted_relays` is empty, so each client's own address is its network.
"""

import argparse
import json
import smtplib
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import HTTP_PORT, SMTP_PORT, UNLIMITED_UNPROVEN, cli, fresh_config, start_service, stop  # noqa: E402


def flood(count: int) -> None:
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, local_hostname="flood.example", timeout=60) as session:
        for n in range(count):
            sender = f"s{n}@evil.example"
            raw = f"From: {sender}\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: hi\r\n\r\n".encode() + b"a@b.c\r\n" * 28000
            session.sendmail(sender, ["PLUSinfo@plusnxt.com"], raw)


def request(who: str) -> float:
    """Sends it from 127.0.77.1; the time of its 250."""
    raw = f"From: {who}\r\nTo: PLUSinfo@plusnxt.com\r\nSubject: unsubscribe\r\n\r\nPlease unsubscribe me.\r\n"
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, local_hostname="honest.example", timeout=60,
                      source_address=("127.0.77.1", 0)) as session:
        session.sendmail(who, ["PLUSinfo@plusnxt.com"], raw.encode())
    return time.monotonic()


def suppressed(key: str, who: str) -> bool:
    asked = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/v1/suppressions/{who}",
                                   headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(asked, timeout=30) as answer:
        return json.load(answer)["suppressed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        config = fresh_config("flood", f"trusted_relays = []\nsender_messages_per_hour = 1000000\n{UNLIMITED_UNPROVEN}")
        key = cli(config, "apikey", "create", "bench", "--scope", "check")
        service, _ = start_service(config)
        try:
            flood(args.messages)
            who = f"honest{round_}@example.org"
            answered = request(who)
            while not suppressed(key, who):
                time.sleep(0.05)
            print(f"round {round_}: {args.messages} flood messages, then a request from another network:"
                  f" suppressed {time.monotonic() - answered:.2f} s after its 250")
        finally:
            stop(service)


if __name__ == "__main__":
    main()
