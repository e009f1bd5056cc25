"""The docs run, and what they name exists (datasette's tests/test_docs.py habit).

Every fenced block tagged `sh` or `python` in README.md and docs/*.md is executed, page by
page and in order, against one real service started here (a process on free ports, its data
in a temporary folder), as a reader who did the README's quick start would paste them:

- in a working folder laid out like a checkout: `docs/examples/` copied there, and a
  `.venv/bin/` whose `activate`, `python` and `suppression` run this checkout;
- `SUPPRESSION_CONFIG` names the test service's config (so the CLI works on its data), and
  the numbers 8080 and 8025 in a block stand for its HTTP and SMTP ports;
- each page after the README starts with the variables the quick start exports (QUICKSTART)
  and the venv activated; the blocks of one page share one shell, so a page may build on
  its own earlier blocks;
- `curl` answers an HTTP error with a failure (`--fail-with-body`), so an example that the
  service refuses fails here; an example of a refusal is tagged `text` with its answer.

Any other tag (`text`, `toml`, `yaml`, none) is not run. The README's two opening commands
(install and serve; install and run every test) are the exception: CI runs the second as
written (.ci/run, tests/test_readme.py) and tests/test_packaging.py installs and serves as
the first does.
"""

import base64
import contextlib
import io
import os
import queue
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, ServiceProcess, free_port, write_config
from tests.test_readme import readme_commands

