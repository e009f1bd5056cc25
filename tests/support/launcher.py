"""The service and the CLI as processes forked from one that has already read their modules.

A test that starts `python run.py` or `python -m suppression` spends 0.3-0.5 s of CPU on the
interpreter and the imports before the program does anything of its own (a service started,
asked `/healthz` and stopped: 0.52-0.60 s cold, 0.09 s forked), and the suite starts about 160
such processes. So each pytest worker keeps one launcher, a process started as cold as any
(`python -m tests.support.launcher`, the tests' environment, the checkout as its folder), which
reads the modules the two programs read and then waits. For each program a test starts, the
launcher forks; the child takes the test's standard input, output and error, folder,
environment and arguments, and runs `run.py` or the package's `__main__` as the interpreter
would (`runpy`, `__main__` being the program's file: the mail reader's spawned children read it
again as they do from a cold start). What importing handlers/serve.py sets in the environment
if unset (`ENVIRONMENT_DEFAULTS`: NumPy's one BLAS thread) is set again in the test's.

What this gives up is the start of the interpreter and the reading of the modules, which the
tests about start-up keep: a module marked `@pytest.mark.cold` (`tests/test_run.py`,
`tests/test_cli.py`, which runs every command at least once as a program, `tests/test_workers.py`)
starts its programs cold, as does any other command line (the installed wheel's, `python -c`).

`popen(...)` and `run(...)` take what `subprocess.Popen` and `subprocess.run` take for these
programs and give what they give: a process with its pid (the program's own, to signal), its
pipes, `poll`, `wait` and `returncode`. Each launch has a minder, a second fork that waits for
the program and reports its exit status over the launch's connection.
"""

import gc
import io
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from handlers.serve import ENVIRONMENT_DEFAULTS
from tests.support.paths import ROOT

RUN_PY = str(ROOT / "run.py")
_cold = [False]  # set for the running test by tests/conftest.py (@pytest.mark.cold)


def program_of(argv) -> str | None:
    """"run.py" or "suppression" for the two programs the launcher forks, else None."""
    argv = [str(arg) for arg in argv]
    if len(argv) >= 2 and argv[0] == sys.executable:
        if argv[1] == RUN_PY:
            return "run.py"
        if argv[1:3] == ["-m", "suppression"]:
            return "suppression"
    return None


def set_cold(cold: bool) -> None:
    _cold[0] = cold


def popen(argv, *, cwd=None, env=None, stdin=None, stdout=None, stderr=None, text=False):
    """subprocess.Popen(argv, ...), forked by this worker's launcher when it is one of the two
    programs and the running test does not want it cold."""
    program = program_of(argv)
    if program is None or _cold[0] or not _launcher().starts_as(os.environ if env is None else env):
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)
    return _launcher().launch(program, [str(arg) for arg in argv[2 if program == "run.py" else 3:]],
                              cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, text=text)


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


class Launched:
    """A program the launcher forked, as subprocess.Popen offers one: pid, stdin, stdout,
    stderr, poll, wait, communicate, send_signal, terminate, kill, returncode."""

    def __init__(self, connection: socket.socket, pid: int, pipes: dict, text: bool, args):
        self._connection, self.pid, self.args, self.returncode = connection, pid, args, None
        self._text = text
        self._status = b""
        self.stdin, self.stdout, self.stderr = (pipes.get(name) for name in ("stdin", "stdout", "stderr"))

    def poll(self):
        if self.returncode is None and select.select([self._connection], [], [], 0)[0]:
            self._read_status()
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            if not select.select([self._connection], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self._read_status()
        return self.returncode

    def _read_status(self) -> None:
        while not self._status.endswith(b"\n"):
            chunk = self._connection.recv(64)
            if not chunk:
                raise RuntimeError("the launcher's minder ended without the program's exit status")
            self._status += chunk
        status = json.loads(self._status)["status"]
        self.returncode = os.waitstatus_to_exitcode(status)
        self._connection.close()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # as Popen: never signal a pid that may have been reused
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout=None):
        """As Popen.communicate: write `input`, read both outputs to their end, then wait."""
        results: dict[str, object] = {}

        def read(name, stream):
            results[name] = stream.read()

        readers = [threading.Thread(target=read, args=(name, stream), daemon=True)
                   for name, stream in (("stdout", self.stdout), ("stderr", self.stderr)) if stream is not None]
        for reader in readers:
            reader.start()
        if self.stdin is not None:
            try:
                if input:
                    self.stdin.write(input)
                self.stdin.close()
            except BrokenPipeError:
                pass  # as Popen: a program that stopped reading
        for reader in readers:
            reader.join(timeout)
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(timeout)
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        return results.get("stdout"), results.get("stderr")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for stream in (self.stdout, self.stderr, self.stdin):
            if stream is not None and not stream.closed:
                stream.close()
        self.wait()


