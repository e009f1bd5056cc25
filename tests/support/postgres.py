"""A throwaway PostgreSQL server for the tests, from Debian's postgresql package: initdb and
pg_ctl into a temporary folder as the `postgres` user (as pytest-postgresql does), on a free
loopback port, trusting local connections; one database per test.

A throwaway server (`durable=False`, the tests' own) neither syncs its files to disk nor
writes whole pages to its log: what a crash of the machine would lose, which no test makes.
A commit is still a commit (synchronous_commit stays on), a stopped or killed server still
comes back with everything committed, and each statement's meaning is unchanged; it saves the
seconds that fsync costs every CREATE DATABASE on a shared disk. The bench keeps its server durable."""

import atexit
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _tool(name: str) -> str:
    for folder in _BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package (.ci/run does)")
    return found


def available() -> bool:
    """Whether Debian's postgresql server programs are installed here."""
    try:
        _tool("initdb"), _tool("pg_ctl")
    except RuntimeError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, folder: Path | None = None, durable: bool = True):
        """In a new temporary folder, or in `folder` (kept, and its cluster reused: the bench's)."""
        self.durable = durable
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="suppression-pg-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.port = _free_port()
        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self._names = itertools.count(1)
        self._emptied: list[str] = []  # databases tests gave back, emptied for the next
        self.running = False

    def _as_postgres(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.folder, **kwargs)

    def init(self) -> "PostgresServer":
        if self._user is not None:
            os.chown(self.folder, self._user.pw_uid, self._user.pw_gid)
        if (self.data / "PG_VERSION").exists():
            self.start()
            return self
        self._as_postgres(_tool("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                          "-E", "UTF8", "--locale=C.UTF-8", *(() if self.durable else ("--no-sync",)))
        self.start()
        return self

    def start(self) -> None:
        options = (f"-c port={self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
                   " -c max_connections=300 -c shared_buffers=128MB")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._as_postgres(_tool("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w",
                          "-o", options, "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if self.running:
            self._as_postgres(_tool("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
            self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (dropped first if it exists); its URL."""
        name = name or f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # our own name, not input
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def lend_database(self) -> str:
        """An empty database for one test: one a finished test gave back, emptied, or a new one.
        Emptying one takes a hundredth of a second where CREATE DATABASE takes a tenth or more (it
        copies template1), and a third of the tests run on PostgreSQL."""
        return self._emptied.pop() if self._emptied else self.create_database()

    def give_back(self, url: str) -> None:
        """Empty a lent database for the next test as CREATE DATABASE would make it: every
        connection to it ended, the database renamed (so that a process of the last test that
        outlived it cannot reconnect by the old name and write into the next test's tables; a
        rename fails while anyone is connected), then its one schema dropped, with all it holds,
        and made again with the owner and grant a new database's has. One that cannot be
        emptied is left as it is and never lent again."""
        name = url.rsplit("/", 1)[1]
        fresh = f"test_{os.getpid()}_{next(self._names)}"
        try:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                for _ in range(250):  # a terminated backend takes a moment to go
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                 " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                    try:
                        conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{fresh}"')  # our own names, not input
                        break
                    except psycopg.errors.ObjectInUse:
                        time.sleep(0.02)
                else:
                    return
            with psycopg.connect(self.url(fresh), autocommit=True) as conn:
                conn.execute("DROP SCHEMA public CASCADE")
                conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
                conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
                left = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')").fetchone()[0]
        except psycopg.Error:
            return
        if left == 0:
            self._emptied.append(self.url(fresh))

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server for the whole test run (for each xdist worker), started on first use and
    removed at exit."""
    global _shared
    if _shared is None:
        _shared = PostgresServer(durable=False).init()
        atexit.register(_shared.remove)
    return _shared
