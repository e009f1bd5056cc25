"""The bulk check's own work, in one process, without HTTP: `suppressed_block` over 1,000,000
lines (half suppressed, as in bench/fastpath.py) in the 256 KB blocks the handler reads, against
the list bench/fastpath.py built (bench/out/fastpath-data), best of three passes.

    python bench/bulk_blocks.py [--tree CHECKOUT]

With --tree, that checkout's code is measured, so two versions compare by the same script.
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--tree", type=Path, default=ROOT)
parser.add_argument("--addresses", type=int, default=1_000_000, help="the size of the list bench/fastpath.py built")
ARGS = parser.parse_args()
sys.path.insert(0, str(ARGS.tree.resolve()))

from suppression.config import settings_from_mapping  # noqa: E402
from suppression.model import ALL_EMAILS  # noqa: E402
from suppression.service import SuppressionService  # noqa: E402

DATA = ROOT / "bench" / "out" / "fastpath-data"
BLOCK_BYTES = 256 * 1024


def address(n: int) -> str:
    return f"user{n}@example{n % 5000}.com"


async def main() -> None:
    service = SuppressionService.of_settings(settings_from_mapping({"service": {"data_dir": str(DATA)}}), ("k" * 48,))
    await service.start()
    try:
        lines = [address(n * 7 % ARGS.addresses) if n % 2 else f"Nobody{n}@Example.org" for n in range(1_000_000)]
        body = ("\n".join(lines) + "\n").encode()
        blocks, start = [], 0
        while start < len(body):
            cut = body.rfind(b"\n", start, start + BLOCK_BYTES) + 1 or len(body)
            blocks.append(body[start:cut])
            start = cut
        best = float("inf")
        for _ in range(3):
            started, found = time.perf_counter(), 0
            for block in blocks:
                found += (await service.suppressed_block(block, ALL_EMAILS)).count(b"\n")
            best = min(best, time.perf_counter() - started)
            assert found == len(lines) // 2, found
        print(f"{ARGS.tree.resolve()}: {len(lines):,} lines in {best:.3f} s: {best / len(lines) * 1e9:.0f} ns a line, "
              f"{len(lines) / best:,.0f} addresses/s")
    finally:
        await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
