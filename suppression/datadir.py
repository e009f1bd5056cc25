"""The data folder holds the list, received mail and keys: for this user alone.

Created 0700 with its files 0600. A folder or file that others can read is tightened at
start-up, with a warning; one that cannot be tightened (not ours) stops start-up. The
signing key is the exception: keyfile.py refuses a readable one outright, since it may
already have been copied.
"""

import logging
import os
import stat
from pathlib import Path

from suppression.errors import ConfigError

log = logging.getLogger(__name__)

FOLDER_MODE, FILE_MODE = 0o700, 0o600


def secure_data_dir(folder: Path, refused_if_loose: frozenset[str] = frozenset()) -> None:
    """Create `folder` (0700), or tighten it and the files in it to this user alone."""
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    _tighten(folder, FOLDER_MODE)
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink() and entry.name not in refused_if_loose:
            _tighten(entry, FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty file 0600 if there is none, so that what opens it later (SQLite) keeps that mode."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if not current & 0o077:
        return
    try:
        path.chmod(current & mode)
    except PermissionError:
        raise ConfigError(f"{path} is readable by others (mode {current:o}) and cannot be changed"
                          f" by this user; run: chmod {mode:o} {path}") from None
    log.warning("%s was readable by others (mode %o); it is now %o", path, current, current & mode)
