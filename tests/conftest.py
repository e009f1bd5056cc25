"""Fixtures and hooks: real settings in a temporary folder, the real app on a real socket, real
keys; which tests run on both stores; which run with no other test beside them.

The helpers live in tests/support/; their names are re-exported here for the tests (and the
branches) that import them from `tests.conftest`."""

import contextlib
import inspect
import os
import threading

import pytest
from hypothesis import find, settings as hypothesis_settings, strategies

from handlers.app import build_app
from handlers.protocol import quiet_protocol_errors
from handlers.state import SERVICE
import suppression.details
from suppression.config import settings_from_mapping  # noqa: F401 (importable from here, as before)
from tests.support import compiled, launcher, order
from tests.support.alone import RunLock
from tests.support.cli import _env, cli, run_cli  # noqa: F401
from tests.support.http import api_call, bearer, free_port  # noqa: F401
from tests.support.outside import count_from_outside, execute_from_outside  # noqa: F401
from tests.support.paths import ROOT  # noqa: F401
from tests.support.postgres import available as postgres_available, shared_server  # noqa: F401
from tests.support.service import ServiceProcess  # noqa: F401
from tests.support.settings import (  # noqa: F401
    UNLIMITED_UNPROVEN,
    _databases,
    _test_store,
    database_of,
    give_back_databases,
    make_settings,
    write_config,
)


# The service's own connection handler (handlers/protocol.py) in every server the tests start in
# this process, as `suppression serve` installs it: its 400s, and bodies it never decompresses.
quiet_protocol_errors()

# No per-example deadline (hypothesis's default is 200 ms): that is a timing assertion on a shared
# machine (test_tokens failed so with 433 ms under a load of 9); what a property test asserts
# is the property. Speed belongs in bench/. A test's own @settings still sets its example count.
hypothesis_settings.register_profile("suite", deadline=None)
hypothesis_settings.load_profile("suite")


def pytest_addoption(parser):
    parser.addoption("--record-durations", action="store_true",
                     help="write each module's mean seconds a test to tests/durations.json (the order tests run in)")


def pytest_configure(config):
    if config.getoption("record_durations") and not os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(order.Recorder(), "record-durations")
    # Before any worker starts a program (in the controller, or the one process without xdist):
    # tests/support/compiled.py.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        compiled.compile_ahead(config)


@pytest.hookimpl(trylast=True)  # after Hypothesis's own, which ends its start-up
def pytest_sessionstart(session):
    # Hypothesis works out once which characters UTF-8 encodes (1.3 s of CPU) and keeps it in
    # .hypothesis/; on a fresh checkout (CI) each worker worked it out at its first such test.
    # The controller does it while the workers start and collect (after pytest's start-up, which
    # Hypothesis asks to be left without such work).
    config = session.config
    if config.getoption("numprocesses", None) and not config.option.collectonly and not os.environ.get("PYTEST_XDIST_WORKER"):
        thread = threading.Thread(target=_warm_hypothesis, name="warm-hypothesis", daemon=True)
        thread.start()
        _warm.append(thread)


_warm: list[threading.Thread] = []


def _warm_hypothesis() -> None:
    # Only a cache: a failure, or a warning (an error in this suite), leaves the work to each worker
    # rather than failing a run whose tests passed.
    with contextlib.suppress(Exception):
        find(strategies.characters(codec="utf-8"), lambda _: True, settings=hypothesis_settings(database=None))


def pytest_unconfigure(config):
    for thread in _warm:
        thread.join()
    launcher.close()


def pytest_generate_tests(metafunc):
    # A module marks itself `pytestmark = pytest.mark.both_stores` (renaming it keeps its PostgreSQL run).
    # A test in it that takes no argument of its own (a fixture, a parameter) makes no store:
    # it runs once (a property test of a parser ran twice, 1.5-2.9 s each).
    if ("store" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores") is not None
            and metafunc.definition.get_closest_marker("sqlite_only") is None
            and inspect.signature(metafunc.function).parameters):
        postgresql = pytest.param("postgresql", marks=pytest.mark.skipif(
            not postgres_available() and os.environ.get("CI") != "true",
            reason="needs Debian's postgresql package (.ci/run installs it)"))
        metafunc.parametrize("store", ["sqlite", postgresql])


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): the whole suite, or a folder of it, on every core this
    process may use; a run that names test files or tests runs in one process, which starts
    sooner and lets --pdb and -s work. `-n N` on the command line always wins, and so does
    PYTEST_XDIST_AUTO_NUM_WORKERS (docs/testing.md)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    named = [arg for arg in config.args if "::" in arg or arg.split("::")[0].endswith(".py")]
    # A worker a core and one more: the third of two cores' workers takes the time the others
    # spend waiting (timeouts, restarts, slow clients): 274-302 s against 297-307 s for two,
    # back to back (docs/testing.md).
    return 0 if named else len(os.sched_getaffinity(0)) + 1


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    # A module whose tests share a module-scoped fixture (a service started once, a wheel built
    # once) runs on one worker, which sets it up once.
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        shared = fixtures is not None and any(
            definitions[-1].scope in ("class", "module") for definitions in fixtures.name2fixturedefs.values() if definitions)
        if shared and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    # The order workers take work in (pyproject's addopts turn off xdist's own, which sends the
    # largest groups first). Tests that run (in part) alone go first: a worker reaching one waits,
    # idle, for the test the other worker is in to end; later in the run that was often a 10-16 s
    # one (28 s of one core's waiting in a run) or a module's 40 s set-up (the wheel's), at the
    # start it is another such test, each soon past its set-up (in the collection's order: taken
    # longest first, the whole-test ones came between and held both other workers idle, 44-73%
    # of the machine for 20 s). Then the shortest tests for a while (so that a turn the last of
    # those wait for is not held by another worker's longest test), then each group or test,
    # longest first, as tests/durations.json expects them (tests/support/order.py).
    groups = {item: _group_of(item) for item in items}
    items[:] = order.arranged(items, groups, order.expected_seconds(items, groups, order.read()), _runs_alone)


