"""The project as an operator installs it: a wheel built from the repository, in a fresh venv,
run from an empty directory (no checkout on the path), as a container build would."""

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.http import free_port
from tests.support.paths import ROOT
from tests.support.service import ServiceProcess
from tests.support.settings import write_config

# What a checkout holds that a wheel must not need (and that is slow to copy).
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "*.egg-info", "build",
                                     "data", ".pytest_cache", ".hypothesis", "out", "screenshots")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the venv's `suppression` command, its environment): the wheel installed without its
    dependencies, which it finds in this test run's own site-packages, added after its own."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    # No build isolation: the test venv's setuptools builds it, so no download is needed.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "dist"),
         str(source)], capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((work / "dist").glob("suppression-*.whl"))
    target = work / "venv"
    # A fresh venv without its own pip (ensurepip cost seconds): this run's pip installs into it
    # (`pip --python`), as the venv's own would, and nothing of the checkout comes along.
    venv.create(target, with_pip=False)
    # Without PYTHONPATH: a checkout on it (with the egg-info of an editable install) reads as
    # "suppression is already installed", and nothing would be.
    clean = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(target / "bin" / "python"), "install",
                                "-q", "--no-deps", "--no-index", str(wheel)],
                               capture_output=True, text=True, timeout=300, env=clean)
    assert installed.returncode == 0, installed.stderr
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
    # Dependencies from this run's environment; path lines in a .pth are appended after the
    # venv's own site-packages, and the editable install of the checkout is not among them.
    (purelib / "dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    env = {"PATH": f"{target / 'bin'}:/usr/bin:/bin", "HOME": str(work)}
    return target / "bin" / "suppression", env, names, wheel


def test_the_wheel_holds_every_package_and_the_files_the_pages_need(installed):
    _, _, names, wheel = installed
    packages = {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("suppression/**/__init__.py")}
    packages |= {str(path.parent.relative_to(ROOT)) for path in ROOT.glob("handlers/**/__init__.py")}
    for package in packages:
        assert f"{package}/__init__.py" in names, package
    assert "handlers/templates/base.html" in names
    assert "handlers/locale/de/LC_MESSAGES/messages.po" in names
    assert "suppression/inbound/judge.npz" in names  # the reader's models
    assert "suppression/inbound/asked_about.npz" in names
    with zipfile.ZipFile(wheel) as archive:
        entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
        assert "suppression = handlers.serve:console" in archive.read(entry_points).decode()


def test_the_installed_command_runs_from_an_empty_directory(installed, tmp_path):
    command, env, _, _ = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run([str(command).replace("suppression", "python"), "-c",
                            "import suppression.inbound, handlers; print(suppression.inbound.__file__)"],
                           capture_output=True, text=True, cwd=empty, env=env, timeout=60)
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout  # the wheel's copy, not the checkout's
    helped = subprocess.run([str(command), "--help"], capture_output=True, text=True, cwd=empty, env=env, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout and "apikey" in helped.stdout

    port = free_port()
    config = write_config(empty / "config.toml", empty / "data", port, free_port())
    created = subprocess.run([str(command), "--config", str(config), "apikey", "create", "ops", "--scope", "admin"],
                             capture_output=True, text=True, cwd=empty, env=env, timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]

    with ServiceProcess(config, port, empty, command=[str(command), "serve"], env=env) as service:
        import urllib.request
        request = urllib.request.Request(service.base_url + "/v1/suppressions/jane@example.com",
                                         headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert json.loads(answer.read())["suppressed"] is False
        code, output = service.stop(signal.SIGTERM)
    assert code == 0, output
    assert "Traceback" not in output


def test_serve_and_run_py_refuse_a_bad_configuration_alike(installed, tmp_path):
    command, env, _, _ = installed
    config = tmp_path / "bad.toml"
    config.write_text("[http]\nport = 70000\n", encoding="utf-8")
    served = subprocess.run([str(command), "serve", "--config", str(config)], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=60)
    ran = subprocess.run([sys.executable, str(ROOT / "run.py"), "--config", str(config)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=60)
    assert served.returncode == ran.returncode == 2
    assert served.stderr == ran.stderr and "http.port" in served.stderr and len(served.stderr.splitlines()) == 1
