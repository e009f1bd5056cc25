"""Import-to-visible and the bulk check right after it (issue 13): with the service running on a
fresh list, `suppression import` of N addresses; from the moment the CLI exits, how long until
a check answers that the last one is suppressed; then the bulk check of 1,000,000 addresses
(half from the import) at once, and again after a restart of the same data.

    python bench/import_visible.py --sizes 1000000 10000000
"""

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import ENV, HTTP_PORT, OUT, PYTHON, cli, fresh_config, start_service, stop  # noqa: E402

BULK = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    args = parser.parse_args()
    for size in args.sizes:
        measure(size)


def measure(size: int) -> None:
    config = fresh_config("visible")
    key = cli(config, "apikey", "create", f"bench-{time.time_ns()}", "--scope", "check")
    listing = OUT / "visible.csv"
    with open(listing, "w", encoding="utf-8") as fh:
        fh.write("email\n")
        fh.writelines(f"v{n}@example{n % 5000}.com\n" for n in range(size))
    probe = OUT / "visible-probe.txt"
    probe.write_text("".join(f"v{n * 7 % size}@example{n * 7 % size % 5000}.com\n" if n % 2 else
                             f"nobody{n}@example.org\n" for n in range(BULK)))
    service, _ = start_service(config)
    try:
        started = time.monotonic()
        subprocess.run([PYTHON, "-m", "suppression", "--config", str(config), "import", str(listing)],
                       env=ENV, check=True, capture_output=True)
        exited = time.monotonic()
        last = f"v{size - 1}@example{(size - 1) % 5000}.com"
        first = '"suppressed": true' in single(key, last)
        while '"suppressed": true' not in single(key, last):
            pass  # checks back to back until the import shows
        visible = time.monotonic() - exited
        after_import = bulk(key)
    finally:
        stop(service)
    service, _ = start_service(config)
    try:
        after_restart = bulk(key)
    finally:
        stop(service)
    listing.unlink()
    print(f"{size:,} imported in {exited - started:.1f} s; the first check after the CLI exited said"
          f" {'suppressed' if first else 'NOT suppressed'}; checks said suppressed from {visible:.2f} s after the exit; bulk check of {BULK:,}: {after_import:,.0f}/s right after,"
          f" {after_restart:,.0f}/s after a restart", flush=True)


def single(key: str, email: str) -> str:
    request = urllib.request.Request(f"http://127.0.0.1:{HTTP_PORT}/v1/suppressions/{email}",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=600) as answer:
        return answer.read().decode()


def bulk(key: str) -> float:
    started = time.monotonic()
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: text/plain",
         "--data-binary", f"@{OUT / 'visible-probe.txt'}", f"http://127.0.0.1:{HTTP_PORT}/v1/check"],
        capture_output=True, check=True)
    elapsed = time.monotonic() - started
    found = result.stdout.count(b"\n")
    if found != BULK // 2:
        sys.exit(f"bulk check found {found:,} suppressed, expected {BULK // 2:,}")
    return BULK / elapsed


if __name__ == "__main__":
    main()
