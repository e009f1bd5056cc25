"""One-click POSTs, each a new suppression, on a fresh list: requests/s over a few wrk rounds,
beside the bare aiohttp POST handler of bench/baselines.py; with --cpu, also the CPU a one-click
took in the service's loop, its other threads and its processes (the SQLite writer's), which a
busy machine moves far less than a rate.

    python bench/one_click.py [--rounds 3] [--seconds 5] [--workers N] [--cpu]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import (  # noqa: E402
    BARE_HTTP_PORT, HTTP_PORT, fresh_config, one_click_script, start_baseline, start_service, stop,
    tree_thread_cpu_seconds, wrk, wrk_one_click,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="[http] workers (the others pass writes to the first)")
    parser.add_argument("--cpu", action="store_true", help="the service's CPU a one-click, by thread and process")
    args = parser.parse_args()
    config = fresh_config("one-click", f'[signing]\nsecret_keys = ["bench-one-click-key-{"x" * 40}"]\n',
                          http=f"workers = {args.workers}")
    ours, bare = [], []
    for _ in range(args.rounds):
        service, _ = start_service(config)
        try:
            script = one_click_script(config, HTTP_PORT)
            before = tree_thread_cpu_seconds(service.pid)
            ours.append(wrk(f"http://127.0.0.1:{HTTP_PORT}", args.seconds, {}, script))
            spent = _spent(service.pid, before, tree_thread_cpu_seconds(service.pid), ours[-1] * args.seconds)
        finally:
            stop(service)
        baseline = start_baseline("http", BARE_HTTP_PORT)
        try:
            bare.append(wrk_one_click(config, args.seconds, port=BARE_HTTP_PORT))
        finally:
            stop(baseline)
        print(f"ours {ours[-1]:,.0f}/s, bare {bare[-1]:,.0f}/s, ratio {ours[-1] / bare[-1]:.2f}"
              + (f"; CPU a one-click: {spent}" if args.cpu else ""), flush=True)
        time.sleep(0)
    ratios = sorted(o / b for o, b in zip(ours, bare))
    print(f"median ratio {ratios[len(ratios) // 2]:.2f}")


def _spent(pid: int, before: dict, after: dict, requests: float) -> str:
    """µs a one-click in the loop's thread, the service's other threads and its other processes
    (wrk's count of requests over its run; a thread or process started meanwhile counts whole)."""
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    loop = spent.pop((pid, pid))
    threads = sum(v for (p, _), v in spent.items() if p == pid)
    processes = sum(v for (p, _), v in spent.items() if p != pid)
    per = lambda seconds: f"{seconds / requests * 1e6:.0f} µs"  # noqa: E731
    return f"the loop {per(loop)}, its other threads {per(threads)}, its processes {per(processes)}"


if __name__ == "__main__":
    main()
