"""The one door: both stores implement the whole interface the service uses, with the same
parameters, and nothing outside the service reaches a store."""

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


@pytest.mark.parametrize("module", ["service.py", "stats.py"])
def test_the_service_uses_only_what_the_interface_has(module):
    used = set(re.findall(r"self\.store\.(\w+)", (ROOT / "suppression" / module).read_text()))
    assert used and used <= set(MEMBERS) | ATTRIBUTES, used - set(MEMBERS)


def test_no_module_outside_the_service_reaches_a_store():
    # stats.py reads counts through the store the service hands it (and through the interface's
    # methods alone, as the test below holds of it too); nothing else may.
    for path in [*(ROOT / "handlers").glob("*.py"), *(ROOT / "suppression").glob("*.py")]:
        if path.name in ("service.py", "stats.py"):
            continue
        text = path.read_text()
        assert not re.search(r"\.store\.\w+\(|\bSuppressionStore\b|\bPostgresStore\b", text), path.name
