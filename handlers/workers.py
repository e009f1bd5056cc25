"""More processes answering HTTP on the service's port: `[http] workers = N` (0: one per core).

The first process is the service as it always was: it serves every route, keeps the one
writer, the SMTP and IMAP intake, webhooks, retention and the snapshot. It starts N - 1
workers (handlers/worker.py), each with a socket of its own on the same port (SO_REUSEPORT:
the kernel spreads connections over them). A worker answers checks (`GET
/v1/suppressions/{email}` and `POST /v1/check`) from its own index, mapped from the snapshot
the first process wrote, so the keys are in memory once; everything else it passes to the
first process on a listener of its own (127.0.0.1, a port chosen at start), with the client's
address and a token only the processes of this service know. A write is answered by the first
process, and a check on a worker that starts after it sees it: the first process raises the
change word of data_dir before answering, and a worker's check follows the log up to it first
(suppression/changesignal.py), as a check after a CLI command does.

A worker that ends while the service runs is started again (after a pause that grows while it
keeps ending); SIGTERM to the first process stops the workers, then the service.
"""

import asyncio
import gc
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from handlers.metrics import Metrics

log = logging.getLogger(__name__)

TOKEN_ENV = "SUPPRESSION_WORKER_TOKEN"  # how a worker learns the token: not on its command line, which anyone may read
TOKEN_HEADER = "X-Suppression-Worker"
FORWARDED_FOR = "X-Forwarded-For"
COUNTS_PATH = "/_workers/counts"  # where a worker sends its counters, every COUNTS_SECONDS
COUNTS_SECONDS = 1.0
STOP_SECONDS = 10.0  # a worker's own clean stop; then it is killed
_LIVED_SECONDS = 60.0  # a worker that lived this long and ended is started again at once


@dataclass
class WorkerPlan:
    """What the first process needs to start its workers: set by `serve` before the app starts."""

    count: int  # processes answering HTTP, the first included
    config: str | None  # the configuration file the workers read, as the first did
    port: int  # the public port, as bound (a configured 0 is a port by now)
    forward_to: str  # the first process's own listener, for what workers pass on
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    # Workers forked at start and waiting to be let go: number -> (process id, the pipe that lets it go).
    forked: dict[int, tuple[int, int]] = field(default_factory=dict)
    parent: int = field(default_factory=os.getpid)

    def trusts(self, request: web.Request) -> bool:
        """Whether the request came from one of our workers (constant-time)."""
        presented = request.headers.get(TOKEN_HEADER)
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), self.token.encode())


WORKER_PLAN = web.AppKey("worker_plan", WorkerPlan)


