"""Command line: argument parsing, subcommands and exit codes.

Exit codes: 0 normal (also after SIGTERM/SIGINT), 2 usage or configuration error (one line, no
traceback), 1 unexpected crash (traceback to the log file, one line to the terminal), 3 a position left
without a confirmed stop-loss, 4 a sweep that did not reach flat (see casino_tui.engine.report).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from casino_tui import __version__
from casino_tui.config import DEFAULT_CONFIG_TOML, EXCHANGES, Config, ConfigError, load_config
from casino_tui.paths import StatePaths, default_config_path, state_paths

PROG = "casino-tui"
SUBCOMMANDS = ("init-config", "sensors", "sandbox", "check", "journal")

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
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def add_exchange_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH", help="TOML config file")
    parser.add_argument("--exchange", choices=EXCHANGES, help="sim (default), binance-testnet or binance")
    parser.add_argument("--symbols", metavar="A,B,...", help="comma-separated symbols, e.g. BTCUSDT,ETHUSDT")
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
    return parser


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
        args = build_parser().parse_args(argv)
        config = resolve_config(args)
        return _run(config, args)
    except (UsageError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def _run(config: Config, args: argparse.Namespace) -> int:
    from casino_tui.engine.logbuffer import LogSetup
    from casino_tui.exchange.factory import ExchangeSetupError
    from casino_tui.runtime import StartupError

    try:
        paths = paths_for(config)
    except OSError as exc:
        raise ConfigError(f"runtime.state_dir: cannot create {exc.filename}: {exc.strerror}") from None
    logs = LogSetup(paths.log_file, stdout=args.headless)
    try:
        if args.headless:
            from casino_tui.headless import print_report_line, run_headless

            runtime = asyncio.run(run_headless(config, paths, args.timeout, logs))
            print_report_line(runtime)
            return runtime.exit_code
        from casino_tui.console import run_console

        return run_console(config, paths, logs, timeout=args.timeout)
    except (StartupError, ExchangeSetupError) as exc:
        logging.getLogger("casino.cli").error("%s", exc)
        print(f"{PROG}: error: {logs.redactor.redact(str(exc))}", file=sys.stderr)
        return 2
    except Exception as exc:
        logging.getLogger("casino.cli").error("crash:\n%s", traceback.format_exc())
        message = logs.redactor.redact(f"{type(exc).__name__}: {exc}")
        print(f"{PROG}: crashed: {message} (traceback in {paths.log_file})", file=sys.stderr)
        return 1
    finally:
        logs.close()


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
        from casino_tui.exchange.sandbox.serve import add_arguments, serve_main

        parser = _Parser(prog=f"{PROG} sandbox", description="Serve the Binance USD-M protocol on loopback.")
        add_arguments(parser)
        return serve_main(parser.parse_args(argv))
    if name == "check":
        from casino_tui.check import run_check

        parser = _Parser(prog=f"{PROG} check", description="Check connectivity, clock, keys and account.")
        add_exchange_flags(parser)
        args = parser.parse_args(argv)
        args.mouse = False
        return run_check(resolve_config(args))
    if name == "journal":
        from casino_tui.engine.journal import print_journal

        parser = _Parser(prog=f"{PROG} journal", description="Print the journal (audit trail).")
        parser.add_argument("--config", type=Path, metavar="PATH")
        parser.add_argument("--exchange", choices=EXCHANGES)
        parser.add_argument("--state-dir", metavar="DIR")
        parser.add_argument(
            "--since", metavar="WHEN", help="ISO time (2026-01-01T00:00) or seconds ago (300s)"
        )
        args = parser.parse_args(argv)
        args.symbols = args.rest_url = args.ws_url = args.seed = args.speed = None
        args.live = args.mouse = False
        config = resolve_config(args)
        return print_journal(paths_for(config).journal, args.since)
    raise UsageError(f"unknown subcommand {name}")


if __name__ == "__main__":
    sys.exit(main())
