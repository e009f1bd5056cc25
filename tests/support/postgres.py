"""A throwaway PostgreSQL server for the tests, from Debian's postgresql package: initdb and
pg_ctl into a temporary folder as the `postgres` user (as pytest-postgresql does), on a free
loopback port, trusting local connections; one database per test, made from a template that the
store's own migrations built once a server (tests/support/settings.py lends them).

A throwaway server (`durable=False`, the tests' own) neither syncs its files to disk nor
writes whole pages to its log: what a crash of the machine would lose, which no test makes.
A commit is still a commit (synchronous_commit stays on), a stopped or killed server still
comes back with everything committed, and each statement's meaning is unchanged; it saves the
seconds that fsync costs every CREATE DATABASE on a shared disk. The bench keeps its server durable."""

import asyncio
import atexit
import concurrent.futures
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from suppression.pg_schema import MIGRATIONS as PG_MIGRATIONS
from tests.support.http import free_port

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


class PostgresServer:
    def __init__(self, folder: Path | None = None, durable: bool = True):
        """In a new temporary folder, or in `folder` (kept, and its cluster reused: the bench's)."""
        self.durable = durable
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="suppression-pg-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.port = free_port()
        self._user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        self._names = itertools.count(1)
        self._template: _Template | None = None  # a database every migration was applied to, never used
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
        """A database for one test, as the store's first open leaves a new one: every migration
        applied, nothing in it, a database_id of its own. One a test gave back, emptied, or else
        a copy of a template the migrations built once: applying them to each test's database
        took ~65 ms of the server's CPU, where emptying one takes ~20 ms in all (copying or
        dropping one makes the server write out every changed page of every database, a
        checkpoint: 250 ms a database in a run of the suite)."""
        if self._template is None:
            self._template = self._migrated_template()
        if self._emptied:
            return self._emptied.pop()
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                sql.Identifier(name), sql.Identifier(self._template.name)))
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            _new_identity(conn)
        return self.url(name)

    def _migrated_template(self) -> "_Template":
        from suppression.store.postgresql import _migrate

        async def migrate(url: str) -> None:
            conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
            try:
                await _migrate(conn)
            finally:
                await conn.close()

        url = self.create_database(f"template_{os.getpid()}")
        # In a thread of its own: a test lends a database from inside its event loop, too.
        with concurrent.futures.ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, migrate(url)).result()
        with psycopg.connect(url, autocommit=True) as conn:
            template = _Template.of(url.rsplit("/", 1)[1], conn)
            (version,) = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        # Built from what the module holds now: inside opened_store(migrations=N) that would be N.
        assert version == len(PG_MIGRATIONS), f"the template stopped at migration {version}"
        return template

    def give_back(self, url: str) -> None:
        """Empty a lent database for the next test: every connection to it ended, the database
        renamed (so that a process of the last test that outlived it cannot reconnect by the old
        name and write into the next test's tables; a rename fails while anyone is connected),
        then every table emptied and what the migrations wrote put back. One whose schema the
        test changed is dropped; one that cannot be renamed is left as it is, never lent again."""
        name = url.rsplit("/", 1)[1]
        fresh = f"test_{os.getpid()}_{next(self._names)}"
        try:
            with psycopg.connect(self.url(), autocommit=True) as conn:
                for _ in range(250):  # a terminated backend takes a moment to go
                    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                 " WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                    try:
                        conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                            sql.Identifier(name), sql.Identifier(fresh)))
                        break
                    except psycopg.errors.ObjectInUse:
                        time.sleep(0.02)
                else:
                    return
            try:
                with psycopg.connect(self.url(fresh), autocommit=True) as conn:
                    if self._template is not None and self._template.matches(conn):
                        self._template.restore(conn)
                        self._emptied.append(self.url(fresh))
                        return
            except psycopg.Error as exc:  # whatever the test left that could not be emptied
                warnings.warn(f"a test's database could not be emptied, so it is dropped: {exc}", stacklevel=1)
            with psycopg.connect(self.url(), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(fresh)))
        except psycopg.Error:
            return  # a server the test left stopped, or a database it dropped itself

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


