"""The soak with faults: checks, one-click POSTs, email requests and admin adds together, at fixed
rates, against one or more instances, while instances are killed and the database restarted.

    python bench/soak.py --store sqlite --duration 6m --faults kill
    python bench/soak.py --store postgresql --instances 2 --duration 6m --faults kill,db-restart,kill

It builds a list of `--list` suppressions (`suppression import`), starts `--instances` services
(`run.py`, each its own ports and data_dir, on one SQLite file or one PostgreSQL database of a
server it starts), and sends each kind of request on its own open-loop schedule (a late answer
does not slow the schedule; its latency counts from when it was due), request n of a kind to
instance n mod N among those running. The faults happen in order at equal spacing (three in 6
minutes: at 90, 180 and 270 s): `kill` SIGKILLs the next instance in turn and starts it again
10 s later; `db-restart` is `pg_ctl restart -m fast`. Each fault opens a phase.

Every acknowledged write is recorded (a one-click 200, an admin add 200/201, an SMTP 250) and,
at the end, looked up on every instance: an acknowledged write that no instance has is lost.
For each phase it prints: per kind what was sent, acknowledged, lost, answered 500 or 503 or
failed otherwise (connection refused by a killed instance), latencies (p50/p99/max); resident
memory of each instance (service and its children) at the phase's start and end; and, for a
fault, how long until each instance answered checks and took writes again.
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

from bench.run import ENV, PYTHON, address, cli, percentile  # noqa: E402
from bench.smtpload import RECIPIENT, _reply, request_message  # noqa: E402
from suppression.links import mint_link  # noqa: E402
from suppression.model import Scope  # noqa: E402

OUT = ROOT / "bench" / "out" / "soak"
FIRST_PORT = 18480
SIGNING_KEY = "soak-signing-key-not-secret-0123456789abcdef"
MESSAGES_PER_SESSION = 100  # as an MTA does, then a new connection
RESTART_AFTER_SECONDS = 10.0  # a killed instance is started again this long after
KINDS = ("check", "one-click", "email", "admin add")


# -- what happened ------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str
    due: float  # seconds since the start, when it was due
    latency: float
    instance: int
    status: str  # "ok", "500", "503", "wrong", or "other: ..."
    acknowledged: str | None = None  # the address a write made, when it was acknowledged


@dataclass
class Phase:
    name: str
    start: float
    end: float = float("inf")
    load: str = ""  # the machine's load average when the phase ended
    rss_start: dict[int, float] = field(default_factory=dict)
    rss_end: dict[int, float] = field(default_factory=dict)
    # Seconds each instance's loop thread spent runnable but waiting for a core (schedstat), at
    # the phase's start and end: how much of its latency the machine, not the service, caused.
    cpu_wait_start: dict[int, float] = field(default_factory=dict)
    cpu_wait_end: dict[int, float] = field(default_factory=dict)
    recovery: list[str] = field(default_factory=list)


# -- the instances ------------------------------------------------------------------------


class Instance:
    def __init__(self, number: int, store: str):
        self.number = number
        self.name = "AB"[number] if number < 2 else str(number)
        self.http, self.smtp = FIRST_PORT + 2 * number, FIRST_PORT + 2 * number + 1
        self.base = f"http://127.0.0.1:{self.http}"
        self.config = OUT / f"instance-{self.name}.toml"
        self.config.write_text(
            f'[service]\nbase_url = "http://127.0.0.1:{FIRST_PORT}"\ndata_dir = "{OUT / f"data-{self.name}"}"\n'
            f'[http]\nhost = "127.0.0.1"\nport = {self.http}\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {self.smtp}\n'
            # Every request comes from loopback on the sender's word alone: no hourly budget.
            'unproven_requests_per_network_per_hour = 100000000\nunproven_requests_per_hour = 100000000\n'
            f'[signing]\nsecret_keys = ["{SIGNING_KEY}"]\n{store}',
            encoding="utf-8",
        )
        self.config.chmod(0o600)
        (OUT / f"data-{self.name}").mkdir(mode=0o700, exist_ok=True)  # for its index snapshot, on either store
        self.process: subprocess.Popen | None = None
        self.up = False
        self.log = open(OUT / f"instance-{self.name}.log", "a")

    def start(self) -> None:
        self.process = subprocess.Popen([PYTHON, str(ROOT / "run.py"), "--config", str(self.config)], env=ENV,
                                        stdout=self.log, stderr=subprocess.STDOUT)

    async def ready(self, http: aiohttp.ClientSession) -> float:
        """Wait until /healthz answers 200; the seconds it took."""
        started = time.monotonic()
        while True:
            if self.process.poll() is not None:
                sys.exit(f"instance {self.name} exited; see {self.log.name}")
            try:
                async with http.get(f"{self.base}/healthz", timeout=aiohttp.ClientTimeout(total=2)) as answer:
                    if answer.status == 200:
                        self.up = True
                        return time.monotonic() - started
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        self.up = False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=120)
        self.log.close()

    def cpu_wait(self) -> float:
        """Seconds the service's loop thread has waited for a core since it started."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/schedstat").read_text()
        except OSError:
            return 0.0
        return int(stat.split()[1]) / 1e9

    def rss_mb(self) -> float:
        """The service's resident memory and its children's (the mail readers), in MB."""
        if self.process is None or self.process.poll() is not None:
            return 0.0
        return sum(_rss_kib(pid) for pid in [self.process.pid, *_children(self.process.pid)]) / 1024


