"""Logging for engine and console: component/symbol on every record, redaction, and a bounded buffer.

The buffer is what the Logs pane reads (through the snapshot); it never posts Textual messages. Every record
is stamped once with the runtime clock, so the pane, the file and stdout show the time the header shows.
Headless stdout is text or, for log shippers, one JSON object per line (`LogFormat.JSON`).
"""

from __future__ import annotations

import enum
import json
import logging
import logging.handlers
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from casino_tui.snapshot import LogLine

_PATTERNS = (
    re.compile(r"(signature=)[0-9a-fA-F]+"),
    re.compile(r"(listenKey=)[A-Za-z0-9]+"),
    re.compile(r"(X-MBX-APIKEY['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9]+"),
    re.compile(r"(\"listenKey\"\s*:\s*\")[A-Za-z0-9]+"),
)


class RedactingFilter(logging.Filter):
    """Removes API keys, secrets, signatures and listenKeys from every record before any handler sees it."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()

    def add_secret(self, value: str) -> None:
        """Hide this exact string from now on (the runtime registers the API key, secret and listenKeys)."""
        if value and len(value) >= 4 and value not in self._secrets:
            # Longest first, so a secret that contains another is hidden whole.
            self._secrets = tuple(sorted((*self._secrets, value), key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        for pattern in _PATTERNS:
            text = pattern.sub(r"\1***", text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Format the traceback now so the secret-free text is what handlers print.
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        if not hasattr(record, "symbol"):
            record.symbol = ""
        record.component = record.name.removeprefix("casino.")
        return True


class ClockStamp(logging.Filter):
    """Stamps each record once (`record.clock_ms`) with the runtime clock: sim time on the sim, never the
    wall clock next to a header that shows sim time. Until a clock is given, the record's own wall time."""

    def __init__(self, now_ms: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.now_ms = now_ms

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "clock_ms"):
            record.clock_ms = self.now_ms() if self.now_ms is not None else int(record.created * 1000)
        return True


class LogBuffer(logging.Handler):
    """The newest `capacity` records as LogLines, numbered so readers can take only what is new."""

    def __init__(self, capacity: int = 500, clock_ms: Callable[[], int] | None = None) -> None:
        super().__init__(level=logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        self._clock_ms = clock_ms
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self._seq += 1
        if record.levelno >= logging.ERROR:
            self.errors += 1
        ts = getattr(record, "clock_ms", None)
        if ts is None:
            ts = self._clock_ms() if self._clock_ms else int(record.created * 1000)
        self._lines.append(
            LogLine(
                seq=self._seq,
                ts_ms=ts,
                level=record.levelname,
                component=getattr(record, "component", record.name),
                message=record.getMessage(),
                symbol=getattr(record, "symbol", "") or "",
            )
        )

    def lines(self, limit: int = 200) -> tuple[LogLine, ...]:
        if limit >= len(self._lines):
            return tuple(self._lines)
        return tuple(list(self._lines)[-limit:])


FORMAT = "%(asctime)s %(levelname)-7s %(component)s%(symbol_part)s %(message)s"
FILE_MAX_BYTES = 10_000_000
FILE_BACKUPS = 5


class LogFormat(enum.StrEnum):
    """How headless stdout prints records (`--log-format`); the log file is always text."""

    TEXT = "text"
    JSON = "json"


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """UTC on the record's clock stamp (the runtime clock), not the wall clock in local time."""
        ms = getattr(record, "clock_ms", None)
        seconds = ms / 1000 if ms is not None else record.created
        return time.strftime(datefmt or "%Y-%m-%d %H:%M:%S", time.gmtime(seconds))

    def format(self, record: logging.LogRecord) -> str:
        symbol = getattr(record, "symbol", "")
        record.symbol_part = f" [{symbol}]" if symbol else ""
        if not hasattr(record, "component"):
            record.component = record.name.removeprefix("casino.")
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (runtime clock, UTC), level, component, symbol, message; plus
    `exception` when a traceback came with it. It formats what the redaction filter left."""

    def format(self, record: logging.LogRecord) -> str:
        ms = getattr(record, "clock_ms", None)
        if ms is None:
            ms = int(record.created * 1000)
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z",
            "level": record.levelname,
            "component": getattr(record, "component", None) or record.name.removeprefix("casino."),
            "symbol": getattr(record, "symbol", "") or "",
            "message": record.getMessage(),
        }
        if record.exc_text:
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class LogSetup:
    """Handlers on the `casino` logger for one session; `close()` removes them and restores the logger."""

    def __init__(
        self,
        log_file: Path | None,
        *,
        stdout: bool,
        stdout_format: LogFormat = LogFormat.TEXT,
        buffer_capacity: int = 500,
        clock_ms: Callable[[], int] | None = None,
        file_max_bytes: int = FILE_MAX_BYTES,
        file_backups: int = FILE_BACKUPS,
    ) -> None:
        self.logger = logging.getLogger("casino")
        self._previous = (self.logger.level, self.logger.propagate)  # put back by close()
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.redactor = RedactingFilter()
        self.clock = ClockStamp(clock_ms)
        self.buffer = LogBuffer(buffer_capacity, clock_ms)
        self._handlers: list[logging.Handler] = [self.buffer]
        formatter = _Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=file_max_bytes, backupCount=file_backups, encoding="utf-8"
            )
            file_handler.setFormatter(formatter)
            file_handler.setLevel(logging.DEBUG)
            self._handlers.append(file_handler)
        if stdout:
            stream = logging.StreamHandler(sys.stdout)
            stream.setFormatter(JsonFormatter() if stdout_format is LogFormat.JSON else formatter)
            self._handlers.append(stream)
        for handler in self._handlers:
            handler.addFilter(self.clock)
            handler.addFilter(self.redactor)
            self.logger.addHandler(handler)

    def use_clock(self, now_ms: Callable[[], int]) -> None:
        """Stamp every record from now on with this clock (the Runtime's, once it exists)."""
        self.clock.now_ms = now_ms

    def close(self) -> None:
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self.logger.setLevel(self._previous[0])
        self.logger.propagate = self._previous[1]
