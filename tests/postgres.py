"""Moved to tests/support/postgres.py; this name stays for code that imports it from here (the bench,
branches written before the move). The same module object, so its state is one."""

import sys

from tests.support import postgres

sys.modules[__name__] = postgres