_ungrouped: set[str] = set()


def pytest_collection_finish(session):
    """The grouped tests whose group did not reach pytest-xdist: it is kept only as a suffix of
    each test's id, which pytest 9.2 no longer lets it add (its issue 1386)."""
    if os.environ.get("PYTEST_XDIST_WORKER") and session.config.getvalue("loadgroup"):
        _ungrouped.update(item.nodeid for item in session.items
                          if _group_of(item) and "@" not in item.nodeid.rpartition("]")[2])


def pytest_runtest_setup(item):
    # Before any fixture: a module's service, started once for it, starts as its tests do.
    launcher.set_cold(item.get_closest_marker("cold") is not None)
    if item.nodeid in _ungrouped:
        pytest.fail(f"pytest-xdist did not keep this test's group ({_group_of(item)}) on one worker: its"
                    " --dist loadgroup does not work with this pytest (see pyproject.toml)", pytrace=False)


def _group_of(item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return "" if marker is None else str(marker.kwargs.get("name", marker.args[0] if marker.args else ""))


def _runs_alone(item) -> bool:
    return item.get_closest_marker("alone") is not None or "run_alone" in getattr(item, "fixturenames", ())


_run_lock: list[RunLock] = []


def _the_run_lock(config) -> RunLock | None:
    """Under pytest-xdist, the lock the workers share; none in a run of one process."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    if not _run_lock:
        # In the run's temporary folder, which holds each worker's own.
        _run_lock.append(RunLock(config._tmp_path_factory.getbasetemp().parent))
    return _run_lock[0]


_held_alone: list[contextlib.ExitStack] = []  # the exclusive hold, kept from an alone test to the next


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """A test marked `alone` runs with no other beside it (tests/support/alone.py), and so do
    the gaps between such tests that follow each other (a module's, as test_loop_budget.py's):
    its service lives through them, and its lag probe counted the wake-ups that tests running
    beside it in a gap made late (twice in a CI run, 282 ms against 100)."""
    lock = _the_run_lock(item.config)
    if lock is None:
        return (yield)
    if item.get_closest_marker("alone") is None:
        with lock.shared():
            return (yield)
    if not _held_alone:
        held = contextlib.ExitStack()
        held.enter_context(lock.exclusive())
        _held_alone.append(held)
    try:
        return (yield)
    finally:
        if nextitem is None or nextitem.get_closest_marker("alone") is None:
            _held_alone.pop().close()


@pytest.fixture
def run_alone(request):
    """`with run_alone(): ...`: that part of the test runs with no other test beside it (the
    part that measures a latency, after a set-up that other tests may run beside); see
    tests/support/alone.py. In a run of one process, nothing runs beside it anyway."""
    lock = _the_run_lock(request.config)
    assert request.node.get_closest_marker("alone") is None, "an `alone` test holds the lock throughout already"
    return lock.exclusive_within_shared if lock is not None else contextlib.nullcontext


@pytest.fixture(autouse=True)
def store():
    """Which store the test's settings name (parametrised over both for modules marked both_stores)."""
    return "sqlite"


@pytest.fixture(autouse=True)
def _details_wait_on_a_loaded_machine(monkeypatch):
    # A check of a suppressed address waits 50 ms for its details (reason, source, since), then
    # answers without them (issue 25). On a test machine running two workers, the database
    # answered later than that now and then, and tests of what the details say failed for it.
    # In this process they wait up to 5 s; the services the tests start as processes keep the
    # 50 ms (tests/test_instances.py asserts an answer without details while PostgreSQL is down).
    monkeypatch.setattr(suppression.details, "DETAILS_WAIT_SECONDS", 5.0)


@pytest.fixture(autouse=True)
def _settings_on_the_tests_store(store):
    # Set up before the test's own function-scoped fixtures (and after wider ones), so torn down
    # after them: the databases of data folders made from here on are the test's own.
    _test_store[0] = store
    before = set(_databases)
    yield
    _test_store[0] = "sqlite"
    give_back_databases([data_dir for data_dir in list(_databases) if data_dir not in before])


@pytest.fixture
def settings(tmp_path, store):
    return make_settings(tmp_path / "data", store)


@pytest.fixture
async def client(aiohttp_client, settings):
    """A test client of the real app, served over a loopback socket."""
    return await aiohttp_client(build_app(settings))


@pytest.fixture
async def admin_key(client):
    return await client.app[SERVICE].api_keys.create_api_key("admin-tests", "admin")


@pytest.fixture
async def sync_key(client):
    return await client.app[SERVICE].api_keys.create_api_key("sync-tests", "sync")


@pytest.fixture
async def check_key(client):
    return await client.app[SERVICE].api_keys.create_api_key("check-tests", "check")
