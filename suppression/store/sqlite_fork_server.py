"""Imported by multiprocessing's fork server alone, as it starts (sqlite_writer.py preloads it):
the server forks the SQLite writer's processes, and ends at once when the service does, however
the service ends (Linux), so that a writer forked from it is killed at once too (sqlite_child.py).
A transaction not yet committed is then rolled back, never finished after its caller has gone:
a killed import leaves nothing, as it did when the writer was a thread.
"""

import os
import signal

from suppression.lifetime import end_with_parent
from suppression.store import sqlite_child  # noqa: F401 -- imported once here, in every writer forked

if not end_with_parent(os.getppid(), signal.SIGKILL):
    os._exit(0)
