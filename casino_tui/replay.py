"""`casino-tui replay FILE...`: the console (or headless) over historical data, then the replay report.

Headless prints the progress and the summary in the log and `report: <path>` last; the console shows the
progress in its header and log pane and, when the data ends, the Trades screen with the report's summary and
equity curve, and stays open until the operator quits. Keys and signals work as in a live run. Data that is not one of the formats, or a
config that cannot trade on it, is one line on stderr and exit 2; so is data that turns unreadable mid-run
(after the report of what was replayed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from casino_tui.backtest.report import ReplayReport, summary_lines
from casino_tui.backtest.runtime import ReplayRuntime, ReplaySetupError
from casino_tui.clock import ReplayClock
from casino_tui.config import Config, ConfigError
from casino_tui.early_signals import EarlySignals
from casino_tui.engine.logbuffer import LogSetup
from casino_tui.exchange.replay.errors import ReplayFormatError
from casino_tui.exchange.replay.exchange import ReplayExchange
from casino_tui.exchange.replay.sources import ReplaySource, open_source, parse_utc_ms
from casino_tui.paths import StatePaths, state_paths
from casino_tui.runtime import StartupError

if TYPE_CHECKING:
    from casino_tui.app import CasinoApp

PROG = "casino-tui"
DEFAULT_WARMUP_BARS = 120


def _speed(text: str) -> float | None:
    """`max` (None: as fast as the CPU allows) or a positive multiple of real time."""
    if text.strip().lower() == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 'max' or a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 'max' or a finite number > 0: {text!r}")
    return value


def _time(text: str) -> int:
    try:
        return parse_utc_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _size(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="klines, aggTrades or recordings")
    parser.add_argument(
        "--speed", type=_speed, default=None, metavar="max|X", help="max (default) or X times real time"
    )
    parser.add_argument("--headless", action="store_true", help="no console: logs and progress on stdout")
    parser.add_argument(
        "--from", dest="from_ms", type=_time, metavar="T", help="UTC date, date-time or epoch ms"
    )
    parser.add_argument("--to", dest="to_ms", type=_time, metavar="T", help="end (excluded), same forms")
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument(
        "--seed", type=int, help="recorded in the report (the replay itself draws no random numbers)"
    )
    parser.add_argument("--symbol", help="the symbol, when the file name does not say it")
    parser.add_argument("--interval", help="the klines interval, when the file name does not say it")
    parser.add_argument("--kind", help="klines, aggTrades or recording, when the file does not say it")
    parser.add_argument(
        "--tick-size", type=_size, metavar="X", help="price step, instead of the data's finest"
    )
    parser.add_argument(
        "--step-size", type=_size, metavar="X", help="quantity step, instead of the data's finest"
    )
    parser.add_argument(
        "--warmup",
        type=_count,
        default=DEFAULT_WARMUP_BARS,
        metavar="BARS",
        help=f"bars of the data read as history before trading starts (default {DEFAULT_WARMUP_BARS})",
    )
    parser.add_argument("--state-dir", metavar="DIR", help="logs and reports go under DIR/replay")
    parser.add_argument("--mouse", action="store_true", help="enable mouse support in the console")


def run_replay(args: argparse.Namespace, config: Config) -> int:
    """Open the data, build the replay and run it; the exit code (0, or 2 with one line on stderr)."""
    if args.headless and args.mouse:
        return _error("--mouse does not apply to --headless (there is no console)")
    try:
        source = open_source(
            args.files,
            symbol=args.symbol,
            interval=args.interval,
            kind=args.kind,
            from_ms=args.from_ms,
            to_ms=args.to_ms,
            tick_size=args.tick_size,
            step_size=args.step_size,
        )
        config = msgspec.structs.replace(config, symbols=list(source.symbols))
        paths = state_paths(config.runtime.state_dir or None, "replay").ensure()
    except ReplayFormatError as exc:
        return _error(str(exc))
    except OSError as exc:
        return _error(f"runtime.state_dir: cannot create {exc.filename}: {exc.strerror}")
    logs = LogSetup(paths.log_file, stdout=args.headless)
    try:
        with EarlySignals() as early:
            runtime = build_runtime(source, config, args, paths, logs)
            if args.headless:
                return _headless(runtime, config, paths, logs, early)
            return _console(runtime, config, early)
    except (ReplaySetupError, StartupError, ReplayFormatError, ConfigError) as exc:
        logging.getLogger("casino.cli").error("%s", exc)
        return _error(str(exc))
    finally:
        logs.close()


def build_runtime(
    source: ReplaySource, config: Config, args: argparse.Namespace, paths: StatePaths, logs: LogSetup | None
) -> ReplayRuntime:
    """The replay's clock, exchange and runtime. Raises ReplaySetupError if the config cannot trade on the data."""
    clock = ReplayClock(source.start_ms, args.speed)
    exchange = ReplayExchange(
        source, config.sim, clock, leverage=config.trading.leverage, warmup_bars=args.warmup
    )
    return ReplayRuntime(
        config,
        exchange,
        clock,
        files=sorted(path.name for path in source.files),
        reports_dir=paths.reports,
        log_setup=logs,
    )


def _headless(
    runtime: ReplayRuntime, config: Config, paths: StatePaths, logs: LogSetup, early: EarlySignals
) -> int:
    from casino_tui.headless import print_report_line, run_headless

    asyncio.run(run_headless(config, paths, None, logs, early=early, runtime=runtime))
    print_report_line(runtime)
    return _data_error(runtime)


def _console(runtime: ReplayRuntime, config: Config, early: EarlySignals) -> int:
    from casino_tui.console import check_theme, start_pool_helpers

    check_theme(config.ui.theme)
    start_pool_helpers(config)
    code = asyncio.run(_console_run(runtime, config, early))
    if runtime.report_path is not None:
        print(f"report: {runtime.report_path}")
    return _data_error(runtime) or code


async def _console_run(runtime: ReplayRuntime, config: Config, early: EarlySignals) -> int:
    from casino_tui.console import console_app, engine_running

    app = console_app(runtime, config)
    show_summary(runtime, app)
    async with engine_running(runtime, app) as engine:
        if early.hand_over() is None:
            await app.run_async(mouse=config.ui.mouse)
    if not engine.cancelled() and (failure := engine.exception()) is not None:
        raise failure
    code = app.return_code or 0
    return 0 if code >= 128 else code  # SIGTERM/SIGHUP: an orderly stop


def show_summary(runtime: ReplayRuntime, app: CasinoApp) -> None:
    """When the replay ends, the Trades screen opens on its report: the summary, the equity curve the report
    sampled and the closed trades; esc goes back to the console, which stays until the operator quits."""
    from casino_tui.screens.trades import ReplayEnding, TradesScreen

    def finished(report: ReplayReport, path: Path | None) -> None:
        if not app.is_running:  # the operator quit first: the report line on stdout says where it is
            return
        # The name only, so the line fits 80 columns; the full path is printed when the console closes.
        where = (f"report: {path.name}",) if path is not None else ()
        ending = ReplayEnding(
            lines=(*summary_lines(report), *where),
            equity=report.equity,
            start_balance=report.start_balance,
        )
        # From the app's own loop turn: the runtime's shutdown calls this outside any app handler.
        app.call_later(lambda: app.push_screen(TradesScreen(runtime, ending=ending)))

    runtime.on_finished = finished


def _data_error(runtime: ReplayRuntime) -> int:
    """2 with one line when the data turned unreadable mid-run (the report says how far it got), else 0."""
    if runtime.data_error:
        return _error(runtime.data_error)
    return 0


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2
