"""Command line: argument parsing, subcommands and exit codes.

Exit codes: 0 normal (also after SIGTERM/SIGINT, and when the reader of stdout goes away), 2 usage or
configuration error, a state dir held by another instance, or a journal that cannot be opened (one line, no
traceback), 1 unexpected crash (traceback to the log file, one line to the terminal), 3 a position left
without a confirmed stop-loss, 4 a sweep that did not reach flat (see casino_tui.engine.report).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from casino_tui import __version__
from casino_tui.config import DEFAULT_CONFIG_TOML, EXCHANGES, Config, ConfigError, load_config
from casino_tui.early_signals import EarlySignals
from casino_tui.paths import StatePaths, default_config_path, state_paths

PROG = "casino-tui"
SUBCOMMANDS = ("init-config", "sensors", "sandbox", "check", "journal", "replay", "data")
CONFIRM_LIVE_ENV = "CASINO_CONFIRM_LIVE"

log = logging.getLogger("casino.cli")


class UsageError(Exception):
    """Bad flags or arguments: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_exchange_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--exchange", choices=EXCHANGES, help="sim (default), binance-testnet or binance")
    parser.add_argument(
        "--symbols",
        metavar="A,B,...|all",
        help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT; 'all': every perpetual passing [market]'s filters",
    )
    parser.add_argument("--rest-url", metavar="URL", help="override the REST base URL (e.g. the sandbox)")
    parser.add_argument("--ws-url", metavar="URL", help="override the WebSocket base URL")
    parser.add_argument("--live", action="store_true", help="allow trading real money on production Binance")
    parser.add_argument("--seed", type=_int, help="sim random seed")
    parser.add_argument("--speed", type=_positive_float, metavar="X", help="sim clock multiplier")
    parser.add_argument("--state-dir", metavar="DIR", help="journal, snapshots, logs and reports go here")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Operator console and trading engine for Binance USD-M perpetual futures. "
        "With no keys it runs on a built-in simulated exchange.",
        epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (see `{PROG} <subcommand> --help`)",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_exchange_flags(parser)
    parser.add_argument("--headless", action="store_true", help="run without the console (logs to stdout)")
    parser.add_argument("--timeout", type=_positive_float, metavar="SECONDS", help="run this long, then stop")
    parser.add_argument("--mouse", action="store_true", help="enable mouse support in the console")
    parser.add_argument(
        "--record", type=Path, metavar="PATH", help="write the market stream to PATH for `casino-tui replay`"
    )
    parser.add_argument(
        "--metrics-port",
        type=_int,
        metavar="N",
        help="serve Prometheus metrics on port N of [metrics] host (127.0.0.1); 0 picks a free port (logged)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="headless stdout: text (default) or one JSON object per line",
    )
    parser.add_argument(
        "--confirm-live",
        metavar="ACCOUNT",
        help=f"headless live trading: the last 4 characters of BINANCE_API_KEY (or {CONFIRM_LIVE_ENV})",
    )
    return parser


def refuse_inapplicable(args: argparse.Namespace, exchange: str | None) -> None:
    """A flag that would do nothing in the chosen mode is a mistake: refuse it, naming the conflict."""
    given = {
        "--rest-url": args.rest_url is not None,
        "--ws-url": args.ws_url is not None,
        "--live": args.live,
        "--speed": args.speed is not None,
        "--seed": args.seed is not None,
    }
    if exchange == "sim":
        for flag in ("--rest-url", "--ws-url", "--live"):
            if given[flag]:
                raise UsageError(f"{flag} does not apply to --exchange sim (the built-in simulated exchange)")
    elif exchange is not None:
        for flag in ("--speed", "--seed"):
            if given[flag]:
                raise UsageError(f"{flag} applies to the simulated exchange only, not --exchange {exchange}")
    headless = getattr(args, "headless", False)
    if headless and getattr(args, "mouse", False):
        raise UsageError("--mouse does not apply to --headless (there is no console)")
    if not headless and getattr(args, "log_format", None) is not None:
        raise UsageError("--log-format applies to --headless only (the console shows logs in its Logs pane)")
    if getattr(args, "confirm_live", None) is not None and not (headless and args.live):
        raise UsageError(
            "--confirm-live applies to --headless --live only (the console asks you to type LIVE)"
        )