def _rss_kib(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found.group(1)) if found else 0


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


# -- the load -----------------------------------------------------------------------------


class Mailer:
    """Persistent SMTP sessions to one instance, a message at a time each, renewed now and then."""

    def __init__(self, port: int, sessions: int):
        self.port = port
        self.free: asyncio.Queue = asyncio.Queue()
        for _ in range(sessions):
            self.free.put_nowait(None)  # connected on first use

    async def send(self, sender: str) -> int:
        """The reply code to the message's end of data (or to the command refused before it)."""
        session = await self.free.get()
        try:
            if session is None or session[2] >= MESSAGES_PER_SESSION:
                if session is not None:
                    session[1].write(b"QUIT\r\n")
                    session[1].close()
                session = None
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                await _reply(reader)
                writer.write(b"EHLO soak.example\r\n")
                await _reply(reader)
                session = (reader, writer, 0)
            reader, writer, sent = session
            for command, wanted in ((f"MAIL FROM:<{sender}>", 250), (f"RCPT TO:<{RECIPIENT}>", 250), ("DATA", 354)):
                writer.write(command.encode() + b"\r\n")
                if (code := await _reply(reader)) != wanted:
                    writer.write(b"RSET\r\n")
                    await _reply(reader)
                    return code
            writer.write(request_message(sender) + b".\r\n")
            code = await _reply(reader)
            session = (reader, writer, sent + 1)
            return code
        except (OSError, ConnectionError):
            session = None
            raise
        finally:
            self.free.put_nowait(session)


