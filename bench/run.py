"""Every benchmark figure beside its limit, in one run, on this machine.

    python bench/run.py [--store sqlite|postgresql] [--addresses 10000000] [--bulk 1000000]
                        [--seconds 10] [--fresh]

Builds a list of --addresses suppressions through the import path (kept in bench/out/ and
reused unless --fresh), starts the service as a user would, measures each row of the
table in bench/README.md and prints it. Needs wrk (apt-get install wrk) and curl.

With --store postgresql the list is kept in a PostgreSQL server the bench runs from Debian's
postgresql package (in bench/out/pg, kept between runs), and a second instance on the same
database is started for the aggregate rate of two instances' single checks.
"""

import argparse
import http.client
import asyncio
import glob
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smtpload import intake_with_visibility, send_requests  # noqa: E402
from suppression.config import load_settings  # noqa: E402
from suppression.keyfile import signing_keys  # noqa: E402
from suppression.tokens import mint_token  # noqa: E402

OUT = ROOT / "bench" / "out"
HTTP_PORT, SMTP_PORT, BARE_HTTP_PORT, BARE_SMTP_PORT = 18080, 18025, 18081, 18026
SECOND_HTTP_PORT, SECOND_SMTP_PORT = 18082, 18027
DATA = OUT / "data"  # the list's data_dir (another with --store postgresql)
STORE_URL = ""  # the PostgreSQL database, with --store postgresql
SERVER = None  # its server (tests/postgres.py), started by the bench
PYTHON = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--addresses", type=int, default=10_000_000, help="size of the suppression list")
    parser.add_argument("--bulk", type=int, default=1_000_000, help="addresses in the bulk check")
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    parser.add_argument("--smtp-clients", type=int, default=16)
    parser.add_argument("--smtp-messages", type=int, default=4000, help="messages in each SMTP run")
    parser.add_argument("--fresh", action="store_true", help="rebuild the list even if one of this size exists")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    for tool in ("wrk", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"bench needs {tool}: apt-get install -y {tool}")
    OUT.mkdir(parents=True, exist_ok=True)
    server = None
    if args.store == "postgresql":
        server = use_postgresql(args.fresh)
    try:
        run(args)
    finally:
        if server is not None:
            server.stop()


def use_postgresql(fresh: bool):
    """The bench's PostgreSQL server (bench/out/pg, kept between runs) and its database."""
    global DATA, STORE_URL, SERVER
    from tests.postgres import PostgresServer

    server = SERVER = PostgresServer(OUT / "pg").init()
    DATA = OUT / "pg-data"
    marker = OUT / "pg-list-size"
    if fresh or not marker.exists():
        marker.unlink(missing_ok=True)
        STORE_URL = server.create_database("bench")
    else:
        STORE_URL = server.url("bench")
    return server


