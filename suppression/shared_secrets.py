"""Secrets every instance must hold alike, kept with the data they share.

On SQLite one process owns data_dir, and the generated signing key and the erasure key are
files there. On PostgreSQL each instance has a data_dir of its own, so a key generated there
differs from instance to instance: links signed by one fail on another, and an address erased
through one is unknown to the others (they answered `suppressed: false` for it). There, these
secrets live in the database, made once by whichever instance comes first (a key already in
its data_dir, from before, is the one offered: the links it signed, or the erasures it keyed,
stay good), read by every instance after.
"""

import logging
import secrets
from pathlib import Path

from suppression.errors import ConfigError
from suppression.model import utc_now

log = logging.getLogger(__name__)

SIGNING = "signing_key"
ERASURE = "erasure_key"

_TABLE = """
CREATE TABLE IF NOT EXISTS shared_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
)"""


def shared_secret(url: str, name: str, local: Path) -> str:
    """The database's secret `name`, made from the key file `local` if it exists (else at
    random) when the database has none yet. ConfigError (one line) if the database cannot be
    reached: no instance may go on with a key of its own."""
    # Imported here: only instances on PostgreSQL come here, and psycopg is a tenth of a second
    # of every other start (each CLI command, a service on SQLite).
    import psycopg

    offered = _read_local(local)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(_TABLE)
            conn.execute("INSERT INTO shared_secrets (name, value, created_at) VALUES (%s, %s, %s)"
                         " ON CONFLICT (name) DO NOTHING", (name, offered or secrets.token_urlsafe(48), utc_now()))
            value = conn.execute("SELECT value FROM shared_secrets WHERE name = %s", (name,)).fetchone()[0]
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot read the shared {name.replace('_', ' ')} from PostgreSQL: {reason}") from None
    if offered is not None and offered != value:
        log.warning("%s in %s differs from the one every instance shares in the database; the database's is"
                    " used (links or erasures made with the file's alone do not verify)", local.name, local.parent)
    return value


def _read_local(path: Path) -> str | None:
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return key if len(key) >= 32 else None