DOCS = ROOT / "docs"
RUN = {"sh", "python"}
QUICKSTART = ("URL", "CHECK_KEY", "SYNC_KEY", "ADMIN_KEY")
HOOK_SECRET = "whsec_" + base64.b64encode(b"the docs test's receiver, 32 b.").decode()
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<tag>[^\n`]*)\n(?P<code>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    tag: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT) if ROOT in self.page.parents else self.page.name}:{self.line}"


def pages() -> list[Path]:
    """README.md and every Markdown file in docs/, those other people add later included."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def blocks_of(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        indent = match["indent"]
        code = "".join(line[len(indent):] if line.startswith(indent) else line
                       for line in match["code"].splitlines(keepends=True))
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, match["tag"].strip(), code))
    return found


def runnable(page: Path) -> list[Block]:
    opening = set(readme_commands()) if page.name == "README.md" and page.parent == ROOT else set()
    return [block for block in blocks_of(page) if block.tag in RUN and block.code.strip() not in opening]


# --- the reader's folder and the service -------------------------------------------------

def _executable(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def reader_folder(work: Path) -> Path:
    """A folder laid out like the checkout a reader has after the README's first command."""
    shutil.copytree(DOCS / "examples", work / "docs" / "examples")
    bin_dir = work / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    path = f"{ROOT}" + "${PYTHONPATH:+:$PYTHONPATH}"  # this checkout, as the venv's install would be
    _executable(bin_dir / "python", f'#!/bin/sh\nPYTHONPATH="{path}" exec "{sys.executable}" "$@"\n')
    _executable(bin_dir / "suppression", f'#!/bin/sh\nexec "{bin_dir / "python"}" -m suppression "$@"\n')
    curl = shutil.which("curl")
    assert curl, "the examples use curl"
    # An HTTP error fails the example (and shows the service's answer).
    _executable(bin_dir / "curl", f'#!/bin/sh\nexec "{curl}" --fail-with-body "$@"\n')
    (bin_dir / "activate").write_text(f'export PATH="{bin_dir}:$PATH"\n', encoding="utf-8")
    return bin_dir


@dataclass
class Reader:
    work: Path
    bin_dir: Path
    env: dict[str, str]
    http_port: int
    smtp_port: int
    hook_port: int
    service: ServiceProcess


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    top = tmp_path_factory.mktemp("docs")
    work = top / "work"
    bin_dir = reader_folder(work)
    http_port, smtp_port, hook_port = free_port(), free_port(), free_port()
    # data_dir is ./data of the reader's folder, where the first command would put it. The
    # receiver is docs/examples/webhook_receiver.py's, once a test starts it.
    receiver = f"""
[[webhooks]]
url = "http://127.0.0.1:{hook_port}/hooks/suppression"
secret = "{HOOK_SECRET}"
name = "docs-example"
first_retry_seconds = 0.2
max_retry_seconds = 0.5
"""
    config = write_config(top / "config.toml", work / "data", http_port, smtp_port, receiver)
    config.chmod(0o600)  # it holds a webhook secret: readable by others, every command would warn
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(SUPPRESSION_CONFIG=str(config), HOME=str(top))
    with ServiceProcess(config, http_port, work) as service:
        yield Reader(work, bin_dir, env, http_port, smtp_port, hook_port, service)


def script_of(blocks: list[Block], reader: Reader, marker: Path) -> str:
    """One bash script running the blocks in order; each first writes where it is to `marker`."""
    lines = ["set -euo pipefail"]
    for number, block in enumerate(blocks):
        code = re.sub(r"\b8080\b", str(reader.http_port), block.code)
        code = re.sub(r"\b8025\b", str(reader.smtp_port), code)
        lines.append(f"printf '%s\\n' {block.where!r} > {str(marker)!r}")
        if block.tag == "sh":
            lines.append(code)
        else:
            end = f"PYTHON_BLOCK_{number}_END"
            assert end not in code
            lines.append(f"{reader.bin_dir / 'python'} - <<'{end}'\n{code}{end}")
    return "\n".join(lines) + "\n"


def run_page(page: Path, reader: Reader, env: dict[str, str], epilogue: str = "") -> subprocess.CompletedProcess:
    marker, finished = reader.work.parent / "block", reader.work.parent / "finished"
    marker.write_text("")
    finished.unlink(missing_ok=True)
    # The last line proves every block ran: an `exit 0` in a block must not pass for the rest.
    script = script_of(runnable(page), reader, marker) + epilogue + f": > {str(finished)!r}\n"
    # A session of its own, so that whatever a block left running in the background ends with it.
    shell = subprocess.Popen(["bash", "-c", script], cwd=reader.work, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = shell.communicate(timeout=300)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shell.wait()
    where = marker.read_text().strip()
    assert shell.returncode == 0 and finished.exists(), (
        f"the example at {where} failed (exit {shell.returncode}):\n{stderr[-3000:]}\n{stdout[-2000:]}"
        f"\nthe service said:\n{reader.service.output[-2000:]}")
    return subprocess.CompletedProcess(shell.args, shell.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def quickstart(reader):
    """The README's examples run; the environment they leave to every other page."""
    variables = reader.work.parent / "variables"
    epilogue = "".join(f"printf '%s=%s\\n' {name} \"${{{name}:-}}\" >> {str(variables)!r}\n" for name in QUICKSTART)
    done = run_page(ROOT / "README.md", reader, reader.env, epilogue)
    values = dict(line.split("=", 1) for line in variables.read_text().splitlines())
    env = dict(reader.env, **values)
    env["PATH"] = f"{reader.bin_dir}{os.pathsep}{env['PATH']}"
    return values, env, done.stdout


def test_the_readme_quick_start_runs_and_sets_the_variables_the_docs_use(quickstart, reader):
    values, _, _ = quickstart
    assert [name for name in QUICKSTART if not values.get(name)] == []
    assert values["URL"] == f"http://127.0.0.1:{reader.http_port}"
    assert all(values[key].startswith("sk_") for key in QUICKSTART[1:])


def test_the_quick_start_answers_as_the_readme_says(quickstart):
    _, _, out = quickstart
    # What the README's prose says of its own quick start ...
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert ('The single check answers `{"email": "jane@example.com", "topic": null, "suppressed": true, '
            '"scope": "all", "reason": "unsubscribe", "source": "cli", "since": "..."}`') in text
    assert ('prints the lines that must not be mailed: `jane@example.com`, `bob@example.com` and '
            '`sam@former-partner.example.net`') in text and "not `kim@example.com`" in text
    # ... is what it printed.
    assert ('{"email": "jane@example.com", "topic": null, "suppressed": true, "scope": "all", '
            '"reason": "unsubscribe", "source": "cli", "since": "') in out
    assert "jane@example.com\nbob@example.com\nsam@former-partner.example.net\n" in out
    assert "kim@example.com\n" not in out


@pytest.mark.parametrize("page", [page for page in pages() if page.name != "README.md" or page.parent != ROOT],
                         ids=lambda page: str(page.relative_to(ROOT)))
def test_every_example_of_the_page_runs(page, quickstart, reader):
    _, env, _ = quickstart
    run_page(page, reader, env)


def test_a_broken_example_fails(quickstart, reader, tmp_path):
    # The runner is no rubber stamp: an example the service refuses, or a Python error, fails.
    _, env, _ = quickstart
    for broken in ('```sh\ncurl -sS -H "Authorization: Bearer $CHECK_KEY" $URL/v1/no-such-thing\n```\n',
                   '```sh\nexit 0\n```\n',
                   '```sh\nsuppression add not-an-address\n```\n',
                   '```python\nfrom suppression import no_such_name\n```\n'):
        page = tmp_path / "broken.md"
        page.write_text("# broken\n\n" + broken, encoding="utf-8")
        with pytest.raises(AssertionError, match=r"broken\.md:3 failed"):
            run_page(page, reader, env)


def test_blocks_are_found_with_their_tags_and_lines(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```sh\necho one\n```\n\n- item\n\n  ```python\n  print(2)\n  ```\n\n```text\nno\n```\n")
    found = [(block.line, block.tag, block.code) for block in blocks_of(page)]
    assert found == [(3, "sh", "echo one\n"), (9, "python", "print(2)\n"), (13, "text", "no\n")]


def test_a_block_that_shows_a_file_shows_it_as_it_is():
    # ```python file=PATH shows the file at PATH (run by a test of its own), not a copy that drifts.
    shown = [(block, block.tag.split("file=", 1)[1]) for page in pages() for block in blocks_of(page)
             if "file=" in block.tag]
    assert shown, "webhooks.md shows docs/examples/webhook_receiver.py"
    for block, path in shown:
        assert block.code == (ROOT / path).read_text(encoding="utf-8"), block.where


def test_the_webhook_receiver_example_verifies_and_prints_an_event(quickstart, reader):
    _, env, _ = quickstart
    receiver = subprocess.Popen(
        [str(reader.bin_dir / "python"), "docs/examples/webhook_receiver.py"], cwd=reader.work,
        env=dict(env, WEBHOOK_SECRET=HOOK_SECRET, PORT=str(reader.hook_port)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        added = subprocess.run(["suppression", "add", "hook.reader@example.com"], cwd=reader.work, env=env,
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        # Every event since the service started comes, in order; ours after those the pages'
        # examples made. The wait is a bound for a failure, not a measure.
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in receiver.stdout], daemon=True).start()
        seen = []
        while "suppression.created hook.reader@example.com\n" not in seen:
            try:
                seen.append(lines.get(timeout=60))
            except queue.Empty:
                raise AssertionError("the receiver printed no event for hook.reader@example.com:\n"
                                     + "".join(seen) + reader.service.output[-2000:]) from None
    finally:
        receiver.kill()
        receiver.wait(timeout=30)
        receiver.stdout.close()


# --- what the docs name exists -----------------------------------------------------------

def example_config() -> dict[tuple[str, str], str]:
    """Every key of config.example.toml with its value as written, the commented-out
    [[webhooks]] receiver's keys included."""
    keys: dict[tuple[str, str], str] = {}
    section = ""
    for line in (ROOT / "config.example.toml").read_text(encoding="utf-8").splitlines():
        if header := re.match(r"^#? ?\[\[?([\w-]+)\]\]?(\s|$)", line):
            section = header[1]
        elif key := re.match(r"^#? ?([\w-]+) += +(.+?)(\s+#.*)?$", line):
            keys[(section, key[1])] = key[2].strip()
    return keys


def test_the_example_config_is_what_the_parser_reads():
    # The line parser above against tomllib, for every key that is not commented out.
    parsed = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    real = {(section, key) for section, table in parsed.items() for key in table}
    assert real == {key for key in example_config() if key[0] != "webhooks"}


def reference_table() -> dict[tuple[str, str], str]:
    """The configuration reference in docs/operations.md: `[section]` headings, then rows
    of | `key` | `default` | meaning |."""
    keys: dict[tuple[str, str], str] = {}
    section = None
    for line in (DOCS / "operations.md").read_text(encoding="utf-8").splitlines():
        if header := re.match(r"^#+ `\[\[?([\w-]+)\]\]?`", line):
            section = header[1]
        elif section and (row := re.match(r"^\| `([\w-]+)` \| `(.*?)` \|", line)):
            keys[(section, row[1])] = row[2]
        elif line.startswith("#"):
            section = None
    return keys


def test_every_config_key_is_in_the_reference_with_its_default_and_every_documented_key_exists():
    example, reference = example_config(), reference_table()
    assert sorted(set(example) - set(reference)) == [], "keys of config.example.toml missing in docs/operations.md"
    assert sorted(set(reference) - set(example)) == [], "documented keys missing in config.example.toml"
    assert {key: value for key, value in reference.items() if example[key] != value} == {}


def test_every_key_named_in_the_docs_exists():
    example = example_config()
    named = set()
    for page in pages():
        for section, key in re.findall(r"`\[\[?([\w-]+)\]\]?\s+([\w-]+)(?:`| =)", page.read_text(encoding="utf-8")):
            named.add((page.name, section, key))
    assert named, "the docs name config keys as `[section] key`"
    assert sorted(entry for entry in named if entry[1:] not in example) == []


def commands_listed(help_text: str) -> list[str]:
    listing = help_text.split("positional arguments:", 1)[1].split("options:", 1)[0]
    return re.findall(r"^ {4}([a-z][\w-]*)", listing, re.M)


def top_help() -> str:
    """`suppression --help`, as the installed command prints it."""
    done = subprocess.run([sys.executable, "-m", "suppression", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sub_help(command: str) -> str:
    """`suppression COMMAND --help`, printed by the same entry point in this process (a
    process each costs seconds on a busy machine)."""
    from handlers.serve import console

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        console([command, "--help"])
    assert exit_.value.code == 0
    return out.getvalue()


def documented_commands() -> set[tuple[str, ...]]:
    """The commands docs/cli.md's table names: its first column's leading lower-case words."""
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    commands = set()
    for cell in re.findall(r"^\| (.+?) \| ", text, re.M):
        for usage in re.findall(r"`([^`]+)`", cell):
            words = []
            for word in usage.split():
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            if words:
                commands.add(tuple(words))
    return commands


def test_every_cli_command_in_the_docs_exists_and_every_command_is_documented():
    documented = documented_commands()
    top = commands_listed(top_help())
    actual = set()
    for command in top:
        actions = commands_listed(sub_help(command)) if command in {"apikey", "inbox", "subject", "webhooks", "campaign"} else []
        actual |= {(command, action) for action in actions} or {(command,)}
    assert {("serve",), ("apikey", "create"), ("inbox", "export-labels")} <= actual  # the parsing itself
    assert sorted(documented - actual) == [], "docs/cli.md names commands `suppression --help` does not list"
    assert sorted(actual - documented) == [], "commands missing from docs/cli.md"


def endpoints_in(text: str) -> set[tuple[str, str]]:
    return {(method, re.sub(r"\{[^}]*\}", "{}", path))
            for method, path in re.findall(r"\b(GET|POST|DELETE|PUT|PATCH) (/[^\s`?)|,]*)", text)}


def openapi_endpoints() -> set[tuple[str, str]]:
    import yaml

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    return {(method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
            for path, item in spec["paths"].items() for method in item if method in {"get", "post", "delete", "put"}}


def test_every_endpoint_in_the_api_docs_is_in_openapi_and_every_endpoint_is_documented():
    documented = endpoints_in((DOCS / "api.md").read_text(encoding="utf-8"))
    assert ("POST", "/v1/check") in documented  # the parsing itself
    assert sorted(documented - openapi_endpoints()) == [], "docs/api.md names endpoints openapi.yaml does not have"
    everywhere = set().union(*(endpoints_in(page.read_text(encoding="utf-8")) for page in pages()))
    assert sorted(openapi_endpoints() - everywhere) == [], "endpoints of openapi.yaml no page of docs/ describes"


# Pages being written on another branch that the README's map already names: a link to one is
# not broken while it is missing (none now).
ARRIVING: set[str] = set()


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation but - and _
    dropped, spaces to hyphens, repeats numbered."""
    made: set[str] = set()
    for heading in re.findall(r"^#+ (.+?)\s*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchor, n = slug, 0
        while anchor in made:
            n += 1
            anchor = f"{slug}-{n}"
        made.add(anchor)
    return made


def broken_links(pages: list[tuple[Path, str]]) -> list[str]:
    """In (page, its text): links to files that do not exist or lie outside the repository,
    and references to what a clone does not have."""
    broken = []
    for page, text in pages:
        text = FENCE.sub("", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if resolved.parent == DOCS and resolved.name in ARRIVING and not resolved.exists():
                continue
            if not resolved.exists() or ROOT not in resolved.parents and resolved != ROOT:
                broken.append(f"{page.name}: {target}")
            elif anchor and resolved.suffix == ".md":
                headings = text if resolved == page else resolved.read_text(encoding="utf-8")
                if anchor not in anchors(headings):
                    broken.append(f"{page.name}: {target}")
        for outside in re.findall(r"\.\./shared/[\w./-]*|CONTRACT\.md", text):
            broken.append(f"{page.name}: {outside}")
    return broken


def house_map() -> list[str]:
    """The paths the map in docs/architecture.md (its first `text` block) names, a tree
    indented two spaces a level, each name followed by its description."""
    block = next(block for block in blocks_of(DOCS / "architecture.md") if block.tag == "text")
    paths, folders = [], []
    for line in block.code.splitlines():
        entry = re.match(r"^( *)(\S+)(?: {2,}.*)?$", line)
        if entry is None or len(entry[1]) >= 20:
            continue  # a description's second line
        depth = len(entry[1]) // 2
        del folders[depth:]
        path = "".join(folders) + entry[2]
        paths.append(path)
        if path.endswith("/"):
            folders.append(entry[2])
    return paths


def test_the_map_of_the_house_names_every_module_and_only_what_exists():
    named = house_map()
    assert "suppression/inbound/classify.py" in named and "handlers/smtp.py" in named  # the parsing itself
    assert [path for path in named if not (ROOT / path).exists()] == [], "named in the map, not in the tree"
    modules = {str(path.relative_to(ROOT)) for folder in ("suppression", "handlers")
               for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts}
    assert sorted(modules - set(named)) == [], "modules docs/architecture.md's map does not name"


def test_every_file_the_docs_name_exists():
    # `suppression/inbound/judge.py`, `bench/README.md`, ...: a module moved is a page to update.
    missing = []
    for page in pages():
        for path in re.findall(r"`((?:suppression|handlers|tests|bench|deploy|docs|\.ci)/[\w./*-]*)`",
                               FENCE.sub("", page.read_text(encoding="utf-8"))):
            if not list(ROOT.glob(path.replace("LANG", "*").rstrip("/"))):
                missing.append(f"{page.name}: {path}")
    assert missing == []


def test_no_link_points_to_a_missing_file_or_outside_the_repository():
    assert broken_links([(page, page.read_text(encoding="utf-8")) for page in pages()]) == []


def test_the_link_checker_finds_a_broken_link():
    text = ("# A `[head]` ing\n[gone](no-such-file.md) [fine](api.md) [out](../../x.md) [here](#a-head-ing)"
            " [no anchor](api.md#no-such-heading) see ../shared/CONTRACT.md\n")
    assert broken_links([(DOCS / "api.md", text)]) == [
        "api.md: no-such-file.md", "api.md: ../../x.md", "api.md: api.md#no-such-heading",
        "api.md: ../shared/CONTRACT.md"]
