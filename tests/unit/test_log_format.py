"""Log records as the operator's tools read them: JSON lines for headless stdout, component and symbol on
every record, and a log file that rotates instead of growing without bound."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from casino_tui.clock import ManualClock
from casino_tui.engine.logbuffer import LogFormat, LogSetup

JSON_KEYS = {"time", "level", "component", "symbol", "message"}


@contextlib.contextmanager
def json_session(tmp_path: Path) -> Iterator[tuple[LogSetup, io.StringIO]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        logs = LogSetup(tmp_path / "casino.log", stdout=True, stdout_format=LogFormat.JSON)
    try:
        yield logs, out
    finally:
        logs.close()


def records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_carry_runtime_clock_time_level_component_symbol_and_message(tmp_path):
    clock = ManualClock()
    clock.advance(90_250)
    with json_session(tmp_path) as (logs, out):
        logs.use_clock(clock.now_ms)
        logging.getLogger("casino.croupier").warning("bracket B000001 protected", extra={"symbol": "BTCUSDT"})

    (record,) = records(out)
    assert record == {
        "time": "2026-01-01T00:01:30.250Z",
        "level": "WARNING",
        "component": "croupier",
        "symbol": "BTCUSDT",
        "message": "bracket B000001 protected",
    }


def test_a_record_without_a_symbol_has_the_key_empty_in_every_output(tmp_path):
    with json_session(tmp_path) as (logs, out):
        logging.getLogger("casino.runtime").info("ready")

    (record,) = records(out)
    assert record["component"] == "runtime" and record["symbol"] == ""
    (line,) = logs.buffer.lines()
    assert (line.component, line.symbol) == ("runtime", "")
    assert "INFO    runtime ready" in (tmp_path / "casino.log").read_text()


def test_a_multiline_message_and_its_traceback_stay_one_json_line(tmp_path):
    with json_session(tmp_path) as (_, out):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("casino.runtime").exception("two\nlines")

    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert JSON_KEYS <= set(record)
    assert record["message"] == "two\nlines" and record["level"] == "ERROR"
    assert "RuntimeError: boom" in str(record["exception"])


def test_the_log_file_rotates_at_its_size_and_keeps_a_bounded_number_of_backups(tmp_path):
    path = tmp_path / "casino.log"
    logs = LogSetup(path, stdout=False, file_max_bytes=2_000, file_backups=2)
    try:
        for n in range(200):
            logging.getLogger("casino.engine").info("line %03d %s", n, "x" * 40)
    finally:
        logs.close()

    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["casino.log", "casino.log.1", "casino.log.2"]
    assert all((tmp_path / name).stat().st_size <= 2_000 for name in kept)
    assert "line 199" in path.read_text()  # the newest lines are in the live file
