"""What the suite's programs import is compiled before they start (tests/support/compiled.py),
so a checkout installed with `pip install --no-compile` (the README's test command) costs no
program a compilation of its own."""

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

from tests.support import compiled
from tests.support.paths import ROOT

# Imports every module of our two packages, as the service, the CLI and the mail reader do
# between them, and names each file of its own or of the environment's packages it imported.
_IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import handlers, suppression
for package in (handlers, suppression):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.endswith("__main__"):  # the CLI itself, which would run
            importlib.import_module(module.name)
print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)})))
"""


def _compiled_as_it_is(source: str) -> bool:
    """A compiled copy the import system takes for this source: its header names the source's
    time and size, or (SOURCE_DATE_EPOCH set) its hash."""
    try:
        with open(importlib.util.cache_from_source(source), "rb") as cached:
            header = cached.read(16)
    except OSError:
        return False
    flags = int.from_bytes(header[4:8], "little")
    if flags & 1:
        with open(source, "rb") as file:
            return header[8:16] == importlib.util.source_hash(file.read())
    stat = os.stat(source)
    return (flags == 0
            and int.from_bytes(header[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(header[12:16], "little") == stat.st_size & 0xFFFFFFFF)


def test_every_module_our_programs_import_is_compiled_before_they_start():
    done = subprocess.run([sys.executable, "-c", _IMPORT_EVERYTHING], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), timeout=120)
    assert done.returncode == 0, done.stderr
    packages = sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]
    imported = [file for file in json.loads(done.stdout)
                if file.endswith(".py") and file.startswith((str(ROOT / "suppression"), str(ROOT / "handlers"), *packages))]
    assert len(imported) > 300, "every module of both packages, and aiohttp's, NumPy's, ..."
    assert [file for file in imported if not _compiled_as_it_is(file)] == []


def test_the_distributions_compiled_are_what_the_service_requires():
    names = {distribution.metadata["Name"].lower() for distribution in compiled._required("suppression")}
    # The service's own requirements, and theirs (multidict is aiohttp's); none of the tests' own.
    assert {"aiohttp", "aiosmtpd", "aiosqlite", "itsdangerous", "jinja2", "email-validator", "numpy",
            "psycopg", "multidict", "suppression"} <= names
    assert not names & {"pytest", "hypothesis", "playwright", "schemathesis", "scikit-learn", "scipy"}


def test_a_pth_line_python_skips_or_survives_is_skipped(tmp_path, monkeypatch):
    # A comment, a folder, and an import left by a package since removed (Python reports that
    # one and starts anyway): none may stop the run's start.
    (tmp_path / "left.pth").write_text("# legacy: __import__('gone_pkg.hook')\n/some/folder\n"
                                       "import gone_pkg.hook; gone_pkg.hook.install()\nimport json\n")
    monkeypatch.setattr(compiled, "_site", lambda: [str(tmp_path)])
    assert compiled._run_at_start() == [json.__file__]


def test_what_pytest_rewrites_in_the_workers_is_rewritten_before_they_start_as_pytest_would(pytestconfig):
    from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, _rewrite_test, get_cache_dir

    files = compiled.rewritten_by_pytest(pytestconfig)
    tests = [file for file in files if file.startswith(str(ROOT / "tests"))]
    assert str(ROOT / "tests" / "conftest.py") in tests and __file__ in tests
    assert not [file for file in tests if not os.path.basename(file).startswith(("test_", "conftest"))]
    assert any("/hypothesis/core.py" in file for file in files)  # a plugin's package, every module of it
    assert not [file for file in files if "/schemathesis/" in file]  # a plugin the run turns off

    def copy_of(source: str):
        path = Path(source)
        return _read_pyc(path, get_cache_dir(path) / (path.stem + PYC_TAIL))

    assert [file for file in files if copy_of(file) is None] == []
    # The copies are what pytest itself makes with this run's settings.
    for source in (__file__, str(ROOT / "tests" / "conftest.py"), next(f for f in files if f.endswith("/hypothesis/core.py"))):
        assert copy_of(source) == _rewrite_test(Path(source), pytestconfig)[1], source


def test_a_module_whose_rewriting_warns_gets_no_copy_so_its_worker_raises_the_warning(tmp_path):
    # An assert that is always true warns as pytest rewrites it; the run's filterwarnings make
    # that an error, raised where the module is rewritten: in the worker, not in the pool.
    warns, plain = tmp_path / "test_warns.py", tmp_path / "test_plain.py"
    warns.write_text('def test_x():\n    assert (1 == 2, "never")\n')
    plain.write_text("def test_y():\n    assert 1 == 1\n")
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # as in the pool's processes, where a warning is only printed
        assert compiled._rewritten(str(warns)) is False
        assert compiled._rewritten(str(plain)) is True
    assert [path.name.split(".")[0] for path in (tmp_path / "__pycache__").iterdir()] == ["test_plain"]


def test_a_run_with_the_assertion_pass_hook_gets_no_copies(pytestconfig):
    # The hook is written into the rewritten code, by pytest as it rewrites with the run's config.
    class WithPassHook:
        pluginmanager = pytestconfig.pluginmanager
        rootpath = pytestconfig.rootpath

        @staticmethod
        def getini(name):
            return True if name == "enable_assertion_pass_hook" else pytestconfig.getini(name)

    assert compiled.rewritten_by_pytest(pytestconfig) != []
    assert compiled.rewritten_by_pytest(WithPassHook()) == []
