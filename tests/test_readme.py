"""The README is a front door: it opens with the two commands (CI runs the second one as it is
written), stays short, and its map leads to every page of docs/. Its examples run in
tests/test_docs.py."""

import re

from tests.support.paths import ROOT

START = "python3 -m venv --upgrade-deps .venv && .venv/bin/pip install . && .venv/bin/suppression serve"
TEST = "python3 -m venv --upgrade-deps .venv && .venv/bin/pip install --no-compile -e '.[test]' && .venv/bin/python -m pytest"


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def readme_commands() -> list[str]:
    return re.findall(r"```sh\n(.+?)\n```", readme())[:2]


def test_readme_opens_with_the_start_and_test_commands():
    start, test = readme_commands()
    # Installed as an operator would (not editable), started by the installed command.
    assert start.endswith("suppression serve") and "pip install . " in start
    assert "[test]" in test and "pytest" in test
    # Nothing but the title comes before them, and they are the commands as every reader knows them.
    assert readme().index("```sh") < readme().index("\n## ")
    assert (start, test) == (START, TEST)


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()


def test_readme_is_a_front_door_of_at_most_150_lines():
    assert len(readme().splitlines()) <= 150


def test_readme_says_where_the_first_command_serves():
    text = " ".join(readme().split())
    assert "HTTP on 127.0.0.1:8080, SMTP on 127.0.0.1:8025" in text and "`./data/`" in text


def test_the_readme_map_leads_to_every_page_of_the_docs():
    linked = set(re.findall(r"\]\(docs/([^)#]+\.md)[)#]", readme()))
    pages = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md")}
    assert sorted(pages - linked) == []
