"""The service and the CLI as processes forked from one that has already read their modules.

A test that starts `python run.py` or `python -m suppression` spends 0.3-0.5 s of CPU on the
interpreter and the imports before the program does anything of its own (a service started,
asked `/healthz` and stopped: 0.52-0.60 s cold, about 0.1 s forked), and the suite starts about
160 such processes. So each pytest worker keeps a launcher for each of the two programs, a
process started as cold as any (`python -m tests.support.launcher PROGRAM SOCKET`, the tests'
environment, the checkout as its folder). It imports what a cold start of that program has
imported when the program's own code begins (`PROGRAMS`: no more, so that a command that uses a
module it never imports fails here as it fails cold), freezes it (`gc.freeze()`), and waits.

For each launch it forks a minder, which forks the program: the program takes the test's
standard input, output and error, folder, environment and arguments, sets what importing
handlers/serve.py sets when unset (`ENVIRONMENT_DEFAULTS`), and runs `run.py` or the package's
`__main__` as the interpreter would (`runpy`, `__main__` being the program's file: the mail
reader's spawned children read it again as they do from a cold start). The minder tells the test
the program's pid, then its exit status when it ends, and reaps it only once the test has read
that: until then the pid is a zombie's, which no other process can take, so signalling it is
safe as with Popen.

What this gives up is what happens before the program's first line, which the tests about
start-up keep: a module marked `@pytest.mark.cold` (`tests/test_run.py`, `tests/test_cli.py`,
which runs every command at least once as a program, `tests/test_workers.py`) starts its
programs cold, as does a launch whose environment differs from the launcher's, and any other
command line (the installed wheel's, `python -c`). The programs one launcher forks share its
hash seed, where cold ones each draw their own.

`popen(...)` and `run(...)` take what `subprocess.Popen` and `subprocess.run` take for these
programs and give what they give: a process with its pid, its pipes, `poll`, `wait`,
`communicate` (one deadline, the output so far on the TimeoutExpired), `returncode`.
"""

import gc
import importlib
import io
import json
import os
import runpy
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from handlers.serve import ENVIRONMENT_DEFAULTS
from tests.support.paths import ROOT

RUN_PY = str(ROOT / "run.py")
# What each program has imported when its own code starts, cold: run.py imports handlers.serve,
# whose main() imports the CLI's parser and serve() the web app; `python -m suppression` runs
# the package's __main__, which imports handlers.serve, whose console() imports the CLI.
PROGRAMS = {
    "run.py": ("handlers.serve", "suppression.cli", "aiohttp.web", "handlers.app", "handlers.protocol"),
    "suppression": ("handlers.serve", "suppression.cli"),
}
_cold = [False]  # set for the running test by tests/conftest.py (@pytest.mark.cold)


def program_of(argv: list[str]) -> tuple[str, list[str]] | None:
    """("run.py" or "suppression", its arguments) for the two programs the launcher forks, else None."""
    if len(argv) >= 2 and argv[0] == sys.executable:
        if argv[1] == RUN_PY:
            return "run.py", argv[2:]
        if argv[1:3] == ["-m", "suppression"]:
            return "suppression", argv[3:]
    return None


def set_cold(cold: bool) -> None:
    _cold[0] = cold


def popen(argv, *, cwd=None, env=None, stdin=None, stdout=None, stderr=None, text=False):
    """subprocess.Popen(argv, ...), forked by this worker's launcher when it is one of the two
    programs, the running test does not want it cold, and its environment starts it as the
    launcher started."""
    argv = [str(arg) for arg in argv]
    forked = program_of(argv)
    if forked is not None and not _cold[0]:
        launcher = _launcher(forked[0])
        if launcher.starts_as(os.environ if env is None else env):
            return launcher.launch(argv, forked[1], cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                                   text=text)
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)


