"""The shape of the house (issue 22, docs/architecture.md): the domain never reaches up into the
edges, and no class grows back into a god object."""

import ast

from tests.support.paths import ROOT

MAX_CLASS_LINES = 300


def modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_nothing_in_the_domain_imports_the_edges():
    # __main__.py is the installed command's entry point, as run.py is: it starts the edges.
    reaching = {path: sorted(n for n in imported(tree) if n == "handlers" or n.startswith("handlers."))
                for path, tree in modules("suppression") if path != "suppression/__main__.py"}
    assert {path: names for path, names in reaching.items() if names} == {}


def test_the_check_sees_an_import_of_the_edges():
    assert imported(ast.parse("from handlers.serve import console\nimport handlers.app\n")) == {
        "handlers.serve", "handlers.app"}


def test_no_class_is_over_300_lines():
    sizes = {f"{path}:{node.name}": node.end_lineno - node.lineno + 1
             for package in ("suppression", "handlers") for path, tree in modules(package)
             for node in tree.body if isinstance(node, ast.ClassDef)}
    assert "suppression/service.py:SuppressionService" in sizes
    assert {name: n for name, n in sizes.items() if n > MAX_CLASS_LINES} == {}
