"""How fast the reader reads: every corpus message rendered, then classify_message (with the
shipped judge) timed per message, in one process as the reader child runs it.

    python -m bench.reader [--corpus DIR]

Prints messages per second and the p50/p99/max per message; the per-message budget is
[smtp] message_read_seconds (10 s)."""

import argparse
import time
from pathlib import Path

from suppression.addresses import normalise_address
from suppression.config import DEFAULT_TOPICS
from suppression.errors import BadToken
from suppression.inbound.classify import classify_message
from suppression.inbound.corpus import REQUEST_ADDRESS, read_batches, render
from suppression.inbound.evaluate import DEFAULT_CORPUS, read


def _no_token(candidate: str):
    raise BadToken("no tokens in the corpus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    records = read_batches(args.corpus)
    raws = [render(record) for record in records]
    read(records[0])  # the judge loaded once, as in the reader child
    ours = {normalise_address(REQUEST_ADDRESS)}
    times = []
    started = time.perf_counter()
    for record, raw in zip(records, raws, strict=True):
        begun = time.perf_counter()
        classify_message(raw, record.sender_address, ours, _no_token, topics=DEFAULT_TOPICS)
        times.append(time.perf_counter() - begun)
    total = time.perf_counter() - started
    times.sort()
    size = sum(map(len, raws)) / len(raws)
    print(f"{len(records)} messages (mean {size:,.0f} bytes) in {total:.2f} s: {len(records) / total:,.0f} messages/s;"
          f" per message p50 {times[len(times) // 2] * 1000:.2f} ms, p99 {times[int(len(times) * 0.99)] * 1000:.2f} ms,"
          f" max {times[-1] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