# What a test could change of a database and its schemas, short of its statistics: relations
# (owner, grants, options, row security) and their columns (place, type, collation, default,
# grants), indexes, constraints, every trigger and whether it is on (the foreign keys' too), rules
# and policies, functions and their grants, types, sequences' parameters, extended statistics,
# schemas and their grants, extensions, and the database's own settings and default grants. A
# database given back is emptied with DELETE: its planner statistics and dead rows stay, which
# no test reads (the one that asserts a plan runs ANALYZE first).
_SCHEMA = """
SELECT md5(coalesce(string_agg(line, E'\\n' ORDER BY line), '')) FROM (
    SELECT concat_ws(' ', 'r', c.relname, c.relkind, c.relpersistence, c.relowner::regrole, c.relacl, c.reloptions,
                     c.relrowsecurity, c.relforcerowsecurity, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                     a.attcollation::regcollation, a.attnotnull, a.attacl, pg_get_expr(d.adbin, d.adrelid)) AS line
      FROM pg_class c
      LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 'ti', c.relname, t.tgenabled, count(*))
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace AND t.tgisinternal GROUP BY c.relname, t.tgenabled
    UNION ALL SELECT concat_ws(' ', 'p', polname, polrelid::regclass, pg_get_expr(polqual, polrelid)) FROM pg_policy
    UNION ALL SELECT concat_ws(' ', 'w', rulename, ev_class::regclass) FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
     WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 'y', typname, typtype, typowner::regrole, typacl) FROM pg_type t
     WHERE typnamespace = 'public'::regnamespace AND typtype <> 'c' AND typcategory <> 'A'
    UNION ALL SELECT concat_ws(' ', 's', c.relname, s.seqtypid::regtype, seqstart, seqincrement, seqmax, seqmin, seqcache, seqcycle)
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT 'x ' || stxname FROM pg_statistic_ext WHERE stxnamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 'g', setrole, setconfig) FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL SELECT concat_ws(' ', 'a', defaclrole::regrole, defaclnamespace, defaclobjtype, defaclacl) FROM pg_default_acl
    UNION ALL SELECT concat_ws(' ', 'd', datacl, datconnlimit) FROM pg_database WHERE datname = current_database()
    UNION ALL SELECT 'i ' || pg_get_indexdef(i.indexrelid)
      FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 'c', conname, pg_get_constraintdef(oid))
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 't', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
    UNION ALL SELECT concat_ws(' ', 'f', p.oid::regprocedure, prokind, proowner::regrole, proacl, md5(prosrc))
      FROM pg_proc p WHERE pronamespace = 'public'::regnamespace
    UNION ALL SELECT concat_ws(' ', 'n', nspname, nspowner::regrole, nspacl) FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION ALL SELECT 'e ' || extname FROM pg_extension
) AS lines
"""


def _schema_of(conn) -> str:
    return conn.execute(_SCHEMA).fetchone()[0]


def _tables_of(conn) -> frozenset[str]:
    return frozenset(table for (table,) in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))


def _new_identity(conn) -> None:
    # What migration 3 makes each database (it tells their index snapshots apart). A migration
    # that gave a database another value of its own would have to be made anew here too.
    conn.execute("UPDATE meta SET value = md5(random()::text || clock_timestamp()::text) WHERE key = 'database_id'")


@dataclass(frozen=True)
class _Template:
    """What the migrations leave in a new database: its schema, the rows they wrote, where its
    sequences stand."""
    name: str
    schema: str
    tables: frozenset[str]
    rows: list[tuple[str, list[str], list[tuple]]]  # table, columns, rows
    sequences: list[tuple[str, int, bool]]  # name, value, whether nextval has been called

    @classmethod
    def of(cls, name: str, conn) -> "_Template":
        rows = []
        tables = _tables_of(conn)
        for table in sorted(tables):
            columns = [column for (column,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = %s ORDER BY ordinal_position", (table,))]
            written = conn.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table))).fetchall()
            if written:
                rows.append((table, columns, written))
        sequences = conn.execute("SELECT quote_ident(sequencename), coalesce(last_value, start_value), last_value IS NOT NULL"
                                 " FROM pg_sequences WHERE schemaname = 'public'").fetchall()
        return cls(name, _schema_of(conn), tables, rows, sequences)

    def matches(self, conn) -> bool:
        """Whether a database has this schema, once the tables the program makes outside its
        migrations as it runs (shared_secrets.py's), or a test made, are dropped."""
        made = _tables_of(conn) - self.tables
        if made:
            conn.execute(sql.SQL("DROP TABLE {} CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, made))))
        return _schema_of(conn) == self.schema

    def restore(self, conn) -> None:
        """Empty every table of a database of this schema and put back what the migrations wrote."""
        with conn.transaction():
            # DELETE, not TRUNCATE (a new file for each table and index: 40 ms a database), with
            # the triggers off for this transaction: the change log's refuses a DELETE.
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in self.tables:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            for table, columns, written in self.rows:
                with conn.cursor() as cursor:
                    cursor.executemany(sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
                        sql.SQL(", ").join(sql.Placeholder() * len(columns))), written)
            for sequence, value, called in self.sequences:
                conn.execute("SELECT setval(%s, %s, %s)", (sequence, value, called))
            _new_identity(conn)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server for the whole test run (for each xdist worker), started on first use and
    removed at exit."""
    global _shared
    if _shared is None:
        _shared = PostgresServer(durable=False).init()
        atexit.register(_shared.remove)
    return _shared
