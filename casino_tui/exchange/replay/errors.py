"""What can go wrong with replay data: a file that is not one of the formats, data that cannot be read on,
and the bad rows that are skipped and counted along the way."""

from __future__ import annotations

import msgspec

MAX_BAD_ROWS_KEPT = 1000


class ReplayFormatError(Exception):
    """A file that is not one of the replay formats (or cannot be opened): the CLI prints one line, exit 2."""


class ReplayDataError(ReplayFormatError):
    """Data that cannot be read on safely, found mid-run (a corrupt compressed stream): the run stops."""


class BadRow(msgspec.Struct, frozen=True):
    """A row skipped as malformed: the file's name, its 1-based line (frame, for recordings) and why."""

    file: str
    line: int
    reason: str


class BadRows:
    """Counts every bad row and keeps the first `keep` of them (a broken file must not fill the memory)."""

    def __init__(self, keep: int = MAX_BAD_ROWS_KEPT) -> None:
        self.rows: list[BadRow] = []
        self.count = 0
        self._keep = keep

    def add(self, file: str, line: int, reason: str) -> None:
        self.count += 1
        if len(self.rows) < self._keep:
            self.rows.append(BadRow(file, line, reason))
