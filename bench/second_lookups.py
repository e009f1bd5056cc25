"""The bulk lookup alone, in one process, with the second lookups that domain entries and
erasures add (each line also looked up by its domain entry, and by its keyed key).

    python bench/second_lookups.py

1,000,000 lines against a list of 500,000 addresses, then with 10,000 `*@domain` entries, then
with an erased address too. The end-to-end bulk check adds reading and writing the lines.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from suppression.addresses import forms_of_block, keys_of_forms  # noqa: E402
from suppression.erasure import ErasureKeys  # noqa: E402
from suppression.index import SuppressionIndex  # noqa: E402
from suppression.model import ALL_EMAILS  # noqa: E402

LINES = 1_000_000


def main() -> None:
    emails = [f"user{i}@domain{i % 50_000}.example".encode() for i in range(LINES)]
    domains = {f"domain{i}.example".encode() for i in range(0, 50_000, 5)}  # 10,000 entries, as the service keeps them
    index = SuppressionIndex({ALL_EMAILS: np.sort(np.unique(keys_of_forms(emails[::2])))})
    erasure = ErasureKeys("x" * 64)
    block = b"\n".join(emails) + b"\n"

    def run(with_domains: bool, with_erasures: bool) -> int:
        _, forms = forms_of_block(block)
        mask = index.contains_many(keys_of_forms(forms), ALL_EMAILS)
        if with_domains:  # as LiveIndex.matching does it (suppression/index/live.py)
            mask |= np.fromiter((f[f.rfind(b"@") + 1:] in domains for f in forms), dtype=bool, count=len(forms))
        if with_erasures:
            mask |= index.contains_many(erasure.index_keys(forms), ALL_EMAILS)
        return int(mask.sum())

    for label, domains_on, erasures_on in (
        ("addresses only", False, False), ("with 10,000 domain entries", True, False),
        ("with domain entries and an erasure", True, True),
    ):
        best = min(_timed(run, domains_on, erasures_on) for _ in range(3))
        print(f"{label:40s} {LINES / best / 1e6:.2f}M lines/s")


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
