"""A snapshot of the in-memory index on disk, so that start-up need not read every row.

It holds each scope's sorted keys (named as the database stores them: "" for all emails):
those suppressed with no end, those that count for transactional mail, and those only
pauses hold with each one's end (a pause that has ended by then is left out; one that ends
later ends on its own after a restart too, as in memory),
the change id they reflect and the identity of the database they came from. A snapshot of
another database, or one from the future, is ignored: start-up then reads the rows as
before. Written to a temporary file and renamed, so a crash leaves the old snapshot or the
new one, never half of one.

The keys are read mapped, not copied: np.savez stores each array uncompressed, so its bytes
lie in the file as they are in memory, and every process that loads the same snapshot (the
service's workers, docs/operations.md) shares one copy in the page cache. A new snapshot is
written beside and renamed, so a mapped one is never changed under its readers.
"""

import logging
import os
import struct
import zipfile
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
        _write_aligned(fh, {
            "format": np.array(_FORMAT), "database_id": np.array(database_id), "cursor": np.array(cursor),
            "topics": np.array([scope.stored for scope in keys], dtype=str), **arrays,
        })
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temporary, path)


def load_snapshot(path: Path, database_id: str, newest_change: int,
                  mapped: bool = False) -> tuple[int, dict[Scope, ScopeRows]] | None:
    """(cursor, keys by scope) if the snapshot belongs to this database and is not ahead of it;
    `mapped`: its keys mapped from the file rather than read into this process's memory."""
    if not path.exists():
        return None
    try:
        # One open file for all of it: a snapshot renamed over this one meanwhile is not mixed in.
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:  # no pickle: a data file is never code
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
            arrays = _mapped(fh) if mapped else {}
            read = lambda name: arrays[name] if name in arrays else data[name]  # noqa: E731
            keys = {
                Scope.of_stored(str(topic)): ScopeRows(
                    lasting=read(f"topic_{i}").astype(np.uint64, copy=False),
                    hard=read(f"hard_{i}").astype(np.uint64, copy=False),
                    paused=data[f"paused_{i}"].astype(np.uint64, copy=False),
                    paused_until=data[f"until_{i}"].astype(np.int64, copy=False),
                )
                for i, topic in enumerate(topics)
            }
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("index snapshot unreadable (%s); reading the rows instead", exc)
        return None
    return cursor, keys


_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip entry's local header (APPNOTE 4.3.7)
_ZIP64_EXTRA = 20  # what zipfile adds to a local header written with force_zip64
_PADDING_ID = 0xD935  # the extra field Android's zipalign pads with; readers skip unknown ones
_ALIGN = 64  # an .npy header ends on 64 bytes from its start: so do the keys, if it starts on 64


def _write_aligned(fh, arrays: dict[str, np.ndarray]) -> None:
    """What np.savez writes (a zip of .npy files, stored, np.load reads it), with each entry
    padded to start on 64 bytes of the file: a mapped array of uint64 must be aligned to 8, or
    every search copies it through a buffer."""
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            header = _LOCAL_HEADER.size + len(info.filename.encode()) + _ZIP64_EXTRA + 4
            padding = -(fh.tell() + header) % _ALIGN
            info.extra = struct.pack("<HH", _PADDING_ID, padding) + bytes(padding)
            with archive.open(info, "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


def _mapped(fh) -> dict[str, np.ndarray]:
    """The snapshot's arrays of keys (uint64) mapped read-only from the open file, by name; an
    entry stored otherwise (compressed, another type, unaligned) is left to np.load."""
    arrays = {}
    archive = zipfile.ZipFile(fh)
    for info in archive.infolist():
        if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
            continue
        fh.seek(info.header_offset)
        header = _LOCAL_HEADER.unpack(fh.read(_LOCAL_HEADER.size))
        if header[0] != b"PK\x03\x04":
            raise ValueError("snapshot entry without its local header")
        fh.seek(header[-2] + header[-1], os.SEEK_CUR)  # the entry's name and extra field
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(fh))
        if read_header is None:
            continue
        shape, fortran, dtype = read_header(fh)
        if (dtype != np.dtype(np.uint64) or fortran or len(shape) != 1 or shape[0] == 0
                or fh.tell() % dtype.alignment):
            continue  # read (copied) by np.load instead: a snapshot of an earlier writer
        arrays[info.filename[:-len(".npy")]] = np.memmap(fh, dtype=dtype, mode="r", offset=fh.tell(), shape=shape)
    return arrays
