"""Whether a process is still running, read from /proc."""


def running(pid: int) -> bool:
    """False once the process has ended, reaped or not (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # FileNotFoundError, or ProcessLookupError if it ends while its file is read
        return False
