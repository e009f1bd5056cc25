"""The soak: checks, one-click POSTs and SMTP requests together, at fixed rates, for a long time.

    python bench/soak.py                 # 10 minutes at the default rates
    python bench/soak.py --minutes 1 --check-rate 1000

It starts the service on loopback with a list of `--list` suppressions, sends each kind of
request on its own schedule (open loop: a late answer does not slow the schedule, and its
latency counts from when it was due), checks every answer for correctness, samples the
service's memory, and at the end checks that every acknowledged unsubscribe is on the list.
Bounded: loopback only, a fixed duration, and at most `--in-flight` requests of each kind
outstanding (more are counted as refused by the generator, never queued without limit).
"""

import argparse
import asyncio
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import ENV, PYTHON, address, cli, percentile, rss_mb, wait_http  # noqa: E402
from bench.smtpload import RECIPIENT, _reply, request_message  # noqa: E402
from suppression.links import mint_link  # noqa: E402
from suppression.model import Scope  # noqa: E402

OUT = ROOT / "bench" / "out" / "soak"
HTTP_PORT, SMTP_PORT = 18480, 18425
SIGNING_KEY = "soak-signing-key-not-secret-0123456789abcdef"
MESSAGES_PER_SESSION = 100  # as an MTA does, then a new connection


@dataclass
class Stream:
    """One kind of request: answers, failures and latencies, by minute."""

    name: str
    rate: float
    ok: int = 0
    failed: int = 0
    skipped: int = 0  # due while `in_flight` were outstanding: the generator's bound, not sent
    failures: list[str] = field(default_factory=list)
    latencies: dict[int, list[float]] = field(default_factory=dict)

    def record(self, minute: int, latency: float, problem: str | None) -> None:
        if problem is None:
            self.ok += 1
            self.latencies.setdefault(minute, []).append(latency)
        else:
            self.failed += 1
            if len(self.failures) < 10:
                self.failures.append(problem)

    def all_latencies(self) -> list[float]:
        return [value for values in self.latencies.values() for value in values]


