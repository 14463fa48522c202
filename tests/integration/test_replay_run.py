"""`casino-tui replay` end to end: the same data and config give the same report bytes; headless ends with
`report: <path>` when the data ends; data that is not a known format is one line and exit 2."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from casino_tui.cli import main
from casino_tui.exchange.replay.sources import open_source
from tests.unit.binance_data_files import T0, agg_row, write_csv
from tests.unit.replay_support import (
    klines_file,
    random_walk_bars,
    replay_runtime,
    runtime_over,
    trading_config,
)

CONFIG_TOML = """\
[sensors]
executor = "inline"
[player]
threshold = 0.1
debounce = 1
cooldown_s = 60.0
htf_filter = false
"""


def two_symbol_files(directory: Path, bars: int = 600) -> list[Path]:
    return [
        klines_file(directory, "AAAUSDT", random_walk_bars(1, bars, 100.0)),
        klines_file(directory, "BBBUSDT", random_walk_bars(2, bars, 2.5)),
    ]


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASINO_", "BINANCE_"))}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "xdg"))
    return env


async def test_two_replays_of_the_same_files_and_config_write_identical_reports(tmp_path: Path) -> None:
    files = two_symbol_files(tmp_path)
    reports = []
    for run in range(2):
        runtime = replay_runtime(files, trading_config(), tmp_path / f"state{run}", warmup=60, tick=None)
        await runtime.run()
        assert runtime.report_path is not None
        reports.append(runtime.report_path.read_bytes())
    report = json.loads(reports[0])
    assert report["trades"] > 0 and report["complete"]  # something happened worth comparing
    assert reports[0] == reports[1]


def test_headless_replay_runs_to_the_end_of_the_data_and_prints_the_report_path_last(tmp_path: Path) -> None:
    files = two_symbol_files(tmp_path, bars=300)
    config = tmp_path / "replay.toml"
    config.write_text(CONFIG_TOML)
    done = subprocess.run(
        [sys.executable, "-m", "casino_tui.cli", "replay", *map(str, files), "--headless", "--config", str(config),
         "--state-dir", str(tmp_path / "state"), "--warmup", "60"],
        capture_output=True, text=True, env=env_for(tmp_path), timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("report: ")
    report = json.loads(Path(last.removeprefix("report: ")).read_text())
    assert report["complete"] and report["stopped_by"] == "end of data"
    assert report["ticks"] == (300 - 60) * 2 * 4  # four path trades per bar after the warm-up, both symbols
    assert report["replayed_to"] == "2024-01-01T05:00:00.000Z"
    assert done.stderr == ""


def test_a_paced_replay_logs_its_progress_and_sigterm_stops_it_in_order_with_a_report(tmp_path: Path) -> None:
    files = two_symbol_files(tmp_path, bars=600)
    config = tmp_path / "replay.toml"
    config.write_text(CONFIG_TOML)
    proc = subprocess.Popen(
        [sys.executable, "-m", "casino_tui.cli", "replay", *map(str, files), "--headless", "--config", str(config),
         "--state-dir", str(tmp_path / "state"), "--warmup", "60", "--speed", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
    )  # fmt: skip
    assert proc.stdout is not None
    progress = ""
    for line in proc.stdout:  # 540 minutes of data at 60x take 9 minutes: the first progress line comes first
        if "ticks/s" in line:
            progress = line
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err[-2000:]
    report = json.loads(Path(out.strip().splitlines()[-1].removeprefix("report: ")).read_text())
    assert not report["complete"] and report["stopped_by"] == "operator"
    assert re.search(r"\d+\.\d% · [\d,]+ ticks/s · ETA \d\d:\d\d:\d\d · data at 2024-01-01 ", progress), (
        progress
    )


def test_a_file_that_is_not_a_replay_format_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello, this is not market data\n")

    code = main(["replay", str(junk), "--headless", "--state-dir", str(tmp_path / "state")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("casino-tui: error: ") and "notes.txt" in err
    assert "Traceback" not in err


def test_a_decision_timeframe_finer_than_the_data_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = klines_file(tmp_path, "BBBUSDT", random_walk_bars(3, 30), minutes=5)

    code = main(["replay", str(bars), "--headless", "--state-dir", str(tmp_path / "state")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("casino-tui: error: player.decision_timeframe 1m is finer than the data's 5m bars")


async def test_data_that_turns_unreadable_mid_run_stops_the_replay_with_a_report_of_what_was_replayed(
    tmp_path: Path,
) -> None:
    rows = [agg_row(i, f"{100 + (i % 97) / 100:.2f}", "1.000", T0 + i * 50) for i in range(200_000)]
    data = write_csv(tmp_path / "AAAUSDT-aggTrades-2024-01-01.csv", rows, zipped=True)
    source = open_source([data])  # read whole and sound here ...
    damaged = bytearray(data.read_bytes())
    middle = len(damaged) * 2 // 3
    damaged[middle : middle + 64] = bytes(b ^ 0x5A for b in damaged[middle : middle + 64])
    data.write_bytes(bytes(damaged))  # ... and corrupt two thirds in when the replay reads it
    runtime = runtime_over(source, trading_config(), tmp_path / "state", warmup=10)

    await runtime.run()

    assert runtime.data_error.startswith("AAAUSDT-aggTrades-2024-01-01.zip: cannot read on")
    assert runtime.report_path is not None
    report = json.loads(runtime.report_path.read_text())
    assert not report["complete"] and report["stopped_by"] == f"data error: {runtime.data_error}"
    assert 0 < report["ticks"] < 200_000


async def test_sensors_finer_than_the_datas_bars_sit_out_and_the_report_says_so(tmp_path: Path) -> None:
    files = [klines_file(tmp_path, "AAAUSDT", random_walk_bars(4, 200, 100.0), minutes=5)]
    config = trading_config()
    config.player.decision_timeframe = "5m"
    runtime = replay_runtime(files, config, tmp_path / "state", warmup=60, tick=None)

    await runtime.run()

    report = runtime.report
    assert report is not None and report.complete
    assert report.unavailable_timeframes == ("1m",)
    one_minute = {name: s for name, s in report.sensors.items() if s.timeframe == "1m"}
    assert one_minute and all(not s.available and s.samples == 0 for s in one_minute.values())
    assert any(s.available and s.samples > 0 for s in report.sensors.values() if s.timeframe == "5m")
