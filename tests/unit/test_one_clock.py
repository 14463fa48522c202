"""One clock: the header, the logs (pane, file, stdout), the journal and the report all read the runtime's
clock, and a simulated clock says so."""

import json
import logging

import pytest

from casino_tui.clock import ManualClock, SimClock, WallClock
from casino_tui.config import load_config
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.paths import StatePaths
from casino_tui.runtime import Runtime

QUICK = {"sensors": {"executor": "inline"}, "player": {"cooldown_s": 0.0}}


def build(clock, tmp_path=None, logs=None) -> Runtime:  # type: ignore[no-untyped-def]
    config = load_config(None, QUICK, env={})
    exchange = SimExchange(config.sim, config.symbols, clock, autorun=False)
    paths = StatePaths(tmp_path) if tmp_path is not None else None
    return Runtime(config, exchange=exchange, clock=clock, paths=paths, log_setup=logs, use_timers=False)


@pytest.fixture
def logs(tmp_path):  # type: ignore[no-untyped-def]
    setup = LogSetup(tmp_path / "casino.log", stdout=False)
    yield setup
    setup.close()


def test_every_log_output_is_stamped_with_the_runtime_clock(tmp_path, capsys):
    logs = LogSetup(tmp_path / "casino.log", stdout=True)  # here: the stdout of the test, which capsys reads
    try:
        clock = ManualClock()
        build(clock, logs=logs)
        clock.advance(90_000)

        logging.getLogger("casino.croupier").warning("bracket b0001 protected", extra={"symbol": "BTCUSDT"})
    finally:
        logs.close()

    (line,) = logs.buffer.lines()
    assert line.ts_ms == clock.now_ms()
    assert capsys.readouterr().out.startswith("2026-01-01 00:01:30 WARNING croupier [BTCUSDT] bracket")
    assert (tmp_path / "casino.log").read_text().startswith("2026-01-01 00:01:30 WARNING croupier")


def test_logs_before_a_runtime_exists_are_on_the_wall_clock(logs):
    logging.getLogger("casino.cli").info("starting")
    (line,) = logs.buffer.lines()
    assert abs(line.ts_ms - WallClock().now_ms()) < 60_000


@pytest.mark.parametrize(
    ("clock", "label"),
    [(SimClock(1_767_225_600_000, speed=30.0), "SIM 30×"), (ManualClock(), "SIM"), (WallClock(), "UTC")],
)
def test_the_header_names_the_runtime_clock(clock, label):
    header = build(clock).snapshot().header
    assert header.clock_label == label and abs(header.clock_ms - clock.now_ms()) < 60_000


async def test_journal_and_report_are_on_the_runtime_clock(tmp_path):
    clock = ManualClock()
    runtime = build(clock, tmp_path)
    await runtime.start()
    await runtime.advance(2 * 60_000, step_ms=2000)
    await runtime.shutdown()

    report = json.loads(runtime.report_path.read_text())
    assert (report["clock"], report["started_at"], report["ended_at"]) == (
        "SIM",
        "2026-01-01T00:00:00Z",
        "2026-01-01T00:02:00Z",
    )
    assert runtime.report_path.name.startswith("session-20260101T000200Z-")

    from casino_tui.engine.journal import Journal

    journal = Journal(StatePaths(tmp_path).journal, readonly=True)
    entries = journal.read()
    journal.close()
    (session,) = [e for e in entries if e.kind == "SESSION"]
    assert session.ts_ms == 1_767_225_600_000 and session.payload["simulated"] is True
    assert all(1_767_225_600_000 <= e.ts_ms <= clock.now_ms() for e in entries)
