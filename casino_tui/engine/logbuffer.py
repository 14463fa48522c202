"""Logging for engine and console: component/symbol on every record, redaction, and a bounded buffer.

The buffer is what the Logs pane reads (through the snapshot); it never posts Textual messages.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections import deque
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


class LogBuffer(logging.Handler):
    """The newest `capacity` records as LogLines, numbered so readers can take only what is new."""

    def __init__(self, capacity: int = 500, clock_ms=None) -> None:
        super().__init__(level=logging.INFO)
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        self._clock_ms = clock_ms
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self._seq += 1
        if record.levelno >= logging.ERROR:
            self.errors += 1
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


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        symbol = getattr(record, "symbol", "")
        record.symbol_part = f" [{symbol}]" if symbol else ""
        if not hasattr(record, "component"):
            record.component = record.name.removeprefix("casino.")
        return super().format(record)


class LogSetup:
    """Handlers installed on the `casino` logger for one session; `close()` removes them and gives the logger
    back its level and propagation (so a session in a test leaves the logging of the next one alone)."""

    def __init__(
        self, log_file: Path | None, *, stdout: bool, buffer_capacity: int = 500, clock_ms=None
    ) -> None:
        self.logger = logging.getLogger("casino")
        self._before = (self.logger.level, self.logger.propagate)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        self.redactor = RedactingFilter()
        self.buffer = LogBuffer(buffer_capacity, clock_ms)
        self._handlers: list[logging.Handler] = [self.buffer]
        formatter = _Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
        if log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=10_000_000, backupCount=5, encoding="utf-8"
            )
            file_handler.setFormatter(formatter)
            file_handler.setLevel(logging.DEBUG)
            self._handlers.append(file_handler)
        if stdout:
            stream = logging.StreamHandler(sys.stdout)
            stream.setFormatter(formatter)
            self._handlers.append(stream)
        for handler in self._handlers:
            handler.addFilter(self.redactor)
            self.logger.addHandler(handler)

    def close(self) -> None:
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self.logger.setLevel(self._before[0])
        self.logger.propagate = self._before[1]
