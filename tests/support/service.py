"""The service as a process (`python run.py --config ...`), for start-up, signals and restarts."""

import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.support import launcher
from tests.support.cli import _env
from tests.support.paths import ROOT


class ServiceProcess:
    """`python run.py --config ...` in a subprocess, for start-up, signals and restarts (forked
    by tests/support/launcher.py unless the test is marked `cold`); or any other `command` that
    starts the service (then with `env` as given)."""

    def __init__(self, config: Path | None, http_port: int, cwd: Path,
                 command: list[str] | None = None, env: dict[str, str] | None = None):
        self.config, self.http_port, self.cwd = config, http_port, cwd
        self.command = command or [sys.executable, str(ROOT / "run.py")]
        self.env = env if env is not None else _env()
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{http_port}"

    def start(self) -> "ServiceProcess":
        options = ["--config", str(self.config)] if self.config is not None else []
        self.process = launcher.popen(
            [*self.command, *options],
            cwd=self.cwd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        # Read the log as it comes: a full pipe would block the service's logging, and its loop.
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self.wait_ready()
        return self

    def _read_output(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, attempts: int = 300) -> None:
        # Polls until the service answers; a bounded wait for readiness, not a timing test.
        for _ in range(attempts):
            if self.process.poll() is not None:
                self._reader.join(timeout=30)
                self.process.stdout.close()
                raise AssertionError(f"service exited early:\n{self.output}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("service did not become ready")

    def wait_for_line(self, text: str, seconds: float = 30.0) -> None:
        """Until the log holds `text`: for work the service starts in the background (retention
        runs at start, then hourly), a bounded wait, not a timing test."""
        deadline = time.monotonic() + seconds
        while text not in self.output:
            if self.process.poll() is not None:
                self._reader.join(timeout=30)  # its last lines, written as it ended
                if text in self.output:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the log never said {text!r}:\n{self.output}")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(sig)
        self._finish()
        return self.process.returncode, self.output

    def _finish(self) -> None:
        self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        self.process.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.process is not None and not self.process.stdout.closed:
            if self.process.poll() is None:
                self.process.kill()
            self._finish()
        if exc[0] is not None and self.process is not None:
            # Whatever failed in the block (a refused connection, a wait that never ended), the
            # service's own words are beside it: pytest shows a failed test's output.
            print(f"--- the end of the service's log ---\n{self.output[-3000:]}")
