"""The generated signing key: made once from a secure random source, kept with mode 0600."""

import os
import secrets
import stat
from pathlib import Path

from suppression.config import Settings
from suppression.errors import ConfigError
from suppression.shared_secrets import SIGNING, shared_secret

KEY_FILE_NAME = "signing.key"


def signing_keys(settings: Settings) -> tuple[str, ...]:
    """The keys that verify links, newest (the one that signs) first: those configured, else
    one generated once (on PostgreSQL, once for every instance, in the database)."""
    if settings.signing.secret_keys:
        return settings.signing.secret_keys
    if settings.store.url:
        return (shared_secret(settings.store.url, SIGNING, settings.service.data_dir / KEY_FILE_NAME),)
    return (load_or_create_key(settings.service.data_dir / KEY_FILE_NAME),)


def load_or_create_key(path: Path) -> str:
    """Read the key at path, creating it first if it does not exist."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(48) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return _read_key(path)


def _read_key(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"signing key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(f"signing key file {path} is damaged (too short); delete it to make a new key")
    return key
