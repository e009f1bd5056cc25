"""A snapshot of the in-memory index on disk, so that start-up need not read every row.

It holds each scope's sorted keys (named as the database stores them: "" for all emails):
those suppressed with no end, those that count for transactional mail, and those only
pauses hold with each one's end (a pause that has ended by then is left out; one that ends
later ends on its own after a restart too, as in memory),
the change id they reflect and the identity of the database they came from. A snapshot of
another database, or one from the future, is ignored: start-up then reads the rows as
before. Written to a temporary file and renamed, so a crash leaves the old snapshot or the
new one, never half of one.
"""

import logging
import os
from pathlib import Path

import numpy as np

from suppression.index.keys import ScopeRows
from suppression.model import Scope

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "index-snapshot.npz"
_FORMAT = 2  # 1: lasting keys only (before claims and pauses): read the rows instead


def save_snapshot(path: Path, database_id: str, cursor: int, keys: dict[Scope, ScopeRows]) -> None:
    temporary = path.with_suffix(".tmp")
    arrays = {}
    for i, rows in enumerate(keys.values()):
        arrays.update({f"topic_{i}": rows.lasting, f"hard_{i}": rows.hard, f"paused_{i}": rows.paused,
                       f"until_{i}": rows.paused_until})
    # Created 0600: the keys are hashes of addresses, and never readable by others, not even while written.
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
        np.savez(
            fh, format=np.array(_FORMAT), database_id=np.array(database_id), cursor=np.array(cursor),
            topics=np.array([scope.stored for scope in keys], dtype=str), **arrays,
        )
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)


def load_snapshot(path: Path, database_id: str, newest_change: int) -> tuple[int, dict[Scope, ScopeRows]] | None:
    """(cursor, keys by scope) if the snapshot belongs to this database and is not ahead of it."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:  # no pickle: a data file is never code
            if int(data["format"]) != _FORMAT:
                log.info("index snapshot is of an earlier format; reading the rows instead")
                return None
            if str(data["database_id"]) != database_id:
                log.info("index snapshot is of another database; reading the rows instead")
                return None
            cursor = int(data["cursor"])
            if cursor > newest_change:
                log.warning("index snapshot is ahead of the database (restored from backup?); reading the rows")
                return None
            topics = list(data["topics"])
            keys = {
                Scope.of_stored(str(topic)): ScopeRows(
                    lasting=data[f"topic_{i}"].astype(np.uint64, copy=False),
                    hard=data[f"hard_{i}"].astype(np.uint64, copy=False),
                    paused=data[f"paused_{i}"].astype(np.uint64, copy=False),
                    paused_until=data[f"until_{i}"].astype(np.int64, copy=False),
                )
                for i, topic in enumerate(topics)
            }
    except (OSError, ValueError, KeyError, EOFError) as exc:
        log.warning("index snapshot unreadable (%s); reading the rows instead", exc)
        return None
    return cursor, keys