def run(argv, *, input=None, capture_output=False, timeout=None, cwd=None, env=None, text=False):
    """subprocess.run(argv, ...) through `popen`."""
    pipe = subprocess.PIPE if capture_output else None
    process = popen(argv, cwd=cwd, env=env, stdin=subprocess.PIPE if input is not None else None,
                    stdout=pipe, stderr=pipe, text=text)
    with process:
        try:
            out, err = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


class _Lines:
    """Lines read from a socket, whatever the reads cut them into."""

    def __init__(self, connection: socket.socket):
        self.connection, self.buffer = connection, b""

    def ready(self, timeout: float | None) -> bool:
        """Whether a whole line is here, waiting up to `timeout` (None: for ever) for one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self.connection], [], [], left)[0]:
                return False
            chunk = self.connection.recv(4096)
            if not chunk:
                raise RuntimeError("the launcher ended the launch without saying how it went")
            self.buffer += chunk
        return True

    def read(self) -> dict:
        self.ready(None)
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)


class Launched:
    """A program the launcher forked, as subprocess.Popen offers one: pid, stdin, stdout,
    stderr, poll, wait, communicate, send_signal, terminate, kill, returncode."""

    def __init__(self, lines: _Lines, pid: int, pipes: dict, args):
        self._lines, self.pid, self.args, self.returncode = lines, pid, args, None
        self.stdin, self.stdout, self.stderr = (pipes.get(name) for name in ("stdin", "stdout", "stderr"))
        self._threads: list[threading.Thread] = []
        self._status_lock = threading.Lock()  # as Popen's: one thread reads the end, others see it

    def poll(self):
        if self._status_lock.acquire(blocking=False):
            try:
                if self.returncode is None and self._lines.ready(0):
                    self._read_status()
            finally:
                self._status_lock.release()
        return self.returncode

    def wait(self, timeout=None):
        if not self._status_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        try:
            if self.returncode is None:
                if not self._lines.ready(timeout):
                    raise subprocess.TimeoutExpired(self.args, timeout)
                self._read_status()
        finally:
            self._status_lock.release()
        return self.returncode

    def _read_status(self) -> None:
        self.returncode = self._lines.read()["returncode"]
        self._lines.connection.close()  # the minder reaps the program now: its pid is free after

    def send_signal(self, sig: int) -> None:
        # Until this process has read the exit status the program is not reaped: its pid is its
        # own, alive or a zombie, never another process's.
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout=None):
        """As Popen.communicate: write `input` and read both outputs to their end, then wait;
        all within `timeout` (TimeoutExpired carries what was read by then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._threads:  # a call again after a timeout goes on with the same threads
            self._chunks = {"stdout": [], "stderr": []}
            self._threads = [threading.Thread(target=_read_all, args=(stream, self._chunks[name]), daemon=True)
                             for name, stream in (("stdout", self.stdout), ("stderr", self.stderr))
                             if stream is not None]
            if self.stdin is not None:
                self._threads.append(threading.Thread(target=_write_all, args=(self.stdin, input), daemon=True))
            for thread in self._threads:
                thread.start()
        chunks = self._chunks
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        output = {name: ("" if isinstance(getattr(self, name), io.TextIOBase) else b"").join(parts)
                  if getattr(self, name) is not None else None for name, parts in chunks.items()}
        if any(thread.is_alive() for thread in self._threads):
            raise subprocess.TimeoutExpired(self.args, timeout, output=output["stdout"], stderr=output["stderr"])
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        return output["stdout"], output["stderr"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # As Popen's: the pipes are closed first (a program writing to one nobody reads then
        # ends, as it would), unless communicate's threads still use them; then the wait.
        if not self._threads:
            self._close_pipes()
        self.wait()
        for thread in self._threads:  # they end with the program's pipes
            thread.join(5)
        # A reader still reading (the program's children hold its pipe) would hold a close up.
        if not any(thread.is_alive() for thread in self._threads):
            self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None:
                stream.close()


def _read_all(stream, parts: list) -> None:
    while chunk := stream.read(65536):
        parts.append(chunk)


def _write_all(stream, data) -> None:
    try:
        if data:
            stream.write(data)
        stream.close()
    except BrokenPipeError:
        pass  # as Popen: a program that stopped reading


class Launcher:
    """This worker's launcher for one program, and the launches it makes."""

    def __init__(self, program: str):
        from tests.support.cli import _env  # which imports this module

        self._folder = tempfile.mkdtemp(prefix="launcher-")
        self.path = os.path.join(self._folder, "socket")
        env = _env()  # the environment the tests give their programs
        self._env = _comparable(env)
        # Its standard input is this worker's pipe: when the worker ends, however it ends, the
        # launcher reads the end of it and ends too.
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.launcher", program, self.path],
                                        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self.process.stdout.readline()  # "ready", and the modules it has imported
        self.process.stdout.close()
        if not ready.startswith(b"ready "):
            self.process.wait(timeout=30)
            raise RuntimeError(f"the launcher did not start: {ready.decode(errors='replace').strip()!r},"
                               f" exit status {self.process.returncode}")
        self.modules: list[str] = json.loads(ready[len(b"ready "):])

    def starts_as(self, env) -> bool:
        """Whether a program with this environment starts as the launcher did: the environment
        is read as the interpreter starts and as modules are imported (NumPy's threads, the
        locale, the time zone), so any other difference makes the program a cold process. What
        the program sets if unset (`ENVIRONMENT_DEFAULTS`) counts as it leaves it."""
        return _comparable(env) == self._env

    def launch(self, argv: list[str], args: list[str], *, cwd, env, stdin, stdout, stderr, text) -> Launched:
        if cwd is not None and not os.path.isdir(cwd):  # as Popen: raised here, not in the program
            raise (NotADirectoryError if os.path.exists(cwd) else FileNotFoundError)(2, "No such directory", str(cwd))
        given, pipes = [], {}

        def end(name, spec, default_fd, reading):
            if spec == subprocess.PIPE:
                read_end, write_end = os.pipe()
                ours, theirs = (write_end, read_end) if reading else (read_end, write_end)
                mode = "w" if reading else "r"
                # As Popen's: text is the locale's encoding, read with universal newlines.
                pipes[name] = io.open(ours, mode, encoding=io.text_encoding(None)) if text else io.open(ours, mode + "b")
                given.append(theirs)
            elif spec == subprocess.DEVNULL:
                given.append(os.open(os.devnull, os.O_RDWR))
            elif spec is None:
                given.append(os.dup(default_fd))  # inherited, as a Popen child inherits it
            else:
                given.append(os.dup(spec if isinstance(spec, int) else spec.fileno()))

        end("stdin", stdin, 0, reading=True)
        end("stdout", stdout, 1, reading=False)
        if stderr == subprocess.STDOUT:
            given.append(os.dup(given[1]))
        else:
            end("stderr", stderr, 2, reading=False)
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.path)
            request = {"args": args, "cwd": str(cwd or os.getcwd()), "env": dict(os.environ if env is None else env)}
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], given)
        finally:
            for fd in given:
                os.close(fd)
        lines = _Lines(connection)
        started = lines.read()
        if "pid" not in started:
            connection.close()
            raise RuntimeError(f"the launcher could not start the program: {started.get('error')}")
        return Launched(lines, started["pid"], pipes, argv)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        shutil.rmtree(self._folder, ignore_errors=True)  # a launcher that was killed left it


