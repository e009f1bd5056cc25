"""The store's contract: both stores implement the whole interface, with the same parameters;
every caller uses only what it has (a caller that only reads asks `service.store` by the
store's own names); only the service makes a store, and only the door changes the list."""

import inspect
import re
from pathlib import Path

import pytest

from suppression.store.postgresql import PostgresStore
from suppression.store import SuppressionStore
from suppression.store import Store

ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTES = set(Store.__annotations__)  # signal, stored_mail_bytes, reachable: set by each store's __init__
MEMBERS = sorted(name for name in vars(Store) if not name.startswith("_") and name not in ATTRIBUTES)


@pytest.mark.parametrize("implementation", [SuppressionStore, PostgresStore])
def test_each_store_has_every_method_of_the_interface_with_its_parameters(implementation):
    for name in MEMBERS:
        wanted = getattr(Store, name)
        given = getattr(implementation, name, None)
        assert given is not None, f"{implementation.__name__} lacks {name}"
        if isinstance(wanted, property):
            assert isinstance(given, property), name
            continue
        assert list(inspect.signature(given).parameters) == list(inspect.signature(wanted).parameters), name
        assert inspect.iscoroutinefunction(given) == inspect.iscoroutinefunction(wanted) or inspect.isasyncgenfunction(
            given), name


# The stores themselves: the package suppression/store/.
STORE_PACKAGE = ROOT / "suppression" / "store"
# A write that changes the list returns the change it made, which the live index must take in
# before the answer (LiveIndex.took): only the door and the objects it makes call one.
LIST_WRITES = {"suppress", "claim", "unsuppress", "lift_own_opt_outs", "import_rows", "erase", "settle_message",
               "resolve_message"}
DOOR = {"suppression/service.py", "suppression/review.py", "suppression/rights.py"}


def callers() -> dict[str, set[str]]:
    """Each module of the domain and the edges (the stores' own left out), and the store
    methods and attributes it names (`….store.name`)."""
    found = {}
    for path in [*(ROOT / "handlers").rglob("*.py"), *(ROOT / "suppression").rglob("*.py")]:
        if STORE_PACKAGE not in path.parents:
            # Not `settings.store.url` (the [store] section of the settings) nor `suppression.store.sqlite`
            # (a module of the package).
            found[path.relative_to(ROOT).as_posix()] = set(
                re.findall(r"(?<!settings)(?<!suppression)\.store\.(\w+)", path.read_text()))
    return found


def test_every_caller_of_a_store_uses_only_what_the_interface_has():
    used = callers()
    assert used["suppression/service.py"] and used["suppression/index/live.py"] and used["handlers/webhooks.py"]
    assert {path: names - set(MEMBERS) - ATTRIBUTES for path, names in used.items()
            if names - set(MEMBERS) - ATTRIBUTES} == {}


def test_only_the_door_changes_the_list():
    used = callers()
    assert used["suppression/service.py"] & LIST_WRITES and used["suppression/review.py"] & LIST_WRITES
    assert {path: names & LIST_WRITES for path, names in used.items() if path not in DOOR and names & LIST_WRITES} == {}


def test_only_the_service_makes_a_store():
    for path in [*(ROOT / "handlers").rglob("*.py"), *(ROOT / "suppression").rglob("*.py")]:
        if STORE_PACKAGE in path.parents or path.name == "service.py":
            continue
        assert not re.search(r"\bSuppressionStore\b|\bPostgresStore\b", path.read_text()), path.name
