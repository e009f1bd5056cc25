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


def test_recorded_durations_are_each_modules_mean_a_test_and_read_back(tmp_path):
    path = tmp_path / "durations.json"
    recorder = order.Recorder(path)
    for nodeid, seconds in [("tests/a.py::one", 0.5), ("tests/a.py::one", 1.5), ("tests/a.py::two", 1.0),
                            ("tests/b.py::one", 0.25)]:  # set-up, call and tear-down each report
        recorder.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, duration=seconds))
    recorder.pytest_sessionfinish(session=None)
    assert order.read(path) == {"tests/a.py": 1.5, "tests/b.py": 0.25}
    assert order.read(tmp_path / "none.json") == {}


def test_the_committed_durations_name_only_modules_that_exist():
    means = order.read()
    assert means, "tests/durations.json is missing: pytest --record-durations writes it"
    root = order.FILE.parent.parent
    assert all((root / module).is_file() for module in means), [m for m in means if not (root / m).is_file()]
