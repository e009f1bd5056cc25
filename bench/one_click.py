"""One-click POSTs, each a new suppression, on a fresh list: requests/s over a few wrk rounds,
beside the bare aiohttp POST handler of bench/baselines.py.

    python bench/one_click.py [--rounds 3] [--seconds 5] [--workers N]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.run import BARE_HTTP_PORT, fresh_config, start_baseline, start_service, stop, wrk_one_click  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="[http] workers (the others pass writes to the first)")
    args = parser.parse_args()
    config = fresh_config("one-click", f'[signing]\nsecret_keys = ["bench-one-click-key-{"x" * 40}"]\n',
                          http=f"workers = {args.workers}")
    ours, bare = [], []
    for _ in range(args.rounds):
        service, _ = start_service(config)
        try:
            ours.append(wrk_one_click(config, args.seconds))
        finally:
            stop(service)
        baseline = start_baseline("http", BARE_HTTP_PORT)
        try:
            bare.append(wrk_one_click(config, args.seconds, port=BARE_HTTP_PORT))
        finally:
            stop(baseline)
        print(f"ours {ours[-1]:,.0f}/s, bare {bare[-1]:,.0f}/s, ratio {ours[-1] / bare[-1]:.2f}", flush=True)
        time.sleep(0)
    ratios = sorted(o / b for o, b in zip(ours, bare))
    print(f"median ratio {ratios[len(ratios) // 2]:.2f}")


if __name__ == "__main__":
    main()