def run(args) -> None:
    config = write_config(OUT / f"config-{args.store}.toml")
    rows: list[tuple] = []

    import_seconds = build_list(config, args.addresses, args.fresh)
    check_key = cli(config, "apikey", "create", f"bench-check-{time.time_ns()}", "--scope", "check")
    admin_key = cli(config, "apikey", "create", f"bench-admin-{time.time_ns()}", "--scope", "admin")

    (DATA / "index-snapshot.npz").unlink(missing_ok=True)
    service, first_startup = start_service(config)  # reads every row, then writes a snapshot
    time.sleep(3)  # let the snapshot be written; only set-up, never measured
    stop(service)
    service, startup = start_service(config)
    try:
        rss_loaded = rss_mb(service.pid)
        rows.append(("start-up, to serving (a restart: index snapshot + log since)", f"{startup:.2f} s", "-", "-",
                     "<= 5 s", startup <= 5))
        rows.append(("  (first start after an import: reads every row)", f"{first_startup:.2f} s", "-", "-", "-", None))
        single = wrk_get(HTTP_PORT, "/v1/suppressions/nobody.here@example.org", check_key, args.seconds)
        suppressed = wrk_get(HTTP_PORT, "/v1/suppressions/user123@example123.com", check_key, args.seconds)
        bulk_rate, set_rate = bulk_check(config, check_key, args.addresses, args.bulk)
        domain_rate = bulk_with_domains(config, check_key, admin_key, args.addresses, args.bulk)
        one_click = wrk_one_click(config, args.seconds)
        intake, delays, _ = asyncio.run(intake_with_visibility(
            SMTP_PORT, f"http://127.0.0.1:{HTTP_PORT}", admin_key, args.smtp_clients,
            args.smtp_messages // args.smtp_clients, last_change(),
        ))
        rss_after = rss_mb(service.pid)
        if STORE_URL:
            both = two_instances(config, check_key, args.seconds)
    finally:
        stop(service)

    bare = start_baseline("http", BARE_HTTP_PORT)
    try:
        bare_single = wrk_get(BARE_HTTP_PORT, "/v1/suppressions/nobody.here@example.org", "", args.seconds)
        bare_post = wrk_one_click(config, args.seconds, port=BARE_HTTP_PORT)
    finally:
        stop(bare)
    sink = start_baseline("smtp", BARE_SMTP_PORT)
    try:
        bare_intake, _ = asyncio.run(send_requests(
            BARE_SMTP_PORT, args.smtp_clients, args.smtp_messages // args.smtp_clients, f"bare{time.time_ns()}."
        ))
    finally:
        stop(sink)

    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    rows += [
        ("single check, requests/s, 64 connections", f"{single:,.0f}", f"{bare_single:,.0f}",
         f"{single / bare_single:.2f}", ">= 0.9", single / bare_single >= 0.9),
        ("  (the same for a suppressed address: reads its details)", f"{suppressed:,.0f}", f"{bare_single:,.0f}",
         f"{suppressed / bare_single:.2f}", "-", None),
        (f"bulk check, text/plain, {args.bulk:,} against {args.addresses:,}, addresses/s", f"{bulk_rate:,.0f}",
         f"{set_rate:,.0f} (Python set)", f"{bulk_rate / set_rate:.2f}", ">= 1,000,000/s", bulk_rate >= 1_000_000),
        (f"  the same with {DOMAIN_ENTRIES:,} `*@domain` entries in the list, addresses/s", f"{domain_rate:,.0f}",
         "-", "-", ">= 1,000,000/s", domain_rate >= 1_000_000),
        (f"SMTP intake, durable, messages/s, {args.smtp_clients} clients", f"{intake:,.0f}", f"{bare_intake:,.0f}",
         f"{intake / bare_intake:.2f}", ">= 0.9", intake / bare_intake >= 0.9),
        ("250 to visible in the API during that intake", f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms",
         "-", "-", "p99 <= 5 s", p99 <= 5.0),
        ("one-click POST, requests/s (each a new suppression)", f"{one_click:,.0f}", f"{bare_post:,.0f}",
         f"{one_click / bare_post:.2f}", ">= 0.8", one_click / bare_post >= 0.8),
        (f"resident memory, {args.addresses:,} loaded", f"{rss_loaded:,.0f} MB (after the runs: {rss_after:,.0f} MB)",
         "-", "-", "<= 400 MB", max(rss_loaded, rss_after) <= 400),
    ]
    if STORE_URL:
        rows.append(("two instances on one database: single checks, aggregate requests/s (64 connections each)",
                     f"{both:,.0f}", f"{single:,.0f} (one instance)", f"{both / single:.2f}", ">= 1.8",
                     both / single >= 1.8))
    report(rows, import_seconds, args)


# -- the list -----------------------------------------------------------------------------


# The SMTP figures measure the intake and the reading: every request is honoured, as a proven one
# would be, instead of all but the first few of one network going to the desk (issue 20's budget).
UNLIMITED_UNPROVEN = "unproven_requests_per_network_per_hour = 1000000\nunproven_requests_per_hour = 1000000\n"


def write_config(path: Path, data: Path | None = None, http: int = HTTP_PORT, smtp: int = SMTP_PORT) -> Path:
    store = f'[store]\nurl = "{STORE_URL}"\n' if STORE_URL else ""
    path.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{http}"\ndata_dir = "{data or DATA}"\nlog_level = "WARNING"\n'
        f"[http]\nport = {http}\n[smtp]\nport = {smtp}\n{UNLIMITED_UNPROVEN}{store}",
        encoding="utf-8",
    )
    return path


def fresh_config(name: str, extra: str = "", http: str = "") -> Path:
    """A config on a new, empty data_dir, OUT/NAME-data, for the benches of one figure; `extra`
    goes at the end of the [smtp] table (and may open tables of its own), `http` into [http]."""
    data = OUT / f"{name}-data"
    shutil.rmtree(data, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    config = OUT / f"{name}.toml"
    config.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{HTTP_PORT}"\ndata_dir = "{data}"\nlog_level = "WARNING"\n'
        f"[http]\nport = {HTTP_PORT}\n{http}\n[smtp]\nport = {SMTP_PORT}\n{extra}", encoding="utf-8")
    config.chmod(0o600)  # it may hold keys
    return config


def address(n: int) -> str:
    return f"user{n}@example{n % 5000}.com"


