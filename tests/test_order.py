"""The order the workers take tests in (tests/support/order.py): longest first, from each
module's mean seconds a test as `pytest --record-durations` writes them."""

from types import SimpleNamespace

from tests.support import order


class Item:
    def __init__(self, nodeid: str):
        self.nodeid = nodeid


def items(*nodeids):
    return [Item(nodeid) for nodeid in nodeids]


def test_a_group_is_expected_to_take_its_tests_together_and_an_unknown_module_the_longest():
    a1, a2, b1, c1 = items("tests/a.py::one", "tests/a.py::two", "tests/b.py::one", "tests/new.py::one")
    groups = {a1: "tests/a.py", a2: "tests/a.py", b1: "", c1: ""}
    seconds = order.expected_seconds([a1, a2, b1, c1], groups, {"tests/a.py": 2.0, "tests/b.py": 3.5})
    assert seconds == {a1: 4.0, a2: 4.0, b1: 3.5, c1: 3.5}
    assert order.expected_seconds([b1], {b1: ""}, {}) == {b1: 1.0}  # no figures: all alike, as collected


def test_alone_tests_go_first_then_the_shortest_for_a_while_then_the_longest_first(monkeypatch):
    monkeypatch.setattr(order, "SHORT_AFTER_ALONE_SECONDS", 1.0)
    alone, long1, long2, grouped1, grouped2, short1, short2, short3 = items(
        "tests/m.py::alone", "tests/l.py::one", "tests/l.py::two", "tests/g.py::one", "tests/g.py::two",
        "tests/s.py::one", "tests/s.py::two", "tests/s.py::three")
    collected = [short1, long1, grouped1, short2, alone, long2, grouped2, short3]
    groups = {item: "" for item in collected} | {grouped1: "tests/g.py", grouped2: "tests/g.py"}
    seconds = {item: 0.4 for item in collected} | {long1: 5.0, long2: 5.0, grouped1: 6.0, grouped2: 6.0, alone: 9.0}
    arranged = order.arranged(collected, groups, seconds, lambda item: item is alone)
    # The shortest within a second's worth (two of 0.4 s), then the rest longest first: the
    # group's tests together at its first place, ties in the collection's order.
    assert arranged == [alone, short3, short2, grouped1, grouped2, long1, long2, short1]


def test_without_alone_tests_or_in_a_short_run_the_longest_still_go_first():
    long, mid, short = items("tests/l.py::one", "tests/m.py::one", "tests/s.py::one")
    collected = [short, mid, long]
    groups, seconds = {item: "" for item in collected}, {long: 10.0, mid: 5.0, short: 0.1}
    assert order.arranged(collected, groups, seconds, lambda item: False) == [long, mid, short]
    # 15.1 s in all: at most a fifth of it (3 s) goes right after an alone test, not the 40 s.
    alone, = items("tests/a.py::one")
    seconds[alone], groups[alone] = 9.0, ""
    assert order.arranged([alone, *collected], groups, seconds, lambda item: item is alone) == [alone, short, long, mid]


def test_recorded_durations_are_each_modules_mean_a_test_after_a_run_that_passed(tmp_path):
    path = tmp_path / "durations.json"
    path.write_text('{"tests/a.py": 9.0, "tests/c.py": 4.0}')  # c.py did not run: its figure stays

    def recorded(exitstatus: int) -> dict:
        recorder = order.Recorder(path)
        for nodeid, seconds, skipped in [("tests/a.py::one", 0.5, False), ("tests/a.py::one", 1.5, False),
                                         ("tests/a.py::two", 1.0, False), ("tests/b.py::one", 0.25, False),
                                         ("tests/b.py::two", 0.0, True)]:  # set-up, call and tear-down each report
            recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=seconds, skipped=skipped))
        recorder.pytest_sessionfinish(session=None, exitstatus=exitstatus)
        return order.read(path)

    assert recorded(1) == {"tests/a.py": 9.0, "tests/c.py": 4.0}  # a failing or interrupted run writes nothing
    assert recorded(0) == {"tests/a.py": 1.5, "tests/b.py": 0.25, "tests/c.py": 4.0}
    assert [p.name for p in tmp_path.iterdir()] == ["durations.json"]
    assert order.read(tmp_path / "none.json") == {}


def test_the_committed_durations_name_every_module_and_only_those():
    root = order.FILE.parent.parent
    modules = {str(path.relative_to(root)) for path in (root / "tests").rglob("test_*.py")}
    assert set(order.read()) == modules, "pytest --record-durations writes tests/durations.json again"
