"""The bulk lookup alone, for each purpose, and with pauses in the index.

    python bench/purposes.py

1,000,000 lines against a list of 500,000 addresses (a fifth of them hard: bounces,
complaints, blocks), promotional and transactional, then with 50,000 more addresses that only
pauses hold. The transactional lookup reads a key set of its own: it should cost what the
promotional one does.
"""

import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from suppression.addresses import keys_of_forms  # noqa: E402
from suppression.index import ScopeRows, SuppressionIndex  # noqa: E402
from suppression.model import ALL_EMAILS  # noqa: E402

LINES = 1_000_000


def main() -> None:
    emails = [f"user{i}@domain{i % 50_000}.example".encode() for i in range(LINES)]
    listed = np.unique(keys_of_forms(emails[::2]))
    hard = np.sort(listed[::5])
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    later = int((datetime.now(timezone.utc) + timedelta(days=30)).timestamp() * 1000)
    paused = keys_of_forms(emails[1::20])
    plain = SuppressionIndex(rows={ALL_EMAILS: ScopeRows(lasting=listed, hard=hard)})
    with_pauses = SuppressionIndex(rows={ALL_EMAILS: ScopeRows(
        lasting=listed, hard=hard, paused=paused, paused_until=np.full(len(paused), later, dtype=np.int64))})
    keys = keys_of_forms(emails)

    for label, index, transactional in (
        ("promotional", plain, False), ("transactional", plain, True),
        ("promotional, 50,000 paused", with_pauses, False), ("transactional, 50,000 paused", with_pauses, True),
    ):
        best = min(_timed(index.contains_many, keys, ALL_EMAILS, now, transactional) for _ in range(5))
        print(f"{label:32s} {LINES / best / 1e6:.2f}M keys/s")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
