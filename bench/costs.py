"""What the work a target cannot skip costs, in a tight in-process loop (the best case).

    python bench/costs.py

Each figure is a floor: under load, beside wrk on the same two cores, the same work costs
about twice as much (bench/README.md). Compared with the budget a ratio target leaves over
the bare handler, these floors show which targets no Python implementation of the contract
can reach on this machine.
"""

import sqlite3
import sys
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smtpload import request_message  # noqa: E402
from suppression.addresses import key_of_canonical, normalise_address  # noqa: E402
from suppression.inbound.classify import classify_message  # noqa: E402
from suppression.model import Scope  # noqa: E402
from suppression.tokens import mint_readable_token, mint_token, verify_token  # noqa: E402

KEY = "costs-signing-key-0123456789abcdefghijklmnop"


def micros(fn, number: int = 20_000) -> float:
    fn()
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def one_write_statements():
    """The statements of one new suppression in its savepoint, on an in-memory database."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute("CREATE TABLE s (email TEXT, topic TEXT, key INTEGER, reason TEXT, source TEXT, created_at TEXT,"
               " PRIMARY KEY (email, topic)) WITHOUT ROWID")
    db.execute("CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, at, action, email, topic, reason, source, actor)")
    counter = iter(range(10**9))

    def write():
        email = f"a{next(counter)}@example.com"
        db.execute("SAVEPOINT one_write")
        db.execute("INSERT OR IGNORE INTO s VALUES (?, ?, ?, ?, ?, ?)", (email, "n", 1, "unsubscribe", "one-click", "t"))
        db.execute("INSERT INTO c (at, action, email, topic, reason, source, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   ("t", "suppress", email, "n", "unsubscribe", "one-click", "link"))
        db.execute("RELEASE one_write")

    return write


def main() -> None:
    token = mint_token(KEY, "someone.else@example.com", Scope("newsletters"))
    readable = mint_readable_token(KEY, "someone.else@example.com", Scope("newsletters"))
    message = request_message("person0.1@bench.example")
    rows = [
        ("verify a link token (AES-256-GCM inside, itsdangerous HMAC-SHA256)", micros(lambda: verify_token(KEY, token))),
        ("verify a link token of the earlier, readable form", micros(lambda: verify_token(KEY, readable))),
        ("normalise an address and hash it", micros(lambda: key_of_canonical(normalise_address("Someone.Else@Example.com")))),
        ("one new suppression's statements (in memory, no disk)", micros(one_write_statements())),
        ("read one request message (classify_message)", micros(
            lambda: classify_message(message, "person0.1@bench.example", {"plusinfo@plusnxt.com"},
                                     lambda t: verify_token(KEY, t)), number=2_000)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:7.1f} µs")


if __name__ == "__main__":
    main()
