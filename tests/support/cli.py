"""The admin CLI as an operator runs it (`python -m suppression` in a subprocess: `run_cli`),
and the same command line run in this process (`cli`) for the tests about what a command does
rather than about the program starting, exiting and sharing files with another process."""

import asyncio
import contextlib
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

from tests.support import launcher
from tests.support.paths import ROOT


def _not_on_an_event_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # not on an event loop's thread: blocking here blocks nobody
    # A server in this loop would stand still meanwhile, holding whatever it was in the
    # middle of (a row lock the CLI then waits for, until the timeout).
    raise AssertionError(f"{name} blocks the event loop; call it as `await in_thread({name}, ...)`")


def run_cli(*args: str, config: Path | None = None, stdin: str | None = None, cwd: Path | None = None):
    """`python -m suppression [--config CONFIG] ARGS...` in a subprocess: a CompletedProcess
    (forked by tests/support/launcher.py unless the test is marked `cold`)."""
    _not_on_an_event_loop("run_cli")
    command = [sys.executable, "-m", "suppression"]
    if config is not None:
        command += ["--config", str(config)]
    return launcher.run(
        command + list(args), capture_output=True, text=True, input=stdin, cwd=cwd or ROOT,
        env=_env(), timeout=120,
    )


def cli(*args: str, config: Path | None = None, stdin: str | None = None, cwd: Path | None = None):
    """The same command line as `run_cli`, run by the CLI's own entry point in this process, with
    what it prints captured: a CompletedProcess with its exit status, stdout and stderr.

    What differs from a subprocess is only what a process owns: it starts no interpreter, and
    it shares this one's locks. So the tests of a command's behaviour use it; the tests that the
    program starts, exits, or meets a running service from outside use `run_cli` (every command
    has one such test: tests/test_cli.py)."""
    _not_on_an_event_loop("cli")
    from handlers.serve import console  # what `python -m suppression` runs

    argv = (["--config", str(config)] if config is not None else []) + list(args)
    out, err = io.StringIO(), io.StringIO()
    # What a subprocess with no logging configured prints: warnings and errors, the message alone.
    printed_logs = logging.StreamHandler(err)
    printed_logs.setLevel(logging.WARNING)
    printed_logs.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    saved_config = os.environ.pop("SUPPRESSION_CONFIG", None)
    saved_stdin, saved_cwd = sys.stdin, os.getcwd()
    sys.stdin = io.StringIO(stdin or "")
    root.addHandler(printed_logs)
    try:
        os.chdir(cwd or ROOT)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = console(argv)
            except SystemExit as exit_:  # argparse's usage errors, as the process would end
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        root.removeHandler(printed_logs)
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
        if saved_config is not None:
            os.environ["SUPPRESSION_CONFIG"] = saved_config
    return subprocess.CompletedProcess(["suppression", *argv], code, out.getvalue(), err.getvalue())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("SUPPRESSION_CONFIG", None)
    return env