def build_list(config: Path, size: int, fresh: bool) -> float:
    """Import `size` addresses through the CLI; return the seconds it took (then or when reused)."""
    marker = OUT / ("pg-list-size" if STORE_URL else "list-size")
    if not fresh and marker.exists() and marker.read_text().split()[0] == str(size):
        print(f"reusing the list of {size:,} in {STORE_URL or DATA}", file=sys.stderr)
        return float(marker.read_text().split()[1])
    shutil.rmtree(DATA, ignore_errors=True)
    if STORE_URL and marker.exists():  # a list of another size: start again from an empty database
        SERVER.create_database("bench")
    csv_path = OUT / "list.csv"
    with open(csv_path, "w", encoding="utf-8") as fh:
        fh.write("email\n")
        fh.writelines(f"{address(n)}\n" for n in range(size))
    print(f"importing {size:,} addresses...", file=sys.stderr)
    started = time.monotonic()
    cli(config, "import", str(csv_path))
    seconds = time.monotonic() - started
    print(f"imported {size:,} addresses in {seconds:.1f} s", file=sys.stderr)
    csv_path.unlink()
    marker.write_text(f"{size} {seconds:.1f}")  # a later run reuses the list and reports this
    return seconds


def cli(config: Path, *args: str) -> str:
    result = subprocess.run([PYTHON, "-m", "suppression", "--config", str(config), *args],
                            capture_output=True, text=True, env=ENV, check=True)
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


# -- processes ----------------------------------------------------------------------------


def start_service(config: Path, port: int = HTTP_PORT) -> tuple[subprocess.Popen, float]:
    started = time.monotonic()
    process = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(config)], env=ENV)
    wait_http(port, "/healthz", process)
    return process, time.monotonic() - started


def start_baseline(kind: str, port: int) -> subprocess.Popen:
    process = subprocess.Popen([PYTHON, str(ROOT / "bench" / "baselines.py"), kind, str(port)], env=ENV)
    if kind == "http":
        wait_http(port, "/v1/suppressions/x@example.com", process)
    else:
        time.sleep(1.0)  # a listener with nothing to load; only for start-up, never measured
    return process


def wait_http(port: int, path: str, process: subprocess.Popen) -> None:
    for _ in range(6000):
        if process.poll() is not None:
            sys.exit("a server exited during start-up")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.005)
    sys.exit("a server did not start")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def last_change() -> str:
    """The end of the change log now, read from the database (the feed would page from the start)."""
    if STORE_URL:
        import psycopg

        with psycopg.connect(STORE_URL) as conn:
            return str(conn.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0])
    with sqlite3.connect(DATA / "suppression.sqlite3") as db:
        return str(db.execute("SELECT coalesce(max(id), 0) FROM changes").fetchone()[0])


def two_instances(config: Path, key: str, seconds: int) -> float:
    """Single checks against two instances on one database at once: their requests/s summed."""
    second = write_config(OUT / "config-second.toml", OUT / "pg-data-2", SECOND_HTTP_PORT, SECOND_SMTP_PORT)
    process, _ = start_service(second, SECOND_HTTP_PORT)
    try:
        path = "/v1/suppressions/nobody.here@example.org"
        runs = [subprocess.Popen(["wrk", "-t1", "-c64", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}",
                                  f"http://127.0.0.1:{port}{path}"], stdout=subprocess.PIPE, text=True)
                for port in (HTTP_PORT, SECOND_HTTP_PORT)]
        outputs = [run.communicate()[0] for run in runs]
    finally:
        stop(process)
    return sum(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)) for output in outputs)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time (user and system) a process has used in all its threads, or one thread of it:
    unlike a rate, hardly moved by what else the machine runs, so it compares two builds."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes a process started, and theirs (the SQLite writer's is a grandchild: it is
    forked by multiprocessing's fork server)."""
    found = []
    for listing in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            children = [int(child) for child in Path(listing).read_text().split()]
        except OSError:
            continue  # a thread ended meanwhile
        for child in children:
            found += [child, *descendants(child)]
    return found


def thread_cpu_seconds(pid: int) -> dict[tuple[int, int], float]:
    """CPU seconds of each thread of `pid`, keyed by (pid, thread id)."""
    seconds = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        thread = int(task.rsplit("/", 1)[1])
        try:
            seconds[(pid, thread)] = cpu_seconds(pid, thread)
        except OSError:
            continue  # the thread ended meanwhile
    return seconds