class Launcher:
    """This worker's launcher process, and the launches it makes."""

    def __init__(self):
        self._folder = tempfile.mkdtemp(prefix="launcher-")
        self.path = os.path.join(self._folder, "socket")
        from tests.support.cli import _env  # which imports this module

        env = _env()  # the environment the tests give their programs
        # Its standard input is this worker's pipe: when the worker ends, however it ends, the
        # launcher reads the end of it and ends too.
        self.process = subprocess.Popen([sys.executable, "-m", "tests.support.launcher", self.path],
                                        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self.process.stdout.readline()
        self.process.stdout.close()
        if ready != b"ready\n":
            self.process.wait(timeout=30)
            raise RuntimeError(f"the launcher did not start (exit status {self.process.returncode})")
        self._env = _comparable(env)

    def starts_as(self, env) -> bool:
        """Whether a program with this environment starts as the launcher did: the environment
        is read as the interpreter starts and as modules are imported (NumPy's threads, the
        locale, the time zone), so any other difference makes the program a cold process. What
        the program sets if unset (handlers/serve.py: one BLAS thread) counts as it leaves it,
        set in this process or not (the first test that imported handlers/serve.py set it)."""
        return _comparable(env) == self._env

    def launch(self, program: str, args: list[str], *, cwd, env, stdin, stdout, stderr, text) -> Launched:
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
                fd = os.open(os.devnull, os.O_RDWR)
                given.append(fd)
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
            request = {"program": program, "args": args, "cwd": str(cwd or os.getcwd()),
                       "env": dict(os.environ if env is None else env)}
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], given)
        finally:
            for fd in given:
                os.close(fd)
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = connection.recv(64)
            if not chunk:
                raise RuntimeError("the launcher did not start the program")
            answer += chunk
        return Launched(connection, json.loads(answer)["pid"], pipes, text,
                        [sys.executable, RUN_PY if program == "run.py" else "-m suppression", *args])

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)
        for name in os.listdir(self._folder):
            os.unlink(os.path.join(self._folder, name))
        os.rmdir(self._folder)


# Read only as a program runs, or set by pytest for each test: not part of how it starts.
_RUN_TIME = frozenset({"SUPPRESSION_CONFIG", "PYTEST_CURRENT_TEST"})


def _comparable(env) -> dict[str, str]:
    return {name: value for name, value in {**ENVIRONMENT_DEFAULTS, **env}.items() if name not in _RUN_TIME}


_launchers: list[Launcher] = []


def _launcher() -> Launcher:
    if not _launchers:
        _launchers.append(Launcher())
    return _launchers[0]


def close() -> None:
    """Ends this worker's launcher, if it started one (at the end of the session)."""
    while _launchers:
        _launchers.pop().close()


# -- the launcher process ------------------------------------------------------------------------


def _read_the_programs() -> None:
    """Import what `run.py` and `python -m suppression` import."""
    import aiohttp.web  # noqa: F401
    import handlers.app  # noqa: F401
    import handlers.protocol  # noqa: F401
    import handlers.serve  # noqa: F401
    import suppression.cli  # noqa: F401
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        pass
    # What the imports built lasts as long as each program: frozen, the collectors of the forked
    # programs leave it alone, and each would otherwise copy every page of it as it counted it
    # (a command's whole run, 0.21 -> 0.06 s of CPU). The app freezes what its start built too.
    gc.collect()
    gc.freeze()


def _serve(path: str):
    """Accept launches until standard input ends; returns only in a launched program's process."""
    _read_the_programs()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the minders are reaped by the kernel
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the worker read "ready" and closed its end
    os.close(devnull)
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [])
        if sys.stdin in readable:
            listener.close()
            os.unlink(path)
            sys.exit(0)
        connection, _ = listener.accept()
        message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
        while not message.endswith(b"\n"):
            more = connection.recv(1 << 20)
            if not more:
                break
            message += more
        if os.fork() == 0:
            listener.close()
            return _mind(connection, json.loads(message), fds)
        connection.close()
        for fd in fds:
            os.close(fd)


def _mind(connection: socket.socket, request: dict, fds: list[int]):
    """In the minder: fork the program, say its pid, wait for it, say its exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        connection.close()
        return request, fds
    for fd in fds:
        os.close(fd)
    connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    try:
        connection.sendall(json.dumps({"status": status}).encode() + b"\n")
    finally:
        os._exit(0)


def _become(request: dict, fds: list[int]) -> None:
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
    if request["program"] == "run.py":
        sys.argv = [RUN_PY, *request["args"]]
        sys.path[0] = str(ROOT)
        runpy.run_path(RUN_PY, run_name="__main__")
    else:
        sys.argv = ["-m", *request["args"]]
        sys.path[0] = request["cwd"]
        runpy.run_module("suppression", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _become(*_serve(sys.argv[1]))
