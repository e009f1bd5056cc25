"""Where the service's child processes come from: multiprocessing's fork server.

The mail reader and the search of stored mail run in child processes, so that hostile mail
costs a child, not the service's loop. The fork server is a clean process, started once, that
imports the reader before it forks each child: like spawn, a child holds none of the service's
threads, sockets or index; unlike spawn, it is ready in ~50 ms instead of ~450 ms of imports,
and shares the imported code's pages with the others."""

import multiprocessing
from multiprocessing.context import BaseContext

_PRELOAD = ["suppression.reader", "suppression.subject_search"]


def child_context() -> BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # heeded when the server starts, on first use
    return context
