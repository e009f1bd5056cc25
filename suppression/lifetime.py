"""A process that ends when the process that started it ends, however that one ends (Linux's
PR_SET_PDEATHSIG): a worker (handlers/worker.py), and the SQLite writer and the fork server it
comes from (suppression/store/sqlite_child.py, sqlite_fork_server.py)."""

import ctypes
import os

_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int, signum: int) -> bool:
    """Be sent `signum` when `parent` ends; False if it has ended already (the caller then ends).
    Elsewhere than Linux nothing is asked, and the caller's pipe to its parent tells it instead."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum)
    except (OSError, AttributeError):
        pass
    return os.getppid() == parent
