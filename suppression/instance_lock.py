"""One serving instance per SQLite data_dir. SQLite's one writer lives in one process: a second
`serve` on the same folder would write beside it, each with its own index, each missing the
other's writes. The CLI is not an instance and takes no lock (it works beside the service)."""

import fcntl
import os
from pathlib import Path

from suppression.errors import ConfigError

LOCK_NAME = "instance.lock"


class InstanceLock:
    """An exclusive flock on data_dir/instance.lock, held while the instance serves; the kernel
    lets go of it when the process ends, however it ends."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def take(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise ConfigError(f"another instance (process {holder or 'unknown'}) is serving {self.path.parent};"
                              " one SQLite data_dir serves one instance (use PostgreSQL for several)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
