"""The launcher the tests start their programs from (tests/support/launcher.py): a program it
forks behaves, to the test that started it, as the same program started cold."""

import os
import signal
import subprocess
import sys

import pytest

from tests.support import launcher
from tests.support.cli import _env
from tests.support.http import free_port
from tests.support.paths import ROOT
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

CLI = [sys.executable, "-m", "suppression"]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("PPid:")).split()[1])


def both(argv, **options):
    """The same command line forked and cold: (forked, cold) CompletedProcesses."""
    forked = launcher.run(argv, **options)
    launcher.set_cold(True)
    try:
        cold = launcher.run(argv, **options)
    finally:
        launcher.set_cold(False)
    return forked, cold


def test_a_forked_command_prints_and_exits_as_a_cold_one(tmp_path):
    config = write_config(tmp_path / "config.toml", tmp_path / "data", free_port(), free_port())
    for argv in (["--help"], ["--config", str(config), "check", "not-an-address"], ["no-such-command"]):
        forked, cold = both([*CLI, *argv], capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=60)
        assert (forked.returncode, forked.stdout, forked.stderr) == (cold.returncode, cold.stdout, cold.stderr)
        assert forked.returncode == (0 if argv == ["--help"] else 2)
    imported = launcher.run([*CLI, "--config", str(config), "import", "-"], input="email\nsomeone@example.com\n",
                            capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=60)
    assert imported.returncode == 0 and "1 new suppressions" in imported.stdout, imported  # its standard input


def test_a_forked_program_runs_in_the_tests_folder_and_environment(tmp_path):
    # Relative to the test's folder, with a data folder the embedded defaults (./data) would not use.
    write_config(tmp_path / "config.toml", tmp_path / "configured", free_port(), free_port())
    added = launcher.run([*CLI, "add", "b@example.com"], capture_output=True, text=True, cwd=tmp_path,
                         env={**_env(), "SUPPRESSION_CONFIG": "config.toml"}, timeout=60)
    assert added.returncode == 0, added.stderr
    checked = launcher.run([*CLI, "--config", "config.toml", "check", "b@example.com"], capture_output=True,
                           text=True, cwd=tmp_path, env=_env(), timeout=60)
    assert checked.returncode == 0 and '"suppressed": true' in checked.stdout, checked
    assert not (tmp_path / "data").exists()


def test_a_service_is_forked_by_the_launcher_and_signalled_as_its_own_process(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    with ServiceProcess(config, port, tmp_path) as service:
        assert parent_of(service.process.pid) != os.getpid()  # not this process's child: forked warm
        assert service.process.poll() is None
        code, output = service.stop(signal.SIGTERM)
    assert code == 0 and "serving HTTP" in output
    with ServiceProcess(config, port, tmp_path) as service:
        code, _ = service.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL


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
    # What the launcher's imports set themselves, set or not beforehand, and what pytest changes
    # for each test, do not: the same program starts either way.
    unset = {name: value for name, value in _env().items() if name != "OPENBLAS_NUM_THREADS"}
    for env in ({**unset, "OPENBLAS_NUM_THREADS": "1"}, unset, {**_env(), "PYTEST_CURRENT_TEST": "another test"}):
        forked = launcher.popen([*CLI, "--help"], env=env, stdout=subprocess.DEVNULL, cwd=tmp_path)
        assert isinstance(forked, launcher.Launched), env
        assert forked.wait(timeout=60) == 0


def test_a_wait_past_its_timeout_says_so_and_a_killed_program_is_reported_killed(tmp_path):
    port = free_port()
    config = write_config(tmp_path / "config.toml", tmp_path / "data", port, free_port())
    process = launcher.popen([sys.executable, str(ROOT / "run.py"), "--config", str(config)], cwd=tmp_path,
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.01)
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL
    process.kill()  # an ended program is not signalled again (its pid may be another's by now)
