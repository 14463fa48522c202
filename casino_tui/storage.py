"""Atomic, rotated JSON files (msgspec): the engine's snapshots and the sim's paper account are saved this way.

A write is temp file → fsync → rename → fsync(dir), so a crash or a full disk never leaves a torn
snapshot in place of a good one. Loading falls back from a corrupt or truncated newest file to the
newest good backup, says so, and keeps the bad file aside (never deleted); a file that cannot be read at all
(permissions, I/O) is an error the operator fixes, and nothing is moved.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from casino_tui.crashpoints import crash_point

log = logging.getLogger("casino.state")

T = TypeVar("T", bound=msgspec.Struct)

BACKUPS = 10
NAME = "state.json"


class SnapshotError(Exception):
    """A snapshot could not be written (the previous one is intact) or read (nothing was moved)."""


class SnapshotStore:
    """`state.json` plus `state.json.1` … `.10` in one directory (`name`: another file saved the same way)."""

    def __init__(
        self,
        directory: Path,
        backups: int = BACKUPS,
        write: Callable[[int, memoryview], int] = os.write,
        clock_ms: Callable[[], int] | None = None,
        *,
        name: str = NAME,
    ) -> None:
        self.directory = directory
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)  # stamps set-aside names
        self._os_write = write  # injectable so tests can simulate a full disk
        self.backups = backups
        self.name = name
        self.path = directory / name
        self.writes = 0
        self.errors = 0
        self.last_error = ""

    def _rotate(self) -> None:
        if self.backups < 1:
            return
        for i in range(self.backups - 1, 0, -1):
            src = self.directory / f"{self.name}.{i}"
            if src.exists():
                os.replace(src, self.directory / f"{self.name}.{i + 1}")
        if self.path.exists():
            os.replace(self.path, self.directory / f"{self.name}.1")

    def save(self, state: msgspec.Struct) -> Path:
        """Write atomically; on any OS error (ENOSPC …) the previous snapshot stays and SnapshotError is raised."""
        self.directory.mkdir(parents=True, exist_ok=True)
        data = msgspec.json.encode(state)
        tmp = self.directory / f".{self.name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = self._os_write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            crash_point("during_snapshot")
            self._rotate()
            os.replace(tmp, self.path)
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            self.errors += 1
            self.last_error = f"{exc.strerror or exc}"
            try:
                tmp.unlink()
            except OSError:
                pass
            raise SnapshotError(
                f"snapshot not written ({self.last_error}); the previous one is intact"
            ) from None
        self.writes += 1
        return self.path

    async def save_async(self, state: msgspec.Struct) -> Path:
        return await asyncio.to_thread(self.save, state)

    def candidates(self) -> list[Path]:
        files = [self.path] + [self.directory / f"{self.name}.{i}" for i in range(1, self.backups + 1)]
        return [p for p in files if p.exists()]

    def load(self, kind: type[T]) -> tuple[T | None, list[str]]:
        """The newest readable snapshot and a list of warnings about the ones skipped.

        Raises SnapshotError when a file cannot be read at all: an older backup would silently lose state.
        """
        warnings: list[str] = []
        for path in self.candidates():
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SnapshotError(
                    f"snapshot {path} cannot be read ({exc.strerror}); nothing was changed"
                ) from None
            try:
                return msgspec.json.decode(data, type=kind), warnings
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self._clock_ms() / 1000))
                aside = path.with_name(f"{path.name}.corrupt-{stamp}")
                try:
                    os.replace(path, aside)
                except OSError:
                    aside = path
                warnings.append(
                    f"snapshot {path.name} unreadable ({exc}); kept as {aside.name}, trying an older one"
                )
        return None, warnings