def live_confirmation(args: argparse.Namespace, config: Config) -> bool:
    """Headless LIVE needs the account named up front, checked before anything connects: True when it is."""
    if not (args.headless and config.exchange.live):
        return False
    given = (args.confirm_live or os.environ.get(CONFIRM_LIVE_ENV, "")).strip()
    if not given:
        raise UsageError(
            f"headless live trading needs --confirm-live ACCOUNT (or {CONFIRM_LIVE_ENV}): "
            "the last 4 characters of BINANCE_API_KEY"
        )
    from casino_tui.exchange.factory import load_keys

    key, _ = load_keys()
    if len(key) < 4 or given != key[-4:]:
        raise UsageError(
            f"--confirm-live {given!r} does not match the API key in use (its last 4 characters)"
        )
    return True


def overrides_from_args(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The CLI flags as config overrides (they win over the file and the environment)."""
    out: dict[str, dict[str, Any]] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            out.setdefault(section, {})[key] = value

    if args.symbols is not None:
        symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        if not symbols:
            raise UsageError("--symbols: give at least one symbol")
        out[""] = {"symbols": symbols}
    put("exchange", "name", args.exchange)
    put("exchange", "rest_url", args.rest_url)
    put("exchange", "ws_url", args.ws_url)
    if args.live:
        put("exchange", "live", True)
    put("sim", "seed", args.seed)
    put("sim", "speed", args.speed)
    put("runtime", "state_dir", args.state_dir)
    if getattr(args, "record", None) is not None:
        put("runtime", "record", str(args.record))
    if getattr(args, "metrics_port", None) is not None:
        put("metrics", "enabled", True)
        put("metrics", "port", args.metrics_port)
    if getattr(args, "mouse", False):
        put("ui", "mouse", True)
    return out


def resolve_config(args: argparse.Namespace) -> Config:
    path: Path | None = args.config
    if path is None and default_config_path().is_file():
        path = default_config_path()
    return load_config(path, overrides_from_args(args))


def paths_for(config: Config) -> StatePaths:
    return state_paths(config.runtime.state_dir or None, config.exchange.name).ensure()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return _subcommand(argv[0], argv[1:])
        # From here a signal is remembered, not fatal: start-up ends in order, with a report.
        with EarlySignals() as early:
            args = build_parser().parse_args(argv)
            refuse_inapplicable(args, args.exchange)
            config = resolve_config(args)
            refuse_inapplicable(args, config.exchange.name)
            confirmed = live_confirmation(args, config)
            if not args.headless:
                from casino_tui.console import check_theme

                check_theme(config.ui.theme)
            return _run(config, args, early, confirmed)
    except (UsageError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """The reader went away (`| head`): point stdout at /dev/null so the exit flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _run(config: Config, args: argparse.Namespace, early: EarlySignals, confirmed_live: bool) -> int:
    from casino_tui.engine.logbuffer import LogFormat, LogSetup
    from casino_tui.exchange.factory import ExchangeSetupError
    from casino_tui.runtime import StartupError
    from casino_tui.statelock import StateLock, StateLockError

    try:
        paths = paths_for(config)
    except OSError as exc:
        raise ConfigError(f"runtime.state_dir: cannot create {exc.filename}: {exc.strerror}") from None
    lock = StateLock(paths.lock)
    try:
        lock.acquire()  # before the log file and the journal: a second instance touches neither
    except StateLockError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    logs = LogSetup(paths.log_file, stdout=args.headless, stdout_format=LogFormat(args.log_format or "text"))
    try:
        from casino_tui.exchange.universe import resolve_symbols

        config = resolve_symbols(config)  # `--symbols all`: the exchange's list, before anything is built
        if args.headless:
            from casino_tui.headless import print_report_line, run_headless

            runtime = asyncio.run(
                run_headless(config, paths, args.timeout, logs, early=early, confirm_live=confirmed_live)
            )
            print_report_line(runtime)
            return runtime.exit_code
        from casino_tui.console import run_console

        return run_console(config, paths, logs, timeout=args.timeout, early=early)
    except (StartupError, ExchangeSetupError) as exc:
        logging.getLogger("casino.cli").error("%s", exc)
        print(f"{PROG}: error: {logs.redactor.redact(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except Exception as exc:
        logging.getLogger("casino.cli").error("crash:\n%s", traceback.format_exc())
        message = logs.redactor.redact(f"{type(exc).__name__}: {exc}")
        print(f"{PROG}: crashed: {message} (traceback in {paths.log_file})", file=sys.stderr)
        return 1
    finally:
        logs.close()
        lock.release()


def _subcommand(name: str, argv: list[str]) -> int:
    if name == "init-config":
        parser = _Parser(prog=f"{PROG} init-config", description="Write a commented default config file.")
        parser.add_argument("path", nargs="?", type=Path, help=f"default: {default_config_path()}")
        parser.add_argument("--force", action="store_true", help="overwrite an existing file")
        args = parser.parse_args(argv)
        path: Path = args.path or default_config_path()
        if path.exists() and not args.force:
            raise UsageError(f"{path} exists (use --force to overwrite)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(DEFAULT_CONFIG_TOML, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror}") from None
        print(f"wrote {path}")
        return 0
    if name == "sensors":
        parser = _Parser(prog=f"{PROG} sensors", description="List the sensor catalog.")
        parser.parse_args(argv)
        from casino_tui.sensors.catalog import catalog_lines

        for line in catalog_lines():
            print(line)
        return 0
    if name == "sandbox":
        from casino_tui.sandbox.serve import add_arguments, serve_main

        parser = _Parser(prog=f"{PROG} sandbox", description="Serve the Binance USD-M protocol on loopback.")
        add_arguments(parser)
        return serve_main(parser.parse_args(argv))
    if name == "check":
        from casino_tui.check import run_check

        parser = _Parser(prog=f"{PROG} check", description="Check connectivity, clock, keys and account.")
        add_exchange_flags(parser)
        args = parser.parse_args(argv)
        args.mouse = False
        refuse_inapplicable(args, args.exchange)
        config = resolve_config(args)
        refuse_inapplicable(args, config.exchange.name)
        from casino_tui.exchange.factory import ExchangeSetupError
        from casino_tui.exchange.universe import resolve_symbols

        try:
            config = resolve_symbols(config)
        except ExchangeSetupError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 2
        return run_check(config)
    if name == "journal":
        from casino_tui.engine.audit import print_journal

        parser = _Parser(prog=f"{PROG} journal", description="Print the journal (audit trail).")
        parser.add_argument("--config", type=Path, metavar="PATH")
        parser.add_argument("--exchange", choices=EXCHANGES)
        parser.add_argument("--state-dir", metavar="DIR")
        parser.add_argument(
            "--since",
            metavar="WHEN",
            help="ISO time (2026-01-01T00:00, UTC) or a span back from now (300s, 15m, 2h), on the clock "
            "the journal was written with (sim time on the sim)",
        )
        args = parser.parse_args(argv)
        args.symbols = args.rest_url = args.ws_url = args.seed = args.speed = None
        args.live = args.mouse = False
        config = resolve_config(args)
        # Read-only: no directory is created and the state dir's lock is not taken (the engine may run).
        paths = state_paths(config.runtime.state_dir or None, config.exchange.name)
        try:
            return print_journal(paths.journal, args.since, paths.lock)
        except ValueError as exc:  # a --since the reader cannot parse
            raise UsageError(str(exc)) from None
    if name == "replay":
        from casino_tui.replay import add_arguments as add_replay_arguments
        from casino_tui.replay import run_replay

        parser = _Parser(
            prog=f"{PROG} replay",
            description="Replay Binance klines/aggTrades files or recordings through the engine; write a report.",
        )
        add_replay_arguments(parser)
        args = parser.parse_args(argv)
        config = load_config(
            args.config or (default_config_path() if default_config_path().is_file() else None),
            _replay_overrides(args),
        )
        return run_replay(args, config)
    if name == "data":
        return _data(argv)
    raise UsageError(f"unknown subcommand {name}")


def _replay_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if args.seed is not None:
        out["sim"] = {"seed": args.seed}
    if args.state_dir is not None:
        out["runtime"] = {"state_dir": args.state_dir}
    if args.mouse:
        out["ui"] = {"mouse": True}
    return out


def _data(argv: list[str]) -> int:
    """`data download`: Binance public data files for replays, checksums verified (exit 2 on a mismatch)."""
    from casino_tui.exchange.replay.download import DownloadError, add_download_arguments, run_download

    parser = _Parser(prog=f"{PROG} data", description="Binance public data files for replays.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="download")
    add_download_arguments(
        actions.add_parser("download", help="fetch klines or aggTrades files and verify their checksums")
    )
    args = parser.parse_args(argv)
    try:
        return run_download(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except DownloadError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