# Read only as a program runs, or set by pytest for each test: not part of how it starts.
_RUN_TIME = frozenset({"SUPPRESSION_CONFIG", "PYTEST_CURRENT_TEST"})


def _comparable(env) -> dict[str, str]:
    return {name: value for name, value in {**ENVIRONMENT_DEFAULTS, **env}.items() if name not in _RUN_TIME}


_launchers: dict[str, Launcher] = {}
_launchers_lock = threading.Lock()  # two threads of a test may launch at once


def _launcher(program: str) -> Launcher:
    """This worker's launcher of `program`; a new one if the last has ended (killed, or failed)."""
    with _launchers_lock:
        launcher = _launchers.get(program)
        if launcher is None or launcher.process.poll() is not None:
            if launcher is not None:
                launcher.close()
            launcher = _launchers[program] = Launcher(program)
        return launcher


def close() -> None:
    """Ends this worker's launchers, if it started any (at the end of the session)."""
    with _launchers_lock:
        while _launchers:
            _launchers.popitem()[1].close()


# -- the launcher process ------------------------------------------------------------------------


def _serve(program: str, path: str):
    """Accept launches until standard input ends; returns only in a launched program's process."""
    for module in PROGRAMS[program]:
        importlib.import_module(module)
    # What the imports built lasts as long as each program: frozen, the collectors of the forked
    # programs leave it alone, and each would otherwise copy every page of it as it counted it
    # (a command's whole run, 0.21 -> 0.06 s of CPU). The app freezes what its start built too.
    gc.collect()
    gc.freeze()
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork copies one thread, and holds for ever every lock the others held
        sys.stdout.write(f"{threads} threads after the imports: cannot fork\n")
        sys.exit(1)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the minders are reaped by the kernel
    sys.stdout.write(f"ready {json.dumps(sorted(sys.modules))}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the worker read the line and closed its end
    os.close(devnull)
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable:  # the worker ended, or closed us: the folder goes with us
            listener.close()
            os.unlink(path)
            os.rmdir(os.path.dirname(path))
            sys.exit(0)
        try:
            connection, _ = listener.accept()
        except OSError:  # out of descriptors, for now: the test waits, and the next try may do
            time.sleep(0.05)
            continue
        fds: list[int] = []
        try:
            message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
            while not message.endswith(b"\n"):
                more = connection.recv(1 << 20)
                if not more:
                    raise ValueError("the request ended before its end")
                message += more
            request = json.loads(message)
            if os.fork() == 0:
                try:
                    listener.close()
                    return _mind(connection, request, fds)
                except BaseException:  # the minder's fork of the program failed: it ends, quietly
                    os._exit(1)
        except (OSError, ValueError) as exc:  # one launch failed, not the launcher
            try:
                connection.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
            except OSError:
                pass
        connection.close()
        for fd in fds:
            os.close(fd)


def _mind(connection: socket.socket, request: dict, fds: list[int]):
    """In the minder: fork the program, say its pid, then its exit status once it has ended, and
    reap it once the test has read that (its connection closed)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        pid = os.fork()
    except OSError as exc:
        connection.sendall(json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
        raise
    if pid == 0:
        connection.close()
        return request, fds
    try:
        for fd in fds:
            os.close(fd)
        connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, not yet reaped
        code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
        connection.sendall(json.dumps({"returncode": code}).encode() + b"\n")
        connection.recv(1)  # until the test closes its end (or ends)
    except OSError:
        pass  # the test went away: nobody to tell
    finally:
        os.waitpid(pid, 0)
        os._exit(0)


def _become(program: str, request: dict, fds: list[int]) -> None:
    """In the program's process: its standard files, folder, environment and arguments, then
    the program, which ends the process as it would end a cold one (SystemExit)."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for name, value in ENVIRONMENT_DEFAULTS.items():  # as importing handlers/serve.py sets them
        os.environ.setdefault(name, value)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if program == "run.py":
        sys.argv = [RUN_PY, *request["args"]]
        sys.path[0] = str(ROOT)
        runpy.run_path(RUN_PY, run_name="__main__")
    else:
        sys.argv = ["-m", *request["args"]]
        sys.path[0] = request["cwd"]
        runpy.run_module("suppression", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _become(sys.argv[1], *_serve(sys.argv[1], sys.argv[2]))