def tree_thread_cpu_seconds(pid: int) -> dict[tuple[int, int], float]:
    """thread_cpu_seconds of a process and of every process it started."""
    seconds = {}
    for each in [pid, *descendants(pid)]:
        seconds.update(thread_cpu_seconds(each))
    return seconds


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of a process and every process it started (the writer's, the mail reader's)."""
    total = 0.0
    for each in [pid, *descendants(pid)]:
        try:
            total += cpu_seconds(each)
        except OSError:
            pass  # it ended meanwhile
    return total


# -- HTTP figures -------------------------------------------------------------------------


def wrk(url: str, seconds: int, headers: dict[str, str], script: Path | None = None) -> float:
    command = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sys.exit(f"wrk saw {errors.group(1)} error responses from {url}:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def wrk_get(port: int, path: str, key: str, seconds: int) -> float:
    return wrk(f"http://127.0.0.1:{port}{path}", seconds, {"Authorization": f"Bearer {key}"} if key else {})


def wrk_one_click(config: Path, seconds: int, port: int = HTTP_PORT) -> float:
    """One-click POSTs, each for an address not yet suppressed (tokens minted beforehand)."""
    return wrk(f"http://127.0.0.1:{port}", seconds, {}, one_click_script(config, port))


def one_click_script(config: Path, port: int) -> Path:
    """wrk's script of one-click POSTs to 200,000 new tokens, minted now (a few seconds)."""
    keys = signing_keys(load_settings(config))
    paths = OUT / f"one-click-paths-{port}.txt"
    with open(paths, "w") as fh:
        for n in range(200_000):
            fh.write(f"/u/{mint_token(keys, f'click{port}.{time.time_ns()}.{n}@bench.example')}\n")
    script = OUT / "one-click.lua"
    script.write_text(
        'local paths = {}\n'
        f'for line in io.lines("{paths}") do paths[#paths + 1] = line end\n'
        'local i = 0\n'
        'wrk.method = "POST"\n'
        'wrk.body = "List-Unsubscribe=One-Click"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        'request = function()\n'
        '  i = i % #paths + 1\n'
        '  return wrk.format(nil, paths[i])\n'
        'end\n'
    )
    return script


def bulk_check(config: Path, key: str, size: int, count: int) -> tuple[float, float]:
    """Addresses a second of the streamed bulk check, and of a Python set loop doing the same."""
    query = OUT / "bulk.txt"
    lines = [address(n * 7 % size) if n % 2 else f"Nobody{n}@Example.org" for n in range(count)]
    query.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: text/plain",
         "--data-binary", f"@{query}", f"http://127.0.0.1:{HTTP_PORT}/v1/check"],
        capture_output=True, check=True,
    )
    elapsed = time.monotonic() - started
    found = result.stdout.count(b"\n")
    if found != count // 2:
        sys.exit(f"bulk check found {found:,} suppressed, expected {count // 2:,}")
    listed = {address(n) for n in range(size)}
    started = time.monotonic()
    hits = [line for line in lines if line.strip().lower() in listed]
    set_elapsed = time.monotonic() - started
    assert len(hits) == count // 2
    del listed
    return count / elapsed, count / set_elapsed


DOMAIN_ENTRIES = 10_000


def bulk_with_domains(config: Path, key: str, admin_key: str, size: int, count: int) -> float:
    """The bulk check again with DOMAIN_ENTRIES domain entries in the list (none of the query's
    domains, so the answer is the same), imported with the CLI and removed again after."""
    entries = [f"*@bench-domain-{n}.example.net" for n in range(DOMAIN_ENTRIES)]
    listing = OUT / "domains.csv"
    listing.write_text("email\n" + "\n".join(entries) + "\n")
    cli(config, "import", str(listing))
    time.sleep(1)  # the service follows the CLI's writes within 0.1 s; set-up, never measured
    try:
        rate, _ = bulk_check(config, key, size, count)
    finally:
        connection = http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=30)
        for entry in entries:
            connection.request("DELETE", f"/v1/suppressions/{entry}", headers={"Authorization": f"Bearer {admin_key}"})
            connection.getresponse().read()
        connection.close()
    return rate


# -- the report ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def report(rows: list[tuple], import_seconds: float, args) -> None:
    lines = [
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {platform_line()}",
        f"command: python bench/run.py --store {args.store} --addresses {args.addresses} --bulk {args.bulk}"
        f" --seconds {args.seconds}",
        f"building the list of {args.addresses:,} through `suppression import`: {import_seconds:.1f} s",
        "",
        "| figure | ours | limit beside it | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for figure, ours, limit, ratio, target, met in rows:
        verdict = "" if met is None else ("yes" if met else "**no**")
        lines.append(f"| {figure} | {ours} | {limit} | {ratio} | {target} | {verdict} |")
    text = "\n".join(lines)
    print(text)
    (OUT / f"last-run-{args.store}.md").write_text(text + "\n")


def platform_line() -> str:
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return model.group(1).strip() if model else "unknown CPU"


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
