"""The bulk lookup with and without erased addresses in the list (their keyed keys are a second lookup a line).

    python bench/erased_bulk.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import time  # noqa: E402
import numpy as np
from suppression.addresses import forms_of_block, keys_of_forms
from suppression.erasure import ErasureKeys
from suppression.index import SuppressionIndex
n = 1_000_000
emails = [f"user{i}@example.com".encode() for i in range(n)]
index = SuppressionIndex({"": np.sort(keys_of_forms(emails[::2]))})
erasure = ErasureKeys("x" * 64)
block = b"\n".join(emails) + b"\n"
def run(erased):
    lines, forms = forms_of_block(block)
    mask = index.contains_many(keys_of_forms(forms), None)
    if erased:
        mask |= index.contains_many(erasure.index_keys(forms), None)
    return int(mask.sum())
for erased in (False, True):
    best = min(((t := time.perf_counter()), run(erased), time.perf_counter() - t)[2] for _ in range(3))
    print(f"erasures present: {erased}: {n / best / 1e6:.2f}M addresses/s (the lookup alone, in process)")
