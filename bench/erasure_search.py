"""How fast an erasure searches stored mail for a person, and how long it holds the loop: the
search of suppression/subject_search.py over synthetic base64 messages (1.3 MB each, no match),
with a probe task timing the loop meanwhile.

    python -m bench.erasure_search [--messages N]

Prints MB/s of raw mail searched and the probe's worst delays."""

import argparse
import asyncio
import base64
import random
import string
import time

from suppression.subject_search import PAGE_BYTES, find_traces


class _Mail:
    """The two reads the search makes of a store, over messages held in memory."""

    def __init__(self, rows):
        self.rows = rows

    async def message_page(self, after, max_bytes):
        page, total = [], 0
        for row in self.rows:
            if row[0] > after:
                if page and total + len(row[1]) > max_bytes:
                    break
                page.append(row)
                total += len(row[1])
        return page

    async def sender_request_keys(self):
        return []

    async def reply_keys(self):
        return []


def _message(number: int) -> bytes:
    text = "".join(random.Random(number).choices(string.ascii_lowercase + "  äöü", k=1_000_000))
    body = base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")
    return (f"From: writer{number}@example.org\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{body}").encode()


async def _measure(messages: int) -> None:
    rows = [(n + 1, _message(n), ()) for n in range(messages)]
    size = sum(len(raw) for _, raw, _ in rows)
    delays: list[float] = []

    async def probe():
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            delays.append(time.perf_counter() - asked - 0.005)

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    await find_traces(_Mail(rows), ("nobody@example.com",))
    took = time.perf_counter() - started
    task.cancel()
    print(f"{messages} messages, {size / 1e6:.1f} MB, pages of {PAGE_BYTES >> 20} MiB: {took:.2f} s,"
          f" {size / 1e6 / took:.1f} MB/s; loop probe worst delays (s): {[round(d, 3) for d in sorted(delays)[-3:]]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=24)
    asyncio.run(_measure(parser.parse_args().messages))


if __name__ == "__main__":
    main()
