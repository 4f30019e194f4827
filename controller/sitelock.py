"""One controller per site: an exclusive lock on a file beside the journal.

The lock is taken before anything touches the outputs, the journal or the control
socket, so a second `dabyl serve` (or `dabyl run`) on the same site changes nothing:
it names the first one and leaves. The kernel drops the lock when the holder dies,
even by kill -9, so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from controller.errors import OperationFailed


class SiteBusy(OperationFailed):
    """Another controller holds this site's lock."""


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


class SiteLock:
    def __init__(self, journal: Path) -> None:
        self.path = lock_path(journal)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise SiteBusy naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SiteBusy(f"another controller is running for this site, pid {holder}") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock; the file stays for the next one
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
