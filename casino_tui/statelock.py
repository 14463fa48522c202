"""One engine per state directory: an exclusive `flock` on its lock file, held for the process lifetime.

Two engines on one journal would replay each other's brackets and both trade them. The kernel drops the
lock when the holder dies (SIGKILL included), so a crash never leaves a state directory locked. Readers
(`casino-tui journal`) never take it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateLockError(Exception):
    """The state directory cannot be locked (held by another process, or not writable). One line, exit 2."""


class StateInUseError(StateLockError):
    """Another live process holds the state directory."""

    def __init__(self, root: Path, holder: int | None) -> None:
        who = f"PID {holder}" if holder is not None else "another process"
        super().__init__(f"state dir {root} is in use by {who}: one casino-tui per state dir")
        self.holder = holder


class StateLock:
    """The lock on one state directory; the holder's PID is written into the file while it is held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def is_held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> StateLock:
        """Take the lock without waiting; raises StateInUseError naming the holder, StateLockError otherwise."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateLockError(f"cannot lock state dir {self.path.parent}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateInUseError(self.path.parent, holder) from None
        except OSError as exc:
            os.close(fd)
            raise StateLockError(f"cannot lock state dir {self.path.parent}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Clear the PID and drop the lock (a second call does nothing)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # the file stays: unlinking a lock file races with the next holder's open
        finally:
            os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder_pid(path: Path) -> int | None:
    """The PID written in the lock file if that process is alive, without touching the lock (for readers)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return pid


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