class Soak:
    def __init__(self, args, instances: list[Instance], key: str, server):
        self.args, self.instances, self.key, self.server = args, instances, key, server
        self.outcomes: list[Outcome] = []
        self.phases: list[Phase] = [Phase("before any fault", 0.0)]
        self.memory: list[tuple[float, dict[int, float]]] = []
        self.started = 0.0
        self.skipped = 0  # due while too many of that kind were outstanding: never sent
        self.mailers = [Mailer(instance.smtp, 4) for instance in instances]
        self.headers = {"Authorization": f"Bearer {key}"}

    def now(self) -> float:
        return time.monotonic() - self.started

    def target(self, n: int) -> Instance | None:
        running = [instance for instance in self.instances if instance.up]
        return running[n % len(running)] if running else None

    async def run(self) -> None:
        seconds = self.args.duration
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400)) as http:
            self.http = http
            self.started = time.monotonic()
            self.sample_memory_now(self.phases[0], "start")
            await asyncio.gather(
                self.paced("check", self.args.check_rate, self.check),
                self.paced("one-click", self.args.click_rate, self.click),
                self.paced("email", self.args.mail_rate, self.mail),
                self.paced("admin add", self.args.add_rate, self.add),
                self.faults(),
                self.sample_memory(),
            )
            self.sample_memory_now(self.phases[-1], "end")
            self.lost = await self.verify()

    async def paced(self, kind: str, rate: float, send) -> None:
        """Call `send(n)` at `rate` a second for the duration; record each answer."""
        loop = asyncio.get_running_loop()
        outstanding: set[asyncio.Task] = set()

        async def one(n: int, due: float) -> None:
            instance = self.target(n)
            if instance is None:
                self.outcomes.append(Outcome(kind, due - self.started, 0.0, -1, "not sent"))
                return
            try:
                status, acknowledged = await send(n, instance)
            except (aiohttp.ClientError, OSError, ConnectionError, asyncio.TimeoutError) as exc:
                status, acknowledged = f"other: {type(exc).__name__}", None
            self.outcomes.append(Outcome(kind, due - self.started, loop.time() - due, instance.number, status,
                                         acknowledged))

        n = 0
        while True:
            due = self.started + n / rate
            if due >= self.started + self.args.duration:
                break
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if len(outstanding) >= self.args.in_flight:
                self.skipped += 1
            else:
                task = asyncio.create_task(one(n, due))
                outstanding.add(task)
                task.add_done_callback(outstanding.discard)
            n += 1
        await asyncio.gather(*outstanding)

    @staticmethod
    def _status(code: int, wanted: tuple[int, ...]) -> str:
        if code in wanted:
            return "ok"
        return str(code) if code in (500, 503) else f"other: {code}"

    async def check(self, n: int, instance: Instance):
        number = random.randrange(2 * self.args.list)
        async with self.http.get(f"{instance.base}/v1/suppressions/{address(number)}", headers=self.headers) as answer:
            if answer.status != 200:
                return self._status(answer.status, (200,)), None
            body = await answer.json()
        return ("ok" if body["suppressed"] == (number < self.args.list) else "wrong"), None

    async def click(self, n: int, instance: Instance):
        email = f"soak-click-{n}@example.org"
        url = mint_link(email, Scope("newsletters"), base_url=instance.base, secret_keys=SIGNING_KEY,
                        request_address=RECIPIENT).url
        async with self.http.post(url, data={"List-Unsubscribe": "One-Click"}) as answer:
            await answer.read()
            status = self._status(answer.status, (200,))
        return status, (email if status == "ok" else None)

    async def add(self, n: int, instance: Instance):
        email = f"soak-add-{n}@example.org"
        async with self.http.post(f"{instance.base}/v1/suppressions", json={"email": email, "reason": "manual"},
                                  headers=self.headers) as answer:
            await answer.read()
            status = self._status(answer.status, (200, 201))
        return status, (email if status == "ok" else None)

    async def mail(self, n: int, instance: Instance):
        sender = f"soak-mail-{n}@bench.example"
        code = await self.mailers[instance.number].send(sender)
        if code == 250:
            return "ok", sender
        return ("503" if code in (421, 451) else f"other: SMTP {code}"), None

    # -- faults ---------------------------------------------------------------------------

    async def faults(self) -> None:
        faults = self.args.faults
        kills = 0
        for position, fault in enumerate(faults, start=1):
            at = self.args.duration * position / (len(faults) + 1)
            await asyncio.sleep(max(0.0, at - self.now()))
            self.sample_memory_now(self.phases[-1], "end")
            if fault == "kill":
                instance = self.instances[kills % len(self.instances)]
                kills += 1
                phase = Phase(f"SIGKILL of {instance.name} at {self.now():.0f} s", self.now())
                self.phases[-1].end = phase.start
                self.phases.append(phase)
                self.sample_memory_now(phase, "start")
                instance.kill()
                asyncio.create_task(self.restart(instance, phase))
            else:
                phase = Phase(f"pg_ctl restart -m fast at {self.now():.0f} s", self.now())
                self.phases[-1].end = phase.start
                self.phases.append(phase)
                self.sample_memory_now(phase, "start")
                took = time.monotonic()
                await asyncio.to_thread(self.server.restart)
                took = time.monotonic() - took
                phase.recovery.append(f"PostgreSQL stopped and started again in {took:.2f} s")
                asyncio.create_task(self.watch_recovery(phase, phase.start + took, self.instances))

    async def restart(self, instance: Instance, phase: Phase) -> None:
        await asyncio.sleep(RESTART_AFTER_SECONDS)
        launched = self.now()
        instance.start()
        start_up = await instance.ready(self.http)
        phase.recovery.append(f"{instance.name} killed at {phase.start:.1f} s, started again at {launched:.1f} s,"
                              f" answering /healthz {start_up:.2f} s later")
        self.sample_memory_now(phase, "start", only=instance.number)
        await self.watch_recovery(phase, self.now(), [instance])

    async def watch_recovery(self, phase: Phase, since: float, instances: list[Instance]) -> None:
        """How long after `since` each instance first acknowledged a write (of any kind) whose
        request was due after it, and answered a check after it."""
        deadline = time.monotonic() + 120
        pending = {(instance.number, what) for instance in instances for what in ("check", "write")}
        while pending and time.monotonic() < deadline:
            for outcome in self.outcomes[-2000:]:
                if outcome.status != "ok" or outcome.due < since:
                    continue
                what = "check" if outcome.kind == "check" else "write"
                if (outcome.instance, what) in pending:
                    pending.discard((outcome.instance, what))
                    name = self.instances[outcome.instance].name
                    phase.recovery.append(f"{name}: first {what} answered after it was due"
                                          f" {outcome.due - phase.start:.2f} s after the fault began"
                                          f" (latency {outcome.latency * 1000:.0f} ms)")
            await asyncio.sleep(0.2)
        for number, what in sorted(pending):
            phase.recovery.append(f"{self.instances[number].name}: no {what} answered within 120 s")

    # -- memory -------------------------------------------------------------------------

    def sample_memory_now(self, phase: Phase, which: str, only: int | None = None) -> None:
        if which == "end":
            phase.load = load_average()
        target = phase.rss_start if which == "start" else phase.rss_end
        waited = phase.cpu_wait_start if which == "start" else phase.cpu_wait_end
        for instance in self.instances:
            if only is None or instance.number == only:
                target[instance.number] = instance.rss_mb()
                waited[instance.number] = instance.cpu_wait()

    async def sample_memory(self) -> None:
        while self.now() < self.args.duration:
            self.memory.append((self.now(), {i.number: i.rss_mb() for i in self.instances}))
            await asyncio.sleep(5)

    # -- the end ---------------------------------------------------------------------------

    async def verify(self) -> dict[tuple[str, int], set[str]]:
        """Every acknowledged write looked up on every instance (mail gets up to 60 s to be read):
        {(kind, instance looked up on): addresses it does not have}."""
        for instance in self.instances:
            if not instance.up:
                await instance.ready(self.http)
        acknowledged = {kind: [o.acknowledged for o in self.outcomes if o.kind == kind and o.acknowledged]
                        for kind in KINDS[1:]}
        topics = {"one-click": "newsletters", "email": None, "admin add": None}
        lost: dict[tuple[str, int], set[str]] = {}
        for instance in self.instances:
            for kind, emails in acknowledged.items():
                missing = await self.missing(instance, emails, topics[kind])
                for _ in range(600 if kind == "email" else 0):
                    if not missing:
                        break
                    await asyncio.sleep(0.1)
                    missing = await self.missing(instance, sorted(missing), topics[kind])
                lost[(kind, instance.number)] = missing
        return lost

    async def missing(self, instance: Instance, emails: list[str], topic: str | None) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(emails), 10_000):
            body = {"emails": emails[start:start + 10_000], "topic": topic}
            async with self.http.post(f"{instance.base}/v1/check", json=body, headers=self.headers) as answer:
                found.update((await answer.json())["suppressed"])
        return set(emails) - found


