"""The README opens with the two commands, and CI runs the second one as it is written."""

import re

from tests.support.paths import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text)[:2]


def test_readme_opens_with_the_start_and_test_commands():
    start, test = readme_commands()
    # Installed as an operator would (not editable), started by the installed command.
    assert start.endswith("suppression serve") and "pip install . " in start
    assert "[test]" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands()[1] in ci.splitlines()
