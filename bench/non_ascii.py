"""Bulk check of non-ASCII addresses: 1,000,000 lines of `jöhn{n}@exämple.com` through the
service's own bulk path (suppressed_block, in the 256 KB blocks the handler reads), on an
SQLite store in a temporary folder.

    python -m bench.non_ascii
"""

import asyncio
import tempfile
import time
from pathlib import Path

from suppression.config import settings_from_mapping
from suppression.model import ALL_EMAILS
from suppression.service import SuppressionService

LINES = 1_000_000
BLOCK_BYTES = 256 * 1024


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-non-ascii-"))
    service = SuppressionService.of_settings(settings_from_mapping({"service": {"data_dir": str(folder)}}), ("k" * 48,))
    await service.start()
    lines = [f"jöhn{n}@exämple.com".encode() for n in range(LINES)]
    step = BLOCK_BYTES // len(lines[0])
    started = time.perf_counter()
    for start in range(0, LINES, step):
        await service.suppressed_block(b"\n".join(lines[start:start + step]) + b"\n", ALL_EMAILS)
    elapsed = time.perf_counter() - started
    print(f"{LINES:,} non-ASCII lines in {elapsed:.2f} s: {LINES / elapsed:,.0f} addresses/s")
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