async def paced(stream: Stream, seconds: float, in_flight: int, send) -> None:
    """Call `send(n)` at `stream.rate` a second for `seconds`; record each answer."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    outstanding: set[asyncio.Task] = set()

    async def one(n: int, due: float) -> None:
        try:
            problem = await send(n)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
            problem = f"{type(exc).__name__}: {exc}"[:200]
        stream.record(int((due - started) // 60), loop.time() - due, problem)

    n = 0
    while True:
        due = started + n / stream.rate
        if due >= started + seconds:
            break
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        if len(outstanding) >= in_flight:
            stream.skipped += 1
        else:
            task = asyncio.create_task(one(n, due))
            outstanding.add(task)
            task.add_done_callback(outstanding.discard)
        n += 1
    await asyncio.gather(*outstanding)


class Mailer:
    """A few persistent SMTP sessions, each carrying a message at a time, renewed now and then."""

    def __init__(self, sessions: int):
        self.free: asyncio.Queue = asyncio.Queue()
        for _ in range(sessions):
            self.free.put_nowait(None)  # connected on first use

    async def send(self, sender: str) -> str | None:
        session = await self.free.get()
        try:
            if session is None or session[2] >= MESSAGES_PER_SESSION:
                if session is not None:
                    await _close(session)
                session = await _connect()
            reader, writer, sent = session
            for command, wanted in ((f"MAIL FROM:<{sender}>", 250), (f"RCPT TO:<{RECIPIENT}>", 250), ("DATA", 354)):
                writer.write(command.encode() + b"\r\n")
                if (code := await _reply(reader)) != wanted:
                    session = None
                    return f"{command.split(':')[0]} answered {code}"
            writer.write(request_message(sender) + b".\r\n")
            code = await _reply(reader)
            session = (reader, writer, sent + 1)
            return None if code == 250 else f"DATA answered {code}"
        except (OSError, ConnectionError) as exc:
            session = None
            return f"SMTP session failed: {exc}"
        finally:
            self.free.put_nowait(session)


async def _connect():
    reader, writer = await asyncio.open_connection("127.0.0.1", SMTP_PORT)
    await _reply(reader)
    writer.write(b"EHLO soak.example\r\n")
    await _reply(reader)
    return reader, writer, 0


async def _close(session) -> None:
    _, writer, _ = session
    writer.write(b"QUIT\r\n")
    writer.close()


async def soak(args, key: str, service: subprocess.Popen) -> dict:
    base = f"http://127.0.0.1:{HTTP_PORT}"
    seconds = args.minutes * 60
    headers = {"Authorization": f"Bearer {key}"}
    checks = Stream("single check", args.check_rate)
    bulks = Stream("bulk check (10,000 lines)", args.bulk_rate)
    clicks = Stream("one-click POST", args.click_rate)
    mails = Stream("SMTP request", args.mail_rate)
    clicked, mailed = [], []
    memory: list[tuple[float, float]] = []
    bulk_lines = [address(n) for n in range(0, 2 * args.list, max(1, 2 * args.list // 10_000))][:10_000]
    bulk_body = ("\n".join(bulk_lines) + "\n").encode()
    bulk_expected = sum(1 for n in range(0, 2 * args.list, max(1, 2 * args.list // 10_000))[:10_000] if n < args.list)

    connector = aiohttp.TCPConnector(limit=args.in_flight * 3)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def check(n: int) -> str | None:
            number = random.randrange(2 * args.list)
            async with http.get(f"{base}/v1/suppressions/{address(number)}", headers=headers) as answer:
                if answer.status != 200:
                    return f"status {answer.status}"
                body = await answer.json()
            return None if body["suppressed"] == (number < args.list) else f"wrong answer for {address(number)}"

        async def bulk(n: int) -> str | None:
            async with http.post(f"{base}/v1/check", data=bulk_body,
                                 headers={**headers, "Content-Type": "text/plain"}) as answer:
                text = await answer.text()
            hits = text.count("\n")
            return None if answer.status == 200 and hits == bulk_expected else f"status {answer.status}, {hits} hits"

        async def click(n: int) -> str | None:
            email = f"soak-click-{n}@example.org"
            url = mint_link(email, Scope("newsletters"), base_url=base, secret_keys=SIGNING_KEY, request_address=RECIPIENT).url
            async with http.post(url, data={"List-Unsubscribe": "One-Click"}) as answer:
                await answer.read()
                if answer.status != 200:
                    return f"status {answer.status}"
            clicked.append(email)
            return None

        mailer = Mailer(args.smtp_sessions)

        async def mail(n: int) -> str | None:
            sender = f"soak-mail-{n}@bench.example"
            problem = await mailer.send(sender)
            if problem is None:
                mailed.append(sender)
            return problem

        async def sample_memory() -> None:
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                memory.append((time.monotonic() - started, rss_mb(service.pid)))
                await asyncio.sleep(5)

        print(f"soaking for {args.minutes} min: {args.check_rate}/s checks, {args.bulk_rate}/s bulk checks, "
              f"{args.click_rate}/s one-click POSTs, {args.mail_rate}/s SMTP requests", file=sys.stderr)
        await asyncio.gather(
            paced(checks, seconds, args.in_flight, check),
            paced(bulks, seconds, 4, bulk),
            paced(clicks, seconds, args.in_flight, click),
            paced(mails, seconds, args.smtp_sessions * 2, mail),
            sample_memory(),
        )
        lost = await unsubscribes_lost(http, base, headers, clicked, mailed)
    return {"streams": [checks, bulks, clicks, mails], "memory": memory, "lost": lost,
            "clicked": len(clicked), "mailed": len(mailed)}


async def unsubscribes_lost(http, base, headers, clicked, mailed) -> dict[str, int]:
    """Acknowledged unsubscribes not on the list (mail gets up to 60 s for the worker to finish)."""
    async def missing(emails: list[str], topic: str | None) -> int:
        found = 0
        for start in range(0, len(emails), 50_000):
            batch = emails[start:start + 50_000]
            body = {"emails": batch, "topic": topic}
            async with http.post(f"{base}/v1/check", json=body, headers=headers) as answer:
                found += len((await answer.json())["suppressed"])
        return len(emails) - found

    lost_mail = await missing(mailed, None)
    for _ in range(600):
        if lost_mail == 0:
            break
        await asyncio.sleep(0.1)
        lost_mail = await missing(mailed, None)
    return {"one-click": await missing(clicked, "newsletters"), "SMTP": lost_mail}


def slope_mb_per_minute(memory: list[tuple[float, float]]) -> float:
    """Least-squares growth of resident memory over the second half of the run."""
    half = [(t / 60, mb) for t, mb in memory if t >= memory[-1][0] / 2]
    if len(half) < 2:
        return 0.0
    mean_t = sum(t for t, _ in half) / len(half)
    mean_m = sum(m for _, m in half) / len(half)
    covariance = sum((t - mean_t) * (m - mean_m) for t, m in half)
    variance = sum((t - mean_t) ** 2 for t, _ in half)
    return covariance / variance if variance else 0.0


def report(result: dict, args, log: str) -> str:
    lines = [
        f"soak of {args.minutes} min on {platform()}, list of {args.list:,}; command: "
        f"`python bench/soak.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        "| stream | rate asked | answered | failed | skipped | p50 ms | p99 ms | p99 first min | p99 last min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in result["streams"]:
        all_ms = [v * 1000 for v in s.all_latencies()]
        minutes = sorted(s.latencies)
        first = [v * 1000 for v in s.latencies.get(minutes[0], [])] if minutes else []
        last = [v * 1000 for v in s.latencies.get(minutes[-1], [])] if minutes else []
        lines.append(
            f"| {s.name} | {s.rate:g}/s | {s.ok:,} | {s.failed} | {s.skipped} | "
            f"{_p(all_ms, 50)} | {_p(all_ms, 99)} | {_p(first, 99)} | {_p(last, 99)} |"
        )
    memory = result["memory"]
    by_minute = {}
    for t, mb in memory:
        by_minute[int(t // 60)] = mb
    lines += [
        "",
        "resident memory by minute (MB): " + ", ".join(f"{m + 1}: {mb:.0f}" for m, mb in sorted(by_minute.items())),
        f"growth over the second half: {slope_mb_per_minute(memory):+.2f} MB/min; peak {max(mb for _, mb in memory):.0f} MB",
        f"acknowledged unsubscribes not on the list afterwards: one-click {result['lost']['one-click']} "
        f"of {result['clicked']:,}, SMTP {result['lost']['SMTP']} of {result['mailed']:,}",
        f"service log: {log.count(' ERROR ')} ERROR lines, {log.count('Traceback')} tracebacks, "
        f"{log.count(' WARNING ')} WARNING lines",
    ]
    for s in result["streams"]:
        if s.failures:
            lines.append(f"first failures of {s.name}: {'; '.join(s.failures[:3])}")
    return "\n".join(lines)


def _p(values: list[float], p: float) -> str:
    return f"{percentile(sorted(values), p):.1f}" if values else "-"


def platform() -> str:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return f"{cpu.group(1).strip() if cpu else 'unknown CPU'}, {len(re.findall(r'^processor', Path('/proc/cpuinfo').read_text(), re.M))} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--list", type=int, default=1_000_000, help="suppressions loaded before the soak")
    parser.add_argument("--check-rate", type=float, default=2000, help="single checks a second")
    parser.add_argument("--bulk-rate", type=float, default=0.2, help="bulk checks of 10,000 lines a second")
    parser.add_argument("--click-rate", type=float, default=200, help="one-click POSTs a second")
    parser.add_argument("--mail-rate", type=float, default=50, help="SMTP requests a second")
    parser.add_argument("--smtp-sessions", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=64, help="most requests of one kind outstanding")
    args = parser.parse_args()

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    config = OUT / "config.toml"
    config.write_text(
        f'[service]\nbase_url = "http://127.0.0.1:{HTTP_PORT}"\ndata_dir = "{OUT / "data"}"\n'
        f'[http]\nhost = "127.0.0.1"\nport = {HTTP_PORT}\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {SMTP_PORT}\n'
        f'[signing]\nsecret_keys = ["{SIGNING_KEY}"]\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    csv_path = OUT / "list.csv"
    with open(csv_path, "w", encoding="utf-8") as fh:
        fh.write("email\n")
        fh.writelines(f"{address(n)}\n" for n in range(args.list))
    cli(config, "import", str(csv_path))
    csv_path.unlink()
    key = cli(config, "apikey", "create", "soak", "--scope", "admin")
    log_path = OUT / "service.log"
    with open(log_path, "w") as log_file:
        service = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(config)], env=ENV,
                                   stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_http(HTTP_PORT, "/healthz", service)
            result = asyncio.run(soak(args, key, service))
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    text = report(result, args, log_path.read_text())
    (OUT / "report.md").write_text(text + "\n")
    print(text)
    print(f"\n(the report is also in {OUT / 'report.md'}; the service's log in {log_path})", file=sys.stderr)


if __name__ == "__main__":
    main()
