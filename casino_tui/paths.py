"""Where casino-tui keeps its files: one state directory holding journal, snapshots, logs and reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "casino-tui"


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class StatePaths:
    """The layout under one state directory (per exchange, so sim runs never touch live state)."""

    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "journal.sqlite3"

    @property
    def lock(self) -> Path:
        """Held by the one engine using this directory (see statelock.py)."""
        return self.root / "casino.lock"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def log_file(self) -> Path:
        return self.logs / "casino.log"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def ensure(self) -> StatePaths:
        for path in (self.root, self.snapshots, self.logs, self.reports):
            path.mkdir(parents=True, exist_ok=True)
        return self


def state_paths(state_dir: str | Path | None, exchange: str) -> StatePaths:
    base = Path(state_dir).expanduser() if state_dir else default_state_dir()
    return StatePaths(base / exchange)
