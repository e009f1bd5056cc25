"""Issue 24's fast paths, side by side in one run: this checkout beside another (--before) and
beside the limits (a Python set loop, the bare aiohttp handler), rounds alternating so that
the load other people put on the machine falls on both alike.

    python -m bench.fastpath --before /path/to/checkout [--addresses 1000000] [--rounds 3] [--seconds 5]

Per round and per tree, on one list of --addresses suppressions (built once with the CLI and
kept in bench/out/fastpath-data; both trees serve the same file in turn):

- bulk check, text/plain, 1,000,000 ASCII lines (half suppressed), end to end with curl;
- bulk check, text/plain, 200,000 non-ASCII lines (jöhn{n}@exämple.com), end to end;
- the worst single check answered while that non-ASCII bulk check runs (the loop's lag);
- single check, wrk, 64 connections (an address not on the list);
- one-click POST, wrk, 64 connections, each a new suppression, on a fresh list each time.

Each figure's limit is measured right beside it (the set loop over the same ASCII lines after
each bulk check; the bare handler after each tree's single checks and one-click POSTs), so each
ratio compares two runs made moments apart. The service's CPU time a request or an address
(/proc/PID/stat, all its threads) is printed too: on a machine others load as well, it moves
less than a rate does.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import OUT, tree_cpu_seconds as cpu_seconds  # noqa: E402  (the writer is a process of its own)
from suppression.config import load_settings  # noqa: E402
from suppression.keyfile import signing_keys  # noqa: E402
from suppression.tokens import mint_token  # noqa: E402

PYTHON = sys.executable
DATA = OUT / "fastpath-data"
BULK = 1_000_000
NON_ASCII = 200_000


def address(n: int) -> str:
    return f"user{n}@example{n % 5000}.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_for(name: str, data: Path, port: int) -> Path:
    path = OUT / f"fastpath-{name}.toml"
    path.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{port}"\ndata_dir = "{data}"\nlog_level = "WARNING"\n'
        f"[http]\nport = {port}\n[smtp]\nport = {free_port()}\n"
        f'[signing]\nsecret_keys = ["bench-fastpath-key-{"x" * 40}"]\n', encoding="utf-8")
    path.chmod(0o600)
    return path


def cli(tree: Path, config: Path, *args: str) -> str:
    result = subprocess.run([PYTHON, "-m", "suppression", "--config", str(config), *args], capture_output=True,
                            text=True, env={**os.environ, "PYTHONPATH": str(tree)}, check=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def start(tree: Path, config: Path, port: int, baseline: bool = False) -> subprocess.Popen:
    command = [PYTHON, str(ROOT / "bench" / "baselines.py"), "http", str(port)] if baseline else \
        [PYTHON, str(tree / "run.py"), "--config", str(config)]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(tree)})
    wait_until_up(process, port, "/v1/suppressions/x@example.com" if baseline else "/healthz", tree)
    return process


def wait_until_up(process: subprocess.Popen, port: int, probe: str, tree: Path) -> None:
    for _ in range(12000):
        if process.poll() is not None:
            sys.exit(f"a server from {tree} exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{probe}", timeout=1):
                return
        except OSError:
            time.sleep(0.005)
    sys.exit("a server did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)


def build_list(tree: Path, size: int) -> None:
    marker = OUT / "fastpath-list-size"
    if marker.exists() and marker.read_text().strip() == str(size):
        return
    shutil.rmtree(DATA, ignore_errors=True)
    listing = OUT / "fastpath-list.csv"
    with open(listing, "w", encoding="utf-8") as fh:
        fh.write("email\n")
        fh.writelines(f"{address(n)}\n" for n in range(size))
    print(f"importing {size:,} addresses...", file=sys.stderr, flush=True)
    cli(tree, config_for("import", DATA, free_port()), "import", str(listing))
    listing.unlink()
    marker.write_text(str(size))


def wrk(url: str, seconds: int, headers: dict[str, str], script: Path | None = None,
        pid: int | None = None) -> tuple[float, float]:
    """(requests/s, the server's CPU µs a request) of one wrk run, 64 connections."""
    command = ["wrk", "-t1", "-c64", f"-d{seconds}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    before = cpu_seconds(pid) if pid else 0.0
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - before if pid else 0.0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses from {url}:\n{output}")
    count = int(re.search(r"(\d+) requests in", output).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), cpu / max(count, 1) * 1e6


def curl_bulk(port: int, key: str, body: Path) -> tuple[float, bytes]:
    started = time.monotonic()
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: text/plain",
         "--data-binary", f"@{body}", f"http://127.0.0.1:{port}/v1/check"], capture_output=True, check=True)
    return time.monotonic() - started, result.stdout


