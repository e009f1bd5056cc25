"""Imported by multiprocessing's fork server alone, as it starts (sqlite_writer.py preloads it):
the server forks the SQLite writer's processes, and ends at once when the service does, however
the service ends (Linux), so that a writer forked from it is killed at once too (sqlite_child.py).
A transaction not yet committed is then rolled back, never finished after its caller has gone:
a killed import leaves nothing, as it did when the writer was a thread.

A SIGTERM to the whole process group (a `kill -TERM -PGID`, a supervisor without systemd's
KillMode=mixed) leaves the server alone: it would have killed the writer in the middle of a
group. The writer ends between groups on it, and the server with the service.
"""

import os
import signal
from multiprocessing import spawn

from suppression.lifetime import end_with_parent
# Imported once here, in every writer forked: what its works are made of (pickled by name).
from suppression.store import sqlite_child, sqlite_import, steps, writes  # noqa: F401

signal.signal(signal.SIGTERM, signal.SIG_IGN)
# The writer needs nothing of the program's main module, but multiprocessing imports it again in
# each process forked here: a script's top level ran a second time in the writer, and one without
# a `__main__` guard started itself there and waited for ever. This server forks only writers.
spawn._fixup_main_from_path = spawn._fixup_main_from_name = lambda _: None
if not end_with_parent(os.getppid(), signal.SIGKILL):
    os._exit(0)
