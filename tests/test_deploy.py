"""The systemd unit in deploy/ is valid (systemd-analyze verify) and starts what the README says."""

import configparser
import os
import shutil
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

UNIT = ROOT / "deploy" / "suppression.service"
ANALYZE = shutil.which("systemd-analyze")


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(UNIT)
    return unit


def test_the_unit_runs_run_py_with_the_config_and_stops_it_with_sigterm():
    service = read_unit()["Service"]
    assert service["ExecStart"].endswith("/run.py")
    assert service["Environment"] == "SUPPRESSION_CONFIG=/etc/suppression/config.toml"
    assert service["KillSignal"] == "SIGTERM" and int(service["TimeoutStopSec"]) > 10  # the 10 s grace for mail
    assert service["User"] != "root" and service["UMask"] == "0077" and service["StateDirectoryMode"] == "0700"


@pytest.mark.skipif(ANALYZE is None and os.environ.get("CI") != "true", reason="needs systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path):
    # The unit as installed names /opt/suppression; verify a copy that names this checkout, so
    # that the program it starts exists here.
    text = UNIT.read_text().replace("/opt/suppression/.venv/bin/python", sys.executable)
    text = text.replace("/opt/suppression/run.py", str(ROOT / "run.py"))
    unit = tmp_path / "suppression.service"
    unit.write_text(text)
    result = subprocess.run([ANALYZE or "systemd-analyze", "verify", str(unit)], capture_output=True, text=True,
                            timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "suppression.service" in line and "Documentation" not in line]
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