def worst_check_during(port: int, key: str, work) -> tuple[object, float]:
    """Run `work()`, timing single checks back to back meanwhile: (its result, the slowest check in s)."""
    done, worst = threading.Event(), [0.0]

    def probe() -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/suppressions/probe@example.org",
                                         headers={"Authorization": f"Bearer {key}"})
        while not done.is_set():
            started = time.monotonic()
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
            worst[0] = max(worst[0], time.monotonic() - started)
            time.sleep(0.005)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    return result, worst[0]


def one_click(tree: Path, seconds: int, baseline: bool = False) -> tuple[float, float]:
    port = free_port()
    data = OUT / "fastpath-one-click-data"
    shutil.rmtree(data, ignore_errors=True)
    config = config_for("one-click", data, port)
    keys = signing_keys(load_settings(config))
    paths = OUT / "fastpath-one-click-paths.txt"
    with open(paths, "w") as fh:
        for n in range(60_000):  # more than ours answers in --seconds: each POST a new suppression
            fh.write(f"/u/{mint_token(keys, f'click.{time.time_ns()}.{n}@bench.example')}\n")
    script = OUT / "fastpath-one-click.lua"
    script.write_text(
        f'local paths = {{}}\nfor line in io.lines("{paths}") do paths[#paths + 1] = line end\nlocal i = 0\n'
        'wrk.method = "POST"\nwrk.body = "List-Unsubscribe=One-Click"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        'request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n')
    process = start(tree, config, port, baseline)
    try:
        return wrk(f"http://127.0.0.1:{port}", seconds, {}, script, pid=process.pid)
    finally:
        stop(process)


def measure_tree(tree: Path, size: int, seconds: int, ascii_body: Path, non_ascii_body: Path,
                 lines: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """(this tree's figures, the limits measured right beside each of them)."""
    port = free_port()
    config = config_for("list", DATA, port)
    key = cli(tree, config, "apikey", "create", f"bench-fastpath-{time.time_ns()}", "--scope", "check")
    process = start(tree, config, port)
    ours, limit = {}, {}
    try:
        cpu = cpu_seconds(process.pid)
        elapsed, found = curl_bulk(port, key, ascii_body)
        ours["bulk_cpu"] = (cpu_seconds(process.pid) - cpu) / BULK * 1e9
        hits = found.count(b"\n")
        if hits != BULK // 2:
            sys.exit(f"{tree}: the bulk check found {hits:,} suppressed, expected {BULK // 2:,}")
        ours["bulk"], limit["bulk"] = BULK / elapsed, set_loop(size, lines)
        cpu = cpu_seconds(process.pid)
        (non_elapsed, _), worst = worst_check_during(port, key, lambda: curl_bulk(port, key, non_ascii_body))
        ours["non_ascii_cpu"] = (cpu_seconds(process.pid) - cpu) / NON_ASCII * 1e9
        ours["non_ascii"], ours["worst_ms"] = NON_ASCII / non_elapsed, worst * 1000
        ours["single"], ours["single_cpu"] = wrk(f"http://127.0.0.1:{port}/v1/suppressions/nobody.here@example.org",
                                                 seconds, {"Authorization": f"Bearer {key}"}, pid=process.pid)
    finally:
        stop(process)
    bare_port = free_port()
    bare = start(ROOT, OUT / "unused.toml", bare_port, baseline=True)
    try:
        limit["single"], limit["single_cpu"] = wrk(
            f"http://127.0.0.1:{bare_port}/v1/suppressions/nobody.here@example.org", seconds, {}, pid=bare.pid)
    finally:
        stop(bare)
    ours["one_click"], ours["one_click_cpu"] = one_click(tree, seconds)
    limit["one_click"], limit["one_click_cpu"] = one_click(ROOT, seconds, baseline=True)
    return ours, limit


def set_loop(size: int, lines: list[str]) -> float:
    listed = {address(n) for n in range(size)}
    started = time.monotonic()
    hits = [line for line in lines if line.strip().lower() in listed]
    elapsed = time.monotonic() - started
    assert len(hits) == len(lines) // 2
    return len(lines) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="another checkout, measured the same way")
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    build_list(ROOT, args.addresses)
    lines = [address(n * 7 % args.addresses) if n % 2 else f"Nobody{n}@Example.org" for n in range(BULK)]
    ascii_body, non_ascii_body = OUT / "fastpath-bulk.txt", OUT / "fastpath-non-ascii.txt"
    ascii_body.write_text("\n".join(lines) + "\n")
    non_ascii_body.write_text("".join(f"jöhn{n}@exämple.com\n" for n in range(NON_ASCII)), encoding="utf-8")
    trees = {"before": Path(args.before).resolve(), "after": ROOT}
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in (*trees, *(f"limit {t}" for t in trees))}
    for round_ in range(args.rounds):
        for name, tree in trees.items():
            ours, limit = measure_tree(tree, args.addresses, args.seconds, ascii_body, non_ascii_body, lines)
            for figure, value in ours.items():
                figures[name].setdefault(figure, []).append(value)
            for figure, value in limit.items():
                figures[f"limit {name}"].setdefault(figure, []).append(value)
        print(f"round {round_ + 1}: " + "; ".join(f"{name} " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in f.items())
                                                   for name, f in figures.items()), file=sys.stderr, flush=True)
    print_table(figures, args)


