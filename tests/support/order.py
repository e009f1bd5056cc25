"""The order the workers take tests in, longest first, from how long each module's tests took.

pytest-xdist hands a worker the next test (or group) when it has two or fewer left, in the
order given. Given in the collection's order, the run ended on test_webhooks.py and
test_workers.py, whose tests start services and take seconds: the last worker ran on alone for
7-10 s. Longest first (the classic rule for spreading work over machines) leaves the short tests
for the end, where they fill the gaps; some of them go first, right after the tests that run in
part alone (SHORT_AFTER_ALONE_SECONDS).

tests/durations.json holds each module's mean seconds a test, written by
`pytest --record-durations` (docs/testing.md). It only orders: a module not in it is expected to
take as long a test as the slowest module, and a stale figure costs a few seconds at worst,
never a test.
"""

import collections
import json
import os
from pathlib import Path

import pytest

FILE = Path(__file__).parent.parent / "durations.json"

# The modules whose tests mostly wait on servers they start and stop (PostgreSQL restarted or
# unreachable, Dovecot, instances killed and started again) go to one worker, one test after
# another: run side by side on two or three workers, they left a core idle for 4-6 s at a time
# (vmstat: 23-52% busy), while on one they wait beside the other workers' work.
WAITING_ON_SERVERS = pytest.mark.xdist_group("waiting on servers")


def read(path: Path = FILE) -> dict[str, float]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def expected_seconds(items, groups: dict, means: dict[str, float]) -> dict:
    """Each item's unit of work (its group, or itself) and how long that unit is expected to take."""
    unknown = max(means.values(), default=1.0)
    seconds = {item: means.get(_module(item), unknown) for item in items}
    by_group = collections.Counter()
    for item in items:
        if groups[item]:
            by_group[groups[item]] += seconds[item]
    return {item: by_group[groups[item]] if groups[item] else seconds[item] for item in items}


# Worker-seconds of the shortest tests sent right after those that run (in part) alone: while
# the last of those wait for their turn, the other workers are in short tests, whose end a turn
# waits for, not in the longest (a 14 s Chromium test held a 0.1 s turn, and a worker, 11 s).
SHORT_AFTER_ALONE_SECONDS = 40.0


def arranged(items, groups: dict, seconds: dict, alone) -> list:
    """The order to hand `items` out in: those `alone(item)` says run (in part) alone, in the
    collection's order; then, if there were any, SHORT_AFTER_ALONE_SECONDS of the shortest units
    (at most a fifth of the rest, so that a short run still ends on short tests); then every
    other unit (a group's tests together, or a test) longest first, ties in the collection's
    order."""
    first = [item for item in items if alone(item)]
    units: dict = {}  # a group's name, or the test itself: its tests, in the collection's order
    for item in items:
        if not alone(item):
            units.setdefault(groups[item] or item, []).append(item)
    longest = sorted(units, key=lambda unit: -seconds[units[unit][0]])
    budget = min(SHORT_AFTER_ALONE_SECONDS, sum(seconds[tests[0]] for tests in units.values()) / 5) if first else 0.0
    shortest, total = [], 0.0
    for unit in reversed(longest):
        if total + seconds[units[unit][0]] > budget:
            break
        shortest.append(unit)
        total += seconds[units[unit][0]]
    taken = set(shortest)
    return first + [item for unit in shortest + [unit for unit in longest if unit not in taken] for item in units[unit]]


class Recorder:
    """Adds up each test's set-up, call and tear-down; after a run that passed, writes each
    module's mean a test over the modules it ran (the others keep their figures)."""

    def __init__(self, path: Path = FILE):
        self.path = path
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.skipped: set[str] = set()  # a skipped test took no time: it would pull its module's mean down

    def pytest_runtest_logreport(self, report):
        self.seconds[report.nodeid] += report.duration
        if report.skipped:
            self.skipped.add(report.nodeid)

    def pytest_sessionfinish(self, session, exitstatus):
        if exitstatus != 0:
            return  # a run cut short or failing: its times say little
        modules = collections.defaultdict(list)
        for nodeid, seconds in self.seconds.items():
            if nodeid not in self.skipped:
                modules[nodeid.split("::")[0]].append(seconds)
        means = read(self.path) | {module: round(sum(times) / len(times), 3) for module, times in modules.items()}
        # Whole or not at all: the workers of a run starting meanwhile read it as they collect.
        written = self.path.with_name(self.path.name + ".new")
        written.write_text(json.dumps(dict(sorted(means.items())), indent=1) + "\n", encoding="utf-8")
        os.replace(written, self.path)


def _module(item) -> str:
    return item.nodeid.split("::")[0]