def port_socket(host: str, port: int, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to host:port; with `reuse_port`, one of several on that port (each
    process of this service has its own; the kernel spreads connections over them). It listens
    only once its app has started (asyncio's create_server): a process that is still loading
    its index is not given connections to hold."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def client_address(request: web.Request) -> str:
    """Who sent a request: the peer, or for a request a worker passed on, the worker's peer."""
    plan = request.app.get(WORKER_PLAN)
    if plan is not None and plan.trusts(request):
        return request.headers.get(FORWARDED_FOR) or "unknown"
    return request.remote or "unknown"


class Workers:
    """The first process's workers: forked before it started anything, let go once the service
    is ready, started afresh when one ends while it runs, stopped before the service stops."""

    def __init__(self, plan: WorkerPlan, metrics: Metrics):
        self.plan = plan
        self.metrics = metrics
        self.processes: dict[int, int] = {}  # worker number -> its process id, while it runs
        self.ready: set[int] = set()
        self._keeping: list[asyncio.Task] = []
        self._stopping = False

    def start(self) -> None:
        for number in range(1, self.plan.count):
            self._keeping.append(asyncio.create_task(self._keep(number), name=f"worker-{number}"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._keeping:  # none starts another from here on
            task.cancel()
        await asyncio.gather(*self._keeping, return_exceptions=True)
        self.processes.update(let_go_unstarted(self.plan))
        for pid in self.processes.values():
            _signal(pid, signal.SIGTERM)
        # One deadline for all of them (a machine of many cores stops within its unit's timeout).
        waiting = {asyncio.ensure_future(ended(pid)): number for number, pid in self.processes.items()}
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=STOP_SECONDS)
            for task in late:
                log.warning("worker %d did not stop within %.0f s; killed", waiting[task], STOP_SECONDS)
                _signal(self.processes[waiting[task]], signal.SIGKILL)
            await asyncio.gather(*waiting)
        self.processes.clear()
        log.info("workers stopped")

    def took_counts(self, number: int, process: int, counts: dict) -> None:
        """A worker's counters, as it sends them; the first time, it is serving."""
        if self.processes.get(number) != process:
            return  # a worker that has ended: what it sent last is counted already
        self.metrics.take_counts(number, counts)
        if number not in self.ready:
            self.ready.add(number)
            log.info("worker %d ready", number)

    async def _keep(self, number: int) -> None:
        pause = 0.5
        while not self._stopping:
            started = time.monotonic()
            try:
                pid = self._let_go_or_spawn(number)
                self.processes[number] = pid
                log.info("worker %d started (process %d)", number, pid)
                returncode = await ended(pid)  # if cancelled (stopping), stop() waits for it
            except OSError as exc:  # no process could be made (too many, no memory): try again later
                log.error("worker %d could not be started: %s", number, exc)
                returncode = None
            self.processes.pop(number, None)
            self.ready.discard(number)
            self.metrics.retire(number)
            if self._stopping:
                return
            if time.monotonic() - started >= _LIVED_SECONDS:
                pause = 0.5
            if returncode is not None:
                how = f"killed by signal {-returncode}" if returncode < 0 else f"exit status {returncode}"
                log.warning("worker %d ended (%s); starting it again in %.1f s", number, how, pause)
            await asyncio.sleep(pause)
            pause = min(30.0, pause * 2)

    def _let_go_or_spawn(self, number: int) -> int:
        forked = self.plan.forked.pop(number, None)
        if forked is not None:
            pid, go = forked
            try:
                os.write(go, b"1")  # the snapshot it maps is on disk
            except BrokenPipeError:
                pass  # it ended while it waited: ended() says how, and it is started again
            finally:
                os.close(go)
            return pid
        # Started again: a fresh interpreter (this process has threads now: no fork).
        return os.posix_spawn(sys.executable, [
            sys.executable, "-m", "handlers.worker", str(number), str(self.plan.port), self.plan.forward_to,
            str(self.plan.parent), *(["--config", self.plan.config] if self.plan.config else []),
        ], {**os.environ, TOKEN_ENV: self.plan.token, "PYTHONPATH": _importable_from()},
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)])


def _importable_from() -> str:
    """PYTHONPATH for a worker started afresh: where `handlers` is, whatever the working folder."""
    here = str(Path(__file__).resolve().parent.parent)
    return os.pathsep.join(filter(None, (here, os.environ.get("PYTHONPATH"))))


def fork_workers(plan: WorkerPlan, settings, sockets: list[socket.socket]) -> None:
    """Fork the workers now, before this process starts a loop or a thread of its own: each then
    shares the interpreter and every module this process imported, page by page until one of
    them writes it, rather than importing its own (handlers/worker.py's run_forked). Each waits
    until Workers lets it go.

    A process with a thread besides its own forks none: a fork copies one thread, and every lock
    the others held at that moment, held for ever. A library starts such a thread when told to
    (NumPy's BLAS, with OPENBLAS_NUM_THREADS set above 1). Each worker then starts afresh, as one
    that ended does: it shares nothing, so it holds its own memory."""
    from handlers import worker  # everything a worker runs, imported once, here

    threads = _threads()
    if threads > 1:
        log.warning("%d threads in this process before it forks its workers (a library's: OPENBLAS_NUM_THREADS"
                    " or OMP_NUM_THREADS above 1?); each worker starts afresh instead", threads)
        return
    gc.freeze()  # kept out of the collectors' sight, so no collection writes to the shared pages
    go_ends: list[int] = []
    for number in range(1, plan.count):
        wait, go = os.pipe()
        # Ctrl-C held until the child ignores it: it must never return into this process's code.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            pid = os.fork()
            if pid == 0:
                worker.run_forked(settings, number, plan, wait, [sock.fileno() for sock in sockets] + go_ends + [go])
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        os.close(wait)
        go_ends.append(go)
        plan.forked[number] = (pid, go)


def _threads() -> int:
    """This process's threads, the ones Python did not start included (Linux's /proc; without
    it, the ones Python knows of)."""
    try:
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Threads:")).split()[1])
    except OSError:
        return threading.active_count()


def let_go_unstarted(plan: WorkerPlan) -> dict[int, int]:
    """Close the pipes of workers forked and never let go (they end, reading nothing); their ids."""
    unstarted = {}
    for number, (pid, go) in plan.forked.items():
        os.close(go)
        unstarted[number] = pid
    plan.forked.clear()
    return unstarted


async def ended(pid: int) -> int:
    """Wait until our child `pid` ends; its exit status (-N: killed by signal N)."""
    loop = asyncio.get_running_loop()
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        handle = None  # ended already: waitpid has it
    except OSError:  # no pidfd here (a kernel before 5.3, a seccomp profile): a thread waits instead
        return await asyncio.to_thread(_reaped, pid)
    if handle is not None:
        gone = loop.create_future()
        loop.add_reader(handle, lambda: gone.done() or gone.set_result(None))
        try:
            await gone
        finally:
            loop.remove_reader(handle)
            os.close(handle)
    return _reaped(pid)


def _reaped(pid: int) -> int:
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 1  # reaped by someone else: ended, how is not known
    return os.waitstatus_to_exitcode(status)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


async def take_counts(request: web.Request) -> web.Response:
    """A worker's counters (COUNTS_PATH): only from our workers themselves (a request a worker
    passed on has the token too, and the client's address); anyone else finds nothing here."""
    plan = request.app.get(WORKER_PLAN)
    if plan is None or not plan.trusts(request) or FORWARDED_FOR in request.headers:
        return web.json_response({"error": "not found"}, status=404)
    try:
        body = json.loads(await request.read())
        number, process = int(body["worker"]), int(body["process"])
        counts = {
            "requests": Counter({(str(route), int(status)): int(n) for route, status, n in body["requests"]}),
            "checked": Counter({str(kind): int(n) for kind, n in body["checked"].items()}),
            "answered_early": Counter({str(why): int(n) for why, n in body["answered_early"].items()}),
        }
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "counts expected"}, status=400)
    request.app[WORKERS].took_counts(number, process, counts)
    return web.json_response({"ok": True})


def counts_of(number: int, metrics: Metrics, answered_early: Counter) -> bytes:
    """What a worker sends (take_counts reads it)."""
    return json.dumps({
        "worker": number,
        "process": os.getpid(),
        "requests": [[route, status, n] for (route, status), n in metrics.requests.items()],
        "checked": dict(metrics.checked),
        "answered_early": dict(answered_early),
    }).encode()


WORKERS = web.AppKey("workers", Workers)