def print_table(figures: dict[str, dict[str, list[float]]], args) -> None:
    rows = [("bulk", f"bulk check, text/plain, {BULK:,} ASCII against {args.addresses:,}, addresses/s", "set loop"),
            ("bulk_cpu", "  its CPU in the service, ns an address", None),
            ("non_ascii", f"bulk check, text/plain, {NON_ASCII:,} non-ASCII lines, addresses/s", None),
            ("non_ascii_cpu", "  its CPU in the service, ns an address", None),
            ("worst_ms", "  slowest single check meanwhile, ms", None),
            ("single", "single check, requests/s, 64 connections", "bare handler"),
            ("single_cpu", "  CPU µs a request (the bare handler's beside it)", "bare handler"),
            ("one_click", "one-click POST, requests/s, each a new suppression", "bare POST handler"),
            ("one_click_cpu", "  CPU µs a request (the bare handler's beside it)", "bare POST handler")]
    print(f"python -m bench.fastpath --before {args.before} --addresses {args.addresses} "
          f"--rounds {args.rounds} --seconds {args.seconds}\n")
    print("| figure (median of the rounds; each round's value) | before | after | limit beside before / after "
          "| before / limit | after / limit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for figure, title, limit_name in rows:
        cells = [f"{statistics.median(figures[t][figure]):,.0f} ({' / '.join(f'{x:,.0f}' for x in figures[t][figure])})"
                 for t in ("before", "after")]
        if limit_name:
            limits = [figures[f"limit {t}"][figure] for t in ("before", "after")]
            ratios = [f"{statistics.median(o / l for o, l in zip(figures[t][figure], limit)):.2f}"
                      for t, limit in zip(("before", "after"), limits)]
            cells += [" / ".join(f"{statistics.median(limit):,.0f}" for limit in limits) + f" ({limit_name})", *ratios]
        else:
            cells += ["-", "-", "-"]
        print(f"| {title} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
