"""Compiling, once and on every core, what the suite's programs and workers import.

The README's test command installs with `pip install --no-compile`: pip compiles each of the
~5,700 files it installs one after the other, 15 s of the install, most of them never imported
(SciPy for one training test, Pygments' lexers, NumPy's own tests). What the service, CLI and
mail reader processes import (our packages and the distributions the service requires) is
compiled here instead, before the tests start them, in parallel: with PYTHONDONTWRITEBYTECODE
set (as on this project's machines and CI), Python keeps no compiled copy of what it imports,
and each of the hundreds of processes the tests start would compile it again (about 1 s of CPU
a service). What only the test workers import (Playwright, the OpenAPI validator) they
compile as they import it, once each.

The same holds for what pytest compiles itself: the test modules, the conftests and every module
of a pytest plugin's distribution (all of Hypothesis) are imported with their asserts rewritten,
and pytest keeps no rewritten copy either under PYTHONDONTWRITEBYTECODE, so each worker rewrote
about 175 modules at its start (a worker's collection: 4.4-4.7 s of CPU, 2.0-2.1 s with them
and what they import kept). `rewritten_by_pytest` names them, and pytest's copies are written
here as pytest would write them (its own functions: tests/test_compiled.py holds the copies to
what pytest itself makes). None are written for a run with `enable_assertion_pass_hook`, and
none of a file whose rewriting warns.

A file already compiled is left as it is (compileall compares the source's modification time with
the compiled copy's header; pytest its time and size), so in a checkout installed before, or by
pip's default, this reads a header a file (a copy of pytest's, whole). It only saves time: a
file it cannot compile, or a requirement or `.pth` line it cannot read, is left to be compiled
as it is imported."""

import compileall
import fnmatch
import importlib.metadata
import importlib.util
import os
import re
import sysconfig
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from tests.support.paths import ROOT

OURS = ("suppression", "handlers")


def compile_ahead(config=None) -> tuple[int, int]:
    """Compile our packages, what our distribution and every one it requires installed, and
    what the environment's .pth files run at each start; and, given pytest's `config`, write
    the rewritten copies of what pytest rewrites (`rewritten_by_pytest`). The number of files
    compiled and rewritten (or found so)."""
    files = [str(path) for package in OURS for path in (ROOT / package).rglob("*.py")]
    for distribution in _required("suppression"):
        files.extend(str(distribution.locate_file(file)) for file in distribution.files or ()
                     if file.suffix == ".py")
    files.extend(_run_at_start())
    files = list(dict.fromkeys(files))  # the editable finder is in our RECORD and in a .pth
    rewritten = rewritten_by_pytest(config) if config is not None else []
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        compiling = pool.map(_compiled, files, chunksize=64)
        rewriting = pool.map(_rewritten, rewritten, chunksize=8)
        return sum(compiling), sum(rewriting)


def _compiled(path: str) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


def rewritten_by_pytest(config) -> list[str]:
    """The files pytest rewrites the asserts of as the workers import them: the test modules
    (its `python_files`) and conftests under the run's test paths, and the modules it marks for
    it in the distributions of the plugins the run loads (all of Hypothesis)."""
    hook = config.pluginmanager.rewrite_hook
    if not hasattr(hook, "fnpats") or config.getini("enable_assertion_pass_hook"):
        return []  # `--assert=plain`: nothing is rewritten; the hook: written into the copies, not here
    patterns = [*hook.fnpats, "conftest.py"]
    files = [str(path) for folder in config.getini("testpaths") for path in (config.rootpath / folder).rglob("*.py")
             if any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)]
    marked = tuple(getattr(hook, "_must_rewrite", ()))  # pytest's own, not its API
    for distribution in importlib.metadata.distributions(path=_site()):
        plugins = [entry.name for entry in distribution.entry_points if entry.group == "pytest11"]
        if not plugins or all(config.pluginmanager.is_blocked(name) for name in plugins):
            continue  # not a plugin, or one the run turns off (`-p no:schemathesis`): not imported
        for file in distribution.files or ():
            name = _module_name(file)
            if file.suffix == ".py" and any(name == mark or name.startswith(mark + ".") for mark in marked):
                files.append(str(distribution.locate_file(file)))
    return list(dict.fromkeys(files))


def _module_name(file) -> str:
    parts = list(file.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _rewritten(path: str) -> bool:
    """pytest's compiled copy of `path`, asserts rewritten, where pytest looks for it. No copy of
    a file whose rewriting warns (an assert always true, an invalid escape): the worker rewrites
    it, and the warning is raised there, where the run's filters make it an error."""
    try:
        from _pytest.assertion.rewrite import PYC_TAIL, _read_pyc, _rewrite_test, _write_pyc_fp, get_cache_dir

        source = Path(path)
        pyc = get_cache_dir(source) / (source.stem + PYC_TAIL)
        if _read_pyc(source, pyc) is not None:
            return True
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            stat, code = _rewrite_test(source, None)  # None: no assertion-pass hook (see above)
        if warned:
            return False
        pyc.parent.mkdir(exist_ok=True)
        partial = pyc.with_name(f"{pyc.name}.{os.getpid()}")  # as pytest: whole or not at all
        with open(partial, "wb") as file:
            _write_pyc_fp(file, stat, code)
        os.replace(partial, pyc)
    except Exception:  # pytest's internals moved, a file it cannot read: rewritten as imported
        return False
    return True


def _site() -> list[str]:
    return list(dict.fromkeys(sysconfig.get_path(kind) for kind in ("purelib", "platlib")))


def _required(name: str) -> list[importlib.metadata.Distribution]:
    """`name` and the distributions it requires, and theirs, with the extras asked for (those of
    this environment's platform and Python). Installed editable, ours holds only the finder that
    every process imports at its start. Looked up where the environment installs, not in the
    checkout, whose suppression.egg-info (setuptools' leftover of the editable build) would
    shadow the installed finder."""
    found: dict[str, importlib.metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()  # a distribution may ask for itself with extras
    waiting: list[tuple[str, frozenset[str]]] = [(name, frozenset())]
    while waiting:
        wanted, extras = waiting.pop()
        distribution = next(iter(importlib.metadata.Distribution.discover(name=wanted, path=_site())), None)
        if distribution is None:
            continue
        key = (distribution.metadata["Name"] or wanted).lower().replace("_", "-")
        if (key, extras) in seen:
            continue
        seen.add((key, extras))
        found[key] = distribution
        for text in distribution.requires or ():
            try:
                requirement = Requirement(text)
            except InvalidRequirement:  # legacy metadata: that distribution is compiled as imported
                continue
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                                 for extra in ("", *extras)):
                waiting.append((requirement.name, frozenset(requirement.extras)))
    return list(found.values())


def _run_at_start() -> list[str]:
    """The modules the environment's .pth files import at every interpreter's start
    (setuptools' `_distutils_hack`, the editable install's finder): Python runs a line that
    starts with `import`; the others are folders or comments."""
    files = []
    for folder in _site():
        for pth in Path(folder).glob("*.pth"):
            for line in pth.read_text(encoding="utf-8", errors="replace").splitlines():
                if not line.startswith(("import ", "import\t")):
                    continue
                for name in re.findall(r"^import\s+([\w.]+)|__import__\('([\w.]+)'\)", line):
                    try:  # a line left by a package since removed: Python reports it and goes on
                        spec = importlib.util.find_spec("".join(name))
                    except (ImportError, ValueError):
                        continue
                    if spec is not None and spec.origin and spec.origin.endswith(".py"):
                        files.append(spec.origin)
    return files
