"""`[http] workers`: single checks with one process and with more, and what each extra costs.

    python bench/workers.py                       # a list of 10,000,000, workers 1 and 2, 3 rounds
    python bench/workers.py --list 1000000 --workers 1 2 --rounds 2 --seconds 5

Builds the list once through `suppression import` (kept in bench/out/workers-N-data and
reused), then in each round, for each worker count in turn, starts `run.py` on it (a restart:
the index from its snapshot), waits until every worker serves, and runs wrk (one thread, 64
connections, as bench/run.py) against `GET /v1/suppressions/{email}` for an address that is not
suppressed; beside it, in the same round, the bare aiohttp handler (bench/baselines.py). Then it
reads each process's memory from /proc: VmRSS, Pss (shared pages divided among the processes
that share them, so the mapped index counts once in the sum) and its private pages (Uss), of
the service's own processes (the mail reader's child is left out: no mail is sent).
"""

import argparse
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.memory import children, kib  # noqa: E402
from bench.run import (  # noqa: E402
    BARE_HTTP_PORT, ENV, HTTP_PORT, OUT, PYTHON, SMTP_PORT, address, cli, start_baseline, stop, wait_http, wrk_get,
)

PATH = "/v1/suppressions/nobody.here@example.org"


def config_for(size: int, workers: int) -> Path:
    data = OUT / f"workers-{size}-data"
    config = OUT / f"workers-{size}-{workers}.toml"
    config.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{HTTP_PORT}"\ndata_dir = "{data}"\nlog_level = "WARNING"\n'
        f"[http]\nport = {HTTP_PORT}\nworkers = {workers}\n[smtp]\nport = {SMTP_PORT}\n", encoding="utf-8")
    config.chmod(0o600)
    return config


def build(size: int) -> None:
    marker = OUT / f"workers-{size}-data" / "bench-list-built"
    if marker.exists():
        return
    config = config_for(size, 1)
    csv_path = OUT / "workers-list.csv"
    with open(csv_path, "w", encoding="utf-8") as fh:
        fh.write("email\n")
        fh.writelines(f"{address(n)}\n" for n in range(size))
    started = time.monotonic()
    cli(config, "import", str(csv_path))
    csv_path.unlink()
    # A first start reads the rows and writes the snapshot every later start maps.
    service = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(config)], env=ENV)
    wait_http(HTTP_PORT, "/healthz", service)
    stop(service)
    marker.write_text(f"{time.monotonic() - started:.0f}\n")
    print(f"built a list of {size:,} in {marker.read_text().strip()} s", file=sys.stderr)


def serving(workers: int) -> bool:
    """Every worker has sent its counts: suppression_worker_requests names each."""
    if workers == 1:
        return True
    with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/metrics", timeout=10) as answer:
        named = re.findall(r'suppression_worker_requests_total\{worker="(\d+)"\}', answer.read().decode())
    return len(named) == workers


def memory(pid: int) -> list[tuple[str, float, float, float]]:
    """(which, VmRSS, Pss, Uss) in MB of the service's processes."""
    rows = []
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    # A worker forked at start has the first process's command line; one started again, its own.
    workers = [child for child in children(pid) if (line := Path(f"/proc/{child}/cmdline").read_bytes()) == command
               or b"handlers.worker" in line]
    for which, process in [("first", pid)] + [("worker", child) for child in workers]:
        private = kib(process, "Private_Clean", "smaps_rollup") + kib(process, "Private_Dirty", "smaps_rollup")
        rows.append((which, kib(process, "VmRSS", "status") / 1024, kib(process, "Pss", "smaps_rollup") / 1024,
                     private / 1024))
    return rows


def measure(size: int, workers: int, key: str, seconds: int) -> tuple[float, list]:
    service = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(config_for(size, workers))], env=ENV)
    try:
        wait_http(HTTP_PORT, "/healthz", service)
        for _ in range(600):
            if serving(workers):
                break
            time.sleep(0.1)
        else:
            sys.exit("the workers did not start")
        rate = wrk_get(HTTP_PORT, PATH, key, seconds)
        return rate, memory(service.pid)
    finally:
        stop(service)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", type=int, default=10_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    build(args.list)
    key = cli(config_for(args.list, 1), "apikey", "create", f"bench-{time.time_ns()}", "--scope", "check")
    rates: dict[int, list[float]] = {n: [] for n in args.workers}
    bare: list[float] = []
    memories: dict[int, list] = {}
    for _ in range(args.rounds):
        for workers in args.workers:
            rate, memories[workers] = measure(args.list, workers, key, args.seconds)
            rates[workers].append(rate)
        baseline = start_baseline("http", BARE_HTTP_PORT)
        try:
            bare.append(wrk_get(BARE_HTTP_PORT, PATH, "", args.seconds))
        finally:
            stop(baseline)
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    one = median(rates[args.workers[0]])
    print(f"command: python bench/workers.py {' '.join(sys.argv[1:])}; list of {args.list:,}")
    print("| workers | single checks/s (median; each round) | of the first row | of the bare handler |")
    print("| --- | ---: | ---: | ---: |")
    for workers in args.workers:
        each = " / ".join(f"{rate:,.0f}" for rate in rates[workers])
        print(f"| {workers} | {median(rates[workers]):,.0f} ({each}) | {median(rates[workers]) / one:.2f} |"
              f" {median(rates[workers]) / median(bare):.2f} |")
    print(f"| bare handler | {median(bare):,.0f} ({' / '.join(f'{rate:,.0f}' for rate in bare)}) | | |")
    print()
    print("| workers | process | VmRSS MB | Pss MB | private (Uss) MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for workers, rows in memories.items():
        for which, rss, pss, uss in rows:
            print(f"| {workers} | {which} | {rss:.0f} | {pss:.0f} | {uss:.0f} |")
        print(f"| {workers} | all | {sum(r[1] for r in rows):.0f} | {sum(r[2] for r in rows):.0f} |"
              f" {sum(r[3] for r in rows):.0f} |")


if __name__ == "__main__":
    main()
