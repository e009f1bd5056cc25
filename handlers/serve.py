"""Start the service: read the configuration, build the app, serve until SIGTERM or Ctrl-C.

`python run.py` and the installed `suppression serve` both end here; every other `suppression`
command is the admin CLI of suppression/cli.py, which knows nothing of the edges.
"""

import contextlib
import gc
import logging
import os
import resource
import sys

# NumPy's BLAS starts a thread of its own when imported, which nothing here uses: without it the
# process is one thread until the loop starts, as [http] workers forks it (handlers/workers.py).
ENVIRONMENT_DEFAULTS = {"OPENBLAS_NUM_THREADS": "1"}
for _name, _value in ENVIRONMENT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)

from handlers.logs import configure_logging  # noqa: E402 -- after the line above
from suppression.config import load_settings  # noqa: E402
from suppression.errors import ConfigError, StoreUnavailable  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """`python run.py [--config PATH]`."""
    with _collector_held():
        from suppression.cli import CommandLine
    parser = CommandLine(description="Email unsubscribe and suppression-list service")
    parser.add_argument(
        "--config", default=os.environ.get("SUPPRESSION_CONFIG"),
        help="TOML configuration file (default: $SUPPRESSION_CONFIG, else embedded defaults)",
    )
    return serve(parser.parse_args(argv).config)


def console(argv: list[str] | None = None) -> int:
    """The installed `suppression` command: the admin CLI, with `serve` starting the service."""
    with _collector_held():
        from suppression import cli
    return cli.main(argv, serve=serve)


@contextlib.contextmanager
def _collector_held():
    """No cyclic garbage collection while a process loads its modules: what they build lasts as
    long as the process, and the collector walked it ~150 times, 36 ms of a service's start-up.
    (The app freezes what start-up built once it has started: handlers/app.py.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def serve(config: str | None) -> int:
    """Serve until SIGTERM or SIGINT; 0 after a clean stop, 2 for bad configuration, 1 if it cannot start."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The loop and the threads beside it (the store's readers, the writer's pipe) hand the GIL back
    # and forth; a thread that wants it back waits up to the switch interval (5 ms by default)
    # while another runs Python. At 1 ms one-click writes went 0.14 -> 0.16 of the bare handler
    # over four alternating rounds while the writer was a thread, a gain inside a noisy machine's
    # spread (bench/README.md, "One-click: where the time goes").
    sys.setswitchinterval(0.001)
    configure_logging(settings)
    # Imported here, not at the top: every other `suppression` command goes through this module
    # and needs neither aiohttp nor the app (about a third of a CLI call's start-up).
    with _collector_held():
        from aiohttp import web

        from handlers.app import build_app
        from handlers.protocol import quiet_protocol_errors

    quiet_protocol_errors()
    _raise_open_files_limit()
    host, port, count = settings.http.host, settings.http.port, settings.http.worker_count()
    plan = None
    try:
        if count > 1:
            from handlers.workers import WorkerPlan, fork_workers, port_socket

            # Bound here, before the app starts: the workers are told the port (a configured 0 is one now).
            sockets = [port_socket(host, port), port_socket("127.0.0.1", 0, reuse_port=False)]
            port = sockets[0].getsockname()[1]
            plan = WorkerPlan(count, config, port, "http://127.0.0.1:%d" % sockets[1].getsockname()[1])
            fork_workers(plan, settings, sockets)  # before any loop or thread of ours: see handlers/workers.py
            listen = {"sock": sockets}
        else:
            listen = {"host": host, "port": port}
        # run_app turns SIGTERM and SIGINT into a clean shutdown that runs cleanup_ctx.
        web.run_app(
            build_app(settings, plan),
            **listen,
            print=lambda _: logging.getLogger("run").info(
                "serving HTTP on http://%s:%d%s", host, port, f" with {count} workers" if count > 1 else ""
            ),
            access_log=None,
        )
    except ConfigError as exc:
        logging.getLogger("run").error("%s", exc)
        return 2
    except OSError as exc:
        logging.getLogger("run").error("cannot start: %s", exc)
        return 1
    except StoreUnavailable as exc:  # the database cannot be reached: its reason, not a traceback
        logging.getLogger("run").error("cannot start: %s", exc)
        return 1
    finally:
        if plan is not None:  # it did not start: the workers forked for it end, and are reaped
            from handlers.workers import let_go_unstarted

            for pid in let_go_unstarted(plan).values():
                os.waitpid(pid, 0)
    return 0


def _raise_open_files_limit() -> None:
    # Every HTTP and SMTP connection is a file descriptor; the usual soft limit of 1,024 would
    # let a few hundred slow clients stop the service from accepting anyone else.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        logging.getLogger("run").info("open files limit raised from %d to %d", soft, wanted)