# -- the report ---------------------------------------------------------------------------


def report(soak: Soak, args, logs: str) -> str:
    names = {i.number: i.name for i in soak.instances}
    lost_anywhere = {kind: set().union(*(m for (k, _), m in soak.lost.items() if k == kind)) for kind in KINDS[1:]}
    lines = [
        f"soak of {args.duration / 60:g} min on {platform()}, {args.store}, {len(soak.instances)} instance(s),"
        f" list of {args.list:,}; faults: {', '.join(args.faults) or 'none'}; load average at the start"
        f" {args.load_before}, at the end {load_average()}",
        f"command: `python bench/soak.py {' '.join(sys.argv[1:])}`",
    ]
    for phase in soak.phases:
        within = [o for o in soak.outcomes if phase.start <= o.due < phase.end]
        lines += ["", f"**{phase.name}** ({phase.start:.0f}-{min(phase.end, args.duration):.0f} s)", "",
                  "| kind | sent | not sent (no instance up) | acknowledged | lost | 500 | 503 | wrong | other failures"
                  " | p50 ms | p99 ms | max ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for kind in KINDS:
            unsent = sum(1 for o in within if o.kind == kind and o.status == "not sent")
            of_kind = [o for o in within if o.kind == kind and o.status != "not sent"]
            ok = [o.latency * 1000 for o in of_kind if o.status == "ok"]
            acked = [o.acknowledged for o in of_kind if o.acknowledged]
            lost = "-" if kind == "check" else str(sum(1 for email in acked if email in lost_anywhere[kind]))
            others = [o.status for o in of_kind if o.status.startswith("other")]
            lines.append(
                f"| {kind} | {len(of_kind):,} | {unsent:,} | {'-' if kind == 'check' else f'{len(acked):,}'} | {lost} |"
                f" {sum(o.status == '500' for o in of_kind)} | {sum(o.status == '503' for o in of_kind)} |"
                f" {sum(o.status == 'wrong' for o in of_kind)} | {_others(others)} |"
                f" {_p(ok, 50)} | {_p(ok, 99)} | {max(ok) if ok else 0:.1f} |")
        rss = ", ".join(f"{names[n]} {phase.rss_start.get(n, 0):.0f} → {phase.rss_end.get(n, 0):.0f}"
                        for n in names)
        lines += ["", f"resident memory, service + children, MB (start → end of phase): {rss}"]
        length = min(phase.end, args.duration) - phase.start
        waits = ", ".join(
            f"{names[n]} {100 * max(0.0, phase.cpu_wait_end.get(n, 0) - phase.cpu_wait_start.get(n, 0)) / length:.0f}%"
            for n in names)
        lines.append(f"time the service's loop thread waited for a core (runnable, not running; a killed"
                     f" instance's from its restart): {waits} of the phase; load average {phase.load}")
        lines += [f"recovery: {line}" for line in phase.recovery]
    lines += ["", "acknowledged writes missing at the end, by instance asked: " + "; ".join(
        f"{kind} on {names[n]}: {len(missing)}" for (kind, n), missing in sorted(soak.lost.items()))]
    lines.append(f"requests never sent (the generator's bound of {args.in_flight} outstanding a kind): {soak.skipped}")
    lines.append(f"instance logs: {logs.count(' ERROR ')} ERROR lines, {logs.count('Traceback')} tracebacks,"
                 f" {logs.count(' WARNING ')} WARNING lines")
    return "\n".join(lines)


def _others(statuses: list[str]) -> str:
    if not statuses:
        return "0"
    kinds: dict[str, int] = {}
    for status in statuses:
        kinds[status[7:]] = kinds.get(status[7:], 0) + 1
    return f"{len(statuses)} ({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"


def _p(values: list[float], p: float) -> str:
    return f"{percentile(sorted(values), p):.1f}" if values else "-"


def platform() -> str:
    text = Path("/proc/cpuinfo").read_text()
    cpu = re.search(r"model name\s*:\s*(.+)", text)
    return f"{cpu.group(1).strip() if cpu else 'unknown CPU'}, {len(re.findall(r'^processor', text, re.M))} cores"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def duration(text: str) -> float:
    """Seconds from "360", "360s" or "6m"."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([sm]?)", text.strip())
    if found is None:
        raise argparse.ArgumentTypeError("a duration is like 360, 360s or 6m")
    return float(found.group(1)) * (60 if found.group(2) == "m" else 1)


def faults(text: str) -> list[str]:
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    for fault in chosen:
        if fault not in ("kill", "db-restart"):
            raise argparse.ArgumentTypeError(f"unknown fault {fault!r}: kill or db-restart")
    return chosen


def slow_statements(server, slow_ms: int) -> None:
    """Have PostgreSQL log every statement slower than `slow_ms`, and every lock waited on
    longer than its deadlock_timeout (set to the same): where a write's time goes."""
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET log_min_duration_statement = {int(slow_ms)}")
        conn.execute("ALTER SYSTEM SET log_lock_waits = on")
        conn.execute(f"ALTER SYSTEM SET deadlock_timeout = {int(slow_ms)}")
        conn.execute("SELECT pg_reload_conf()")


def slow_summary(log: Path, slow_ms: int) -> str:
    """The statements PostgreSQL logged as slower than `slow_ms`, by their first words."""
    counts: dict[str, list[float]] = {}
    lock_waits = 0
    for line in log.read_text(errors="replace").splitlines():
        found = re.search(r"duration: ([\d.]+) ms\s+(?:statement|execute [^:]*): (.*)", line)
        if found:
            words = " ".join(found.group(2).split()[:3])[:50]
            counts.setdefault(words, []).append(float(found.group(1)))
        elif "still waiting for" in line:
            lock_waits += 1
    rows = sorted(counts.items(), key=lambda item: -len(item[1]))[:12]
    lines = ["", f"PostgreSQL statements slower than {slow_ms} ms (its log; server side, so no client or queue time):",
             "", "| statement begins | count | median ms | max ms |", "| --- | --- | --- | --- |"]
    for words, durations in rows:
        durations.sort()
        lines.append(f"| `{words}` | {len(durations)} | {durations[len(durations) // 2]:.0f} | {durations[-1]:.0f} |")
    lines.append(f"\nlock waits longer than {slow_ms} ms: {lock_waits}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--instances", type=int, default=1, help="services on one store (PostgreSQL for more than one)")
    parser.add_argument("--faults", type=faults, default=[], help="in order, at equal spacing: kill, db-restart")
    parser.add_argument("--duration", type=duration, default=360.0, help="360, 360s or 6m")
    parser.add_argument("--list", type=int, default=1_000_000, help="suppressions imported before the soak")
    parser.add_argument("--check-rate", type=float, default=200, help="single checks a second")
    parser.add_argument("--click-rate", type=float, default=20, help="one-click POSTs a second")
    parser.add_argument("--mail-rate", type=float, default=5, help="email requests a second, over SMTP")
    parser.add_argument("--add-rate", type=float, default=5, help="admin adds (POST /v1/suppressions) a second")
    parser.add_argument("--slow-ms", type=int, default=20, help="PostgreSQL logs statements slower than this")
    parser.add_argument("--in-flight", type=int, default=200, help="most requests of one kind outstanding")
    args = parser.parse_args()
    if args.instances > 1 and args.store != "postgresql":
        parser.error("several instances share a PostgreSQL database: --store postgresql")
    if "db-restart" in args.faults and args.store != "postgresql":
        parser.error("db-restart restarts PostgreSQL: --store postgresql")
    args.load_before = load_average()

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    server, store = None, ""
    if args.store == "postgresql":
        from tests.postgres import PostgresServer

        server = PostgresServer(OUT / "pg").init()
        store = f'[store]\nurl = "{server.create_database("soak")}"\n'
        slow_statements(server, args.slow_ms)
    instances = [Instance(n, store) for n in range(args.instances)]
    try:
        csv_path = OUT / "list.csv"
        with open(csv_path, "w", encoding="utf-8") as fh:
            fh.write("email\n")
            fh.writelines(f"{address(n)}\n" for n in range(args.list))
        cli(instances[0].config, "import", str(csv_path))
        csv_path.unlink()
        key = cli(instances[0].config, "apikey", "create", "soak", "--scope", "admin")
        soak = asyncio.run(_soak(args, instances, key, server))
    finally:
        for instance in instances:
            instance.stop()
        if server is not None:
            server.stop()
    logs = "".join((OUT / f"instance-{i.name}.log").read_text() for i in instances)
    text = report(soak, args, logs)
    if server is not None:
        text += "\n" + slow_summary(OUT / "pg" / "log", args.slow_ms)
    (OUT / "report.md").write_text(text + "\n")
    print(text)
    print(f"\n(the report is also in {OUT / 'report.md'}; the instances' logs beside it)", file=sys.stderr)


async def _soak(args, instances: list[Instance], key: str, server) -> Soak:
    soak = Soak(args, instances, key, server)
    async with aiohttp.ClientSession() as http:
        for instance in instances:
            instance.start()
        for instance in instances:
            await instance.ready(http)
    print(f"soaking for {args.duration:g} s: {args.check_rate:g}/s checks, {args.click_rate:g}/s one-click POSTs,"
          f" {args.mail_rate:g}/s email requests, {args.add_rate:g}/s admin adds; faults: {args.faults}",
          file=sys.stderr)
    await soak.run()
    return soak


if __name__ == "__main__":
    main()
