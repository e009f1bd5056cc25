"""Compiling, once and on every core, what the suite's programs import.

The README's test command installs with `pip install --no-compile`: pip compiles each of the
~5,700 files it installs one after the other, 15 s of the install, most of them never imported
(SciPy for one training test, Pygments' lexers, NumPy's own tests). What the service, CLI and
mail reader processes import (our packages and the distributions the service requires) is
compiled here instead, before the tests start them, in parallel: with PYTHONDONTWRITEBYTECODE
set (as on this project's machines and CI), Python keeps no compiled copy of what it imports,
and each of the hundreds of processes the tests start would compile it again (about 1 s of CPU
a service). What only the test workers import (Hypothesis, Playwright, schemathesis) they
compile as they import it, once each.

A file already compiled is left as it is (compileall compares the source's modification time with
the compiled copy's header), so in a checkout installed before, or by pip's default, this reads a
header a file. It only saves time: a file it cannot compile, or a requirement or `.pth` line it
cannot read, is left to be compiled as it is imported."""

import compileall
import importlib.metadata
import importlib.util
import os
import re
import sysconfig
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from tests.support.paths import ROOT

OURS = ("suppression", "handlers")


def compile_programs_imports() -> int:
    """Compile our packages, what our distribution and every one it requires installed, and
    what the environment's .pth files run at each start; the number of files compiled (or found
    compiled)."""
    files = [str(path) for package in OURS for path in (ROOT / package).rglob("*.py")]
    for distribution in _required("suppression"):
        files.extend(str(distribution.locate_file(file)) for file in distribution.files or ()
                     if file.suffix == ".py")
    files.extend(_run_at_start())
    files = list(dict.fromkeys(files))  # the editable finder is in our RECORD and in a .pth
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        return sum(pool.map(_compiled, files, chunksize=64))


def _compiled(path: str) -> bool:
    return bool(compileall.compile_file(path, quiet=2))


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
