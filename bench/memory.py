"""Resident memory of each process of a running service, at a given list size.

    python bench/memory.py --list 1000000
    python bench/memory.py --list 10000000 --store postgresql

Imports `--list` addresses through `suppression import` into a fresh data_dir (or a fresh
PostgreSQL database of a server it starts), starts `run.py`, sends a few unsubscribe requests
over SMTP so the reader children start and read mail, and prints the resident set (VmRSS) and
proportional set (Pss: shared pages divided among the processes sharing them) of the service
and of each child process, and their sum.
"""

import argparse
import shutil
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import ENV, PYTHON, address, cli, descendants, wait_http  # noqa: E402
from bench.smtpload import RECIPIENT, request_message  # noqa: E402

OUT = ROOT / "bench" / "out" / "memory"
HTTP_PORT, SMTP_PORT = 18580, 18525


def kib(pid: int, field: str, name: str) -> int:
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Every process the service started, and theirs (bench/run.py's descendants), in order."""
    return sorted(descendants(pid))


def command_of(pid: int) -> str:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    if "resource_tracker" in raw:
        return "multiprocessing's resource tracker"
    return "mail reader child" if "multiprocessing" in raw else raw[:60]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=20, help="SMTP requests sent before measuring")
    args = parser.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    server = None
    store = ""
    if args.store == "postgresql":
        from tests.postgres import PostgresServer

        server = PostgresServer(OUT / "pg").init()
        store = f'[store]\nurl = "{server.create_database("memory")}"\n'
    config = OUT / "config.toml"
    config.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{HTTP_PORT}"\ndata_dir = "{OUT / "data"}"\nlog_level = "WARNING"\n'
        f'[http]\nport = {HTTP_PORT}\n[smtp]\nport = {SMTP_PORT}\n'
        'unproven_requests_per_network_per_hour = 1000000\nunproven_requests_per_hour = 1000000\n'
        f'{store}', encoding="utf-8")
    config.chmod(0o600)
    try:
        csv_path = OUT / "list.csv"
        with open(csv_path, "w", encoding="utf-8") as fh:
            fh.write("email\n")
            fh.writelines(f"{address(n)}\n" for n in range(args.list))
        started = time.monotonic()
        cli(config, "import", str(csv_path))
        csv_path.unlink()
        print(f"imported {args.list:,} in {time.monotonic() - started:.0f} s", file=sys.stderr)
        service = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(config)], env=ENV)
        try:
            wait_http(HTTP_PORT, "/healthz", service)
            with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=60) as smtp:
                for n in range(args.requests):
                    sender = f"memory{n}@bench.example"
                    smtp.sendmail(sender, [RECIPIENT], request_message(sender))
            time.sleep(5)  # the requests read and settled; a pause before sampling, not a measurement
            rows = [(service.pid, "service (run.py)")] + [(pid, command_of(pid)) for pid in children(service.pid)]
            print(f"| process | VmRSS MB | Pss MB |  (list of {args.list:,} on {args.store};"
                  f" command: `python bench/memory.py {' '.join(sys.argv[1:])}`)")
            print("| --- | --- | --- |")
            total_rss = total_pss = 0
            for pid, what in rows:
                rss, pss = kib(pid, "VmRSS", "status"), kib(pid, "Pss", "smaps_rollup")
                total_rss, total_pss = total_rss + rss, total_pss + pss
                print(f"| {what} | {rss / 1024:.0f} | {pss / 1024:.0f} |")
            print(f"| all | {total_rss / 1024:.0f} | {total_pss / 1024:.0f} |")
        finally:
            service.terminate()
            service.wait(timeout=120)
    finally:
        if server is not None:
            server.remove()


if __name__ == "__main__":
    main()
