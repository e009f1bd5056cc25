"""The launcher the tests start their programs from (tests/support/launcher.py): a program it
forks behaves, to the test that started it, as the same program started cold."""

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time

import pytest

from tests.support import launcher
from tests.support.cli import _env
from tests.support.http import free_port
from tests.support.paths import ROOT
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

CLI = [sys.executable, "-m", "suppression"]
RUN = [sys.executable, str(ROOT / "run.py")]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("PPid:")).split()[1])


def state_of(pid: int) -> str | None:
    """The process's state letter ("Z": ended, not yet reaped), or None once its pid is free."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):  # gone before the open, or between it and the read
        return None


def until(condition, seconds: float = 30.0) -> None:
    # A bounded wait for something another process does, not a timing assertion.
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def forked_and_cold(argv, input=None, **options):
    """The same command line forked and cold: two (returncode, stdout, stderr)."""
    done = []
    for cold in (False, True):
        launcher.set_cold(cold)
        try:
            process = launcher.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, **options)
        finally:
            launcher.set_cold(False)
        assert isinstance(process, subprocess.Popen if cold else launcher.Launched)
        with process:
            out, err = process.communicate(input, timeout=60)
        done.append((process.returncode, out, err))
    return done


def test_a_forked_command_prints_and_exits_as_a_cold_one(tmp_path):
    config = write_config(tmp_path / "config.toml", tmp_path / "data", free_port(), free_port())
    for argv, code in ((["--help"], 0), (["--config", str(config), "check", "not-an-address"], 2),
                       (["no-such-command"], 2)):
        forked, cold = forked_and_cold([*CLI, *argv], cwd=tmp_path, env=_env())
        assert forked == cold and forked[0] == code, (forked, cold)
    forked, cold = forked_and_cold([*CLI, "--config", str(config), "import", "-"], cwd=tmp_path, env=_env(),
                                   input="email\nsomeone@example.com\n")
    assert forked[0] == 0 and "1 new suppressions" in forked[1], forked  # its standard input
    assert cold[0] == 0 and "1 already suppressed" in cold[1], cold


@pytest.mark.parametrize("program", ["suppression", "run.py"])
def test_a_forked_program_starts_with_no_module_a_cold_start_had_not_imported(tmp_path, program):
    # A command that used a module it never imports fails cold, and must fail forked too. Cold:
    # `--help` (every module a command starts with), or a service that stops at a port in use
    # (every module it has read by then, building its app included).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = write_config(tmp_path / "config.toml", tmp_path / "data", taken.getsockname()[1], free_port())
        argv = ["-m", "suppression", "--help"] if program == "suppression" else [str(ROOT / "run.py"), "--config", str(config)]
        cold = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, cwd=tmp_path,
                              env=_env(), timeout=60)
    assert cold.returncode == (0 if program == "suppression" else 1), cold.stderr[-2000:]
    imported = {line.rsplit("|", 1)[1].strip() for line in cold.stderr.splitlines() if line.startswith("import time:")}
    # Packages' modules; not the standard library's, the launcher's own, or the names extension
    # modules put in sys.modules themselves (`_cython_3_1_4`, `_openssl.lib`), which no import lists.
    forked = {name for name in launcher._launcher(program).modules
              if name.partition(".")[0] not in sys.stdlib_module_names | {"tests", "cython_runtime"}
              and not name.startswith("_")}
    assert {"handlers.serve", "suppression.cli"} <= forked
    assert forked <= imported, sorted(forked - imported)


def test_a_forked_program_runs_in_the_tests_folder_and_environment(tmp_path):
    # Relative to the test's folder, with a data folder the embedded defaults (./data) would not use.
    write_config(tmp_path / "config.toml", tmp_path / "configured", free_port(), free_port())
    added = launcher.popen([*CLI, "add", "b@example.com"], cwd=tmp_path, stdout=subprocess.PIPE, text=True,
                           env={**_env(), "SUPPRESSION_CONFIG": "config.toml"})
    assert isinstance(added, launcher.Launched)
    with added:
        assert "b@example.com" in added.communicate(timeout=60)[0] and added.returncode == 0
    checked = launcher.run([*CLI, "--config", "config.toml", "check", "b@example.com"], capture_output=True,
                           text=True, cwd=tmp_path, env=_env(), timeout=60)
    assert checked.returncode == 0 and '"suppressed": true' in checked.stdout, checked
    assert not (tmp_path / "data").exists()


def test_a_forked_services_children_get_its_environment_and_what_it_sets_itself(tmp_path):
    # The mail reader's children are spawned with the service's environment as it stands.
    http, smtp = free_port(), free_port()
    write_config(tmp_path / "config.toml", tmp_path / "data", http, smtp)
    env = {name: value for name, value in _env().items() if name != "OPENBLAS_NUM_THREADS"}
    env["SUPPRESSION_CONFIG"] = str(tmp_path / "config.toml")
    with ServiceProcess(None, http, tmp_path, env=env) as service:
        assert isinstance(service.process, launcher.Launched)
        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as session:
            session.sendmail("person@example.com", ["PLUSinfo@plusnxt.com"], b"Subject: hello\r\n\r\nhello\r\n")

        def children():
            return [pid for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
                    if state_of(pid) not in (None, "Z") and _parent_or_none(pid) == service.process.pid]

        until(children)
        with open(f"/proc/{children()[0]}/environ", "rb") as environ:
            seen = dict(item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item)
        service.stop()
    assert seen[b"SUPPRESSION_CONFIG"] == str(tmp_path / "config.toml").encode()
    assert seen[b"OPENBLAS_NUM_THREADS"] == b"1"


def _parent_or_none(pid: int) -> int | None:
    try:
        return parent_of(pid)
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None


def test_a_service_is_forked_and_its_pid_stays_its_own_until_its_end_is_read(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    with ServiceProcess(config, port, tmp_path) as service:
        assert parent_of(service.process.pid) != os.getpid()  # not this process's child: forked warm
        code, output = service.stop(signal.SIGTERM)
    assert code == 0 and "serving HTTP" in output
    with ServiceProcess(config, port, tmp_path) as service:
        pid = service.process.pid
        os.kill(pid, signal.SIGKILL)  # ended behind the launch's back (a crash, an OOM kill)
        until(lambda: state_of(pid) == "Z")
        # Not reaped while its end is unread: no other process can be given the pid it would signal.
        assert state_of(pid) == "Z"
        service.process.kill()
        assert service.process.wait(timeout=60) == -signal.SIGKILL
        until(lambda: state_of(pid) is None)  # reaped once its end was read


@pytest.mark.cold
def test_a_test_marked_cold_starts_its_programs_from_a_cold_interpreter(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    with ServiceProcess(config, port, tmp_path) as service:
        assert parent_of(service.process.pid) == os.getpid()
        assert isinstance(service.process, subprocess.Popen)


def test_an_environment_that_changes_how_a_program_starts_makes_it_cold(tmp_path):
    # NumPy reads this as it is imported, which the launcher has done: only a cold start honours it.
    probe = launcher.popen([*CLI, "--help"], env={**_env(), "OPENBLAS_NUM_THREADS": "2"},
                           stdout=subprocess.DEVNULL, cwd=tmp_path)
    assert isinstance(probe, subprocess.Popen)
    assert probe.wait(timeout=60) == 0
    # What the program sets itself, set or not beforehand, and what pytest changes for each
    # test, do not: the same program starts either way.
    unset = {name: value for name, value in _env().items() if name != "OPENBLAS_NUM_THREADS"}
    for env in ({**unset, "OPENBLAS_NUM_THREADS": "1"}, unset, {**_env(), "PYTEST_CURRENT_TEST": "another test"}):
        forked = launcher.popen([*CLI, "--help"], env=env, stdout=subprocess.DEVNULL, cwd=tmp_path)
        assert isinstance(forked, launcher.Launched), env
        assert forked.wait(timeout=60) == 0


def test_a_timeout_covers_input_the_program_never_reads_and_gives_the_output_so_far(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    process = launcher.popen([*RUN, "--config", str(config)], cwd=tmp_path, env=_env(), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert isinstance(process, launcher.Launched)
    with process:
        with pytest.raises(subprocess.TimeoutExpired) as expired:
            process.communicate(b"x" * 1_000_000, timeout=3)  # more than a pipe holds; a service reads none
        assert isinstance(expired.value.output, bytes)
        process.kill()
        assert process.wait(timeout=60) == -signal.SIGKILL
    process.kill()  # an ended program is not signalled again (its pid may be another's by now)


def test_a_status_that_comes_with_the_pid_is_read_as_the_status():
    # On a busy machine a command can end before the test reads its pid: both lines in one read.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b'{"pid": 123}\n{"returncode": 3}\n')
        lines = launcher._Lines(ours)
        assert lines.read() == {"pid": 123}
        launched = launcher.Launched(lines, 123, {}, ["program"])
        assert launched.poll() == 3


def test_a_launcher_that_ended_is_started_again():
    first = launcher._launcher("suppression")
    first.process.kill()
    first.process.wait(timeout=60)
    again = launcher.run([*CLI, "--help"], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60)
    assert again.returncode == 0 and "usage" in again.stdout
    assert launcher._launcher("suppression") is not first
    assert not os.path.exists(first.path) and not os.path.exists(os.path.dirname(first.path))  # nothing left in /tmp
    again = launcher._launcher("suppression")
    again.process.stdin.close()  # as when the worker ends: the launcher takes its folder with it
    again.process.wait(timeout=60)
    assert not os.path.exists(os.path.dirname(again.path))


def test_a_folder_that_does_not_exist_is_refused_as_popen_refuses_it(tmp_path):
    for cold in (True, False):
        launcher.set_cold(cold)
        try:
            with pytest.raises(FileNotFoundError):
                launcher.popen([*CLI, "--help"], cwd=tmp_path / "missing", env=_env())
        finally:
            launcher.set_cold(False)


def test_leaving_a_program_with_unread_output_closes_its_pipe_first_as_popen_does(tmp_path):
    from tests.support.cli import cli

    config = write_config(tmp_path / "config.toml", tmp_path / "data", free_port(), free_port())
    rows = tmp_path / "rows.csv"
    rows.write_text("email\n" + "".join(f"person{n}@example.com\n" for n in range(6000)))
    assert cli("import", str(rows), config=config).returncode == 0
    process = launcher.popen([*CLI, "--config", str(config), "export"], stdout=subprocess.PIPE, cwd=tmp_path, env=_env())
    assert isinstance(process, launcher.Launched)
    with process:
        pass  # 6,000 lines are more than a pipe holds: waiting with it open would wait for ever
    assert process.returncode is not None
