"""What the work a target cannot skip costs, in a tight in-process loop (the best case).

    python bench/costs.py [--tree CHECKOUT]

With --tree, the code measured is that checkout's (this file's own by default), so two
versions can be measured one after the other by the same script.

Each figure is a floor: under load, beside wrk on the same two cores, the same work costs
about twice as much (bench/README.md). Compared with the budget a ratio target leaves over
the bare handler, these floors show which targets no Python implementation of the contract
can reach on this machine.
"""

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
_parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose code is measured")
_ARGS = _parser.parse_args()
sys.path.insert(0, str(_ARGS.tree.resolve()))

import numpy as np  # noqa: E402

from bench.smtpload import request_message  # noqa: E402
from suppression.addresses import key_of_canonical, normalise_address  # noqa: E402
from suppression.config import settings_from_mapping  # noqa: E402
from suppression.inbound.classify import classify_message  # noqa: E402
from suppression.index import KeySet  # noqa: E402
from suppression.model import Scope  # noqa: E402
from suppression.service import SuppressionService  # noqa: E402
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


def authenticate_repeated_key() -> float:
    """service.api_keys.authenticate for a key it has verified before (what every API request pays)."""

    async def measure() -> float:
        folder = Path(tempfile.mkdtemp(prefix="bench-costs-"))
        service = SuppressionService.of_settings(settings_from_mapping({"service": {"data_dir": str(folder)}}),
                                                 ("k" * 48,))
        await service.start()
        try:
            ring = getattr(service, "api_keys", service)  # --tree: a checkout from before the key ring
            key = await ring.create_api_key("bench", "check")
            await ring.authenticate(key)
            best = float("inf")
            for _ in range(3):
                started = timeit.default_timer()
                for _ in range(20_000):
                    await ring.authenticate(key)
                best = min(best, (timeit.default_timer() - started) / 20_000 * 1e6)
            return best
        finally:
            await service.stop()

    return asyncio.run(measure())


def new_links():
    """Verifying a link not seen before (each call the next of 15,001 different links)."""
    links = iter([mint_token(KEY, f"person{n}@example.com", Scope("newsletters")) for n in range(3 * 5000 + 1)])
    return lambda: verify_token(KEY, next(links))


def bulk_lookup(size: int):
    """KeySet.contains_many of 10,000 keys (half present) against `size` keys: per key."""
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True)
    keyset = KeySet(np.sort(keys))
    asked = np.concatenate([rng.choice(keys, 5000), rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64)])
    return lambda: keyset.contains_many(asked)


def single_lookup(size: int):
    """One key, not among `size`, looked up as a single check does (KeySet membership)."""
    keyset = KeySet(np.sort(np.random.default_rng(1).integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True)))
    return lambda: 12345 in keyset


def main() -> None:
    token = mint_token(KEY, "someone.else@example.com", Scope("newsletters"))
    readable = mint_readable_token(KEY, "someone.else@example.com", Scope("newsletters"))
    message = request_message("person0.1@bench.example")
    rows = [
        ("verify a new link token (AES-256-GCM inside, itsdangerous HMAC-SHA256)", micros(new_links(), 5000)),
        ("verify a link token of the earlier, readable form", micros(lambda: verify_token(KEY, readable))),
        ("verify the same link again", micros(lambda: verify_token(KEY, token))),
        ("normalise an address and hash it", micros(lambda: key_of_canonical(normalise_address("Someone.Else@Example.com")))),
        ("normalise a non-ASCII address and hash it", micros(lambda: key_of_canonical(normalise_address("Jöhn.Doe@Exämple.com")))),
        ("authenticate an API key verified before", authenticate_repeated_key()),
        ("single lookup of one key not among 1,000,000 (a single check's, its caches warm)", micros(single_lookup(1_000_000))),
        ("bulk lookup against 1,000,000 keys, per key (10,000 at once)", micros(bulk_lookup(1_000_000), 200) / 10_000),
        ("bulk lookup against 10,000,000 keys, per key (10,000 at once)", micros(bulk_lookup(10_000_000), 200) / 10_000),
        ("one new suppression's statements (in memory, no disk)", micros(one_write_statements())),
        ("read one request message (classify_message)", micros(
            lambda: classify_message(message, "person0.1@bench.example", {"plusinfo@plusnxt.com"},
                                     lambda t: verify_token(KEY, t)), number=2_000)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"code of {_ARGS.tree.resolve()}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:7.2f} µs")


if __name__ == "__main__":
    main()
