"""Running the sandbox: `casino-tui sandbox` (serve_main) and `running_sandbox()` for in-process tests.

`running_sandbox` starts uvicorn on 127.0.0.1, port 0, in the current event loop and yields a
`SandboxServer`: base URL, WebSocket URL, the sim and its clock, and admin helpers (faults, state, positions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import AsyncIterator, Generator
from typing import Any

import msgspec
import uvicorn

from casino_tui.clock import Clock, SimClock
from casino_tui.config import DEFAULT_SYMBOLS, SimConfig
from casino_tui.exchange.sim.exchange import SimExchange
from casino_tui.exchange.sim.market import synthetic_symbols
from casino_tui.sandbox.admin import SandboxState, collect_state
from casino_tui.sandbox.app import build_app
from casino_tui.sandbox.faults import FaultPatch, parse_patch
from casino_tui.sandbox.venue import DEFAULT_API_KEY, DEFAULT_API_SECRET, SandboxSettings, Venue

log = logging.getLogger("casino.sandbox")

DEFAULT_PORT = 8765
MAX_SYMBOLS_COUNT = 2000
BANNER_SYMBOLS = 8  # symbols named in the banner; a larger set is summed up


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the host process (a test, the app) owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class SandboxServer:
    """A sandbox over one SimExchange, served by uvicorn on `host:port` (0 picks a free port)."""

    def __init__(
        self, sim: SimExchange, clock: Clock, settings: SandboxSettings, host: str, port: int
    ) -> None:
        self.sim = sim
        self.clock = clock
        self.settings = settings
        self.venue = Venue(sim, clock, dict(sim.market.rules), settings)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            build_app(self.venue),
            host=self.host,
            port=self.port,
            lifespan="off",
            log_level="warning",
            access_log=False,
            # Admin routes trust the peer address: never take it from X-Forwarded-For.
            proxy_headers=False,
            ws_ping_interval=self.settings.ws_ping_interval_s,
            ws_ping_timeout=self.settings.ws_ping_timeout_s,
            timeout_graceful_shutdown=2,
        )

    async def start(self, embedded: bool = True) -> None:
        """Start the sim, the housekeeping task and uvicorn; returns once the port is bound."""
        await self.sim.start(list(self.sim.market.symbols))
        server = (_EmbeddedServer if embedded else uvicorn.Server)(self._config())
        self._server = server
        self._tasks.append(asyncio.create_task(self.venue.housekeeping(), name="sandbox-housekeeping"))
        serving = asyncio.create_task(server.serve(), name="sandbox-uvicorn")
        self._tasks.append(serving)
        while not server.started:
            if serving.done():
                serving.result()  # re-raise the bind error
                raise RuntimeError("sandbox server stopped during startup")
            await asyncio.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]

    async def wait(self) -> None:
        """Serve until uvicorn exits (Ctrl+C / SIGTERM in the CLI)."""
        if self._tasks:
            await self._tasks[-1]

    async def stop(self) -> None:
        self.venue.drop_sockets("server shutting down")
        if self._server is not None:
            self._server.should_exit = True
        for task in reversed(self._tasks):
            if task.get_name() == "sandbox-uvicorn":
                with contextlib.suppress(asyncio.CancelledError, SystemExit):
                    await task
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()
        await self.sim.stop()

    # -- admin helpers (the same operations as the /__admin__ routes) ----------------------------------

    def set_faults(self, patch: FaultPatch | dict[str, Any]) -> None:
        if isinstance(patch, dict):
            patch = msgspec.convert(patch, FaultPatch)
        self.venue.apply_faults(patch)

    async def state(self) -> SandboxState:
        return await collect_state(self.venue)

    def inject_position(self, symbol: str, qty: float, entry_price: float, notify: bool = False) -> None:
        self.venue.inject_position(symbol, qty, entry_price, notify)

    def drop_connection(self, stream: str) -> int:
        return self.venue.drop_connection(stream, "drop_connection (admin)")


@contextlib.asynccontextmanager
async def running_sandbox(
    *,
    symbols: list[str] | None = None,
    clock: Clock | None = None,
    speed: float = 1.0,
    seed: int = 7,
    settings: SandboxSettings | None = None,
    faults: FaultPatch | dict[str, Any] | None = None,
    sim_config: SimConfig | None = None,
    autorun: bool | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[SandboxServer]:
    """A sandbox running in this event loop for the duration of the block (port 0: an ephemeral port).

    With a ManualClock the sim does not run by itself: drive it with `server.sim.pump()`.
    """
    clock = clock or SimClock(time.time_ns() // 1_000_000, speed)
    config = sim_config or SimConfig(seed=seed, speed=speed)
    settings = settings or SandboxSettings(seed=seed)
    sim = SimExchange(
        config, list(symbols or DEFAULT_SYMBOLS), clock, leverage=settings.leverage, autorun=autorun
    )
    server = SandboxServer(sim, clock, settings, host, port)
    if faults is not None:
        server.set_faults(faults)
    await server.start(embedded=True)
    try:
        yield server
    finally:
        await server.stop()


# -- command line ---------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `casino-tui sandbox` options."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument("--api-key", default=None, help="API key to accept (env BINANCE_API_KEY)")
    parser.add_argument("--api-secret", default=None, help="HMAC secret (env BINANCE_API_SECRET)")
    parser.add_argument("--seed", type=int, default=7, help="sim seed")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="sim clock speed; >1 makes clients resync often"
    )
    parser.add_argument("--symbols", default=None, help="comma-separated symbols (default: the sim's eight)")
    parser.add_argument(
        "--symbols-count",
        type=int,
        default=None,
        metavar="N",
        help=f"serve N perpetuals: the eight majors, then synthetic SYN001USDT... (1 to {MAX_SYMBOLS_COUNT})",
    )
    parser.add_argument(
        "--max-streams-per-connection",
        type=int,
        default=SandboxSettings().max_streams_per_connection,
        metavar="N",
        help="streams one WebSocket may carry; more are refused as Binance does (default 1024)",
    )
    parser.add_argument("--faults", default="", help="initial faults as JSON, e.g. '{\"slow_ms\": 200}'")
    parser.add_argument(
        "--withdrawals-enabled", action="store_true", help="report a withdraw-capable API key"
    )


# The first banner line, for programs that start `casino-tui sandbox --port 0` and need its base URL (group 1)
# and port (group 2).
BANNER_BASE_URL = re.compile(r"casino-tui sandbox: REST (http://127\.0\.0\.1:(\d+))\s")


def banner(server: SandboxServer, key: str, shown_secret: str, symbols: list[str]) -> list[str]:
    """What `casino-tui sandbox` prints: base URLs that work pasted as --rest-url / --ws-url, and how to use them."""
    rest, ws = server.base_url, server.ws_url
    shown = ", ".join(symbols[:BANNER_SYMBOLS])
    if len(symbols) > BANNER_SYMBOLS:
        shown += f" and {len(symbols) - BANNER_SYMBOLS} more"
    return [
        f"casino-tui sandbox: REST {rest}  WebSocket {ws}",
        f"  connect: casino-tui --exchange binance --rest-url {rest} --ws-url {ws}",
        f"  API key {key}  secret {shown_secret}  (test credentials; symbols {shown})",
        f"  other clients: python-binance FUTURES_URL={rest}/fapi; Binance SDK base_path={rest}, stream_url={ws}",
        f"  admin: {rest}/__admin__/state  /__admin__/requests  /__admin__/faults  /__admin__/drop_connection",
    ]


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    key = getattr(args, "api_key", None) or os.environ.get("BINANCE_API_KEY") or DEFAULT_API_KEY
    secret = getattr(args, "api_secret", None) or os.environ.get("BINANCE_API_SECRET") or DEFAULT_API_SECRET
    return key, secret


def served_symbols(args: argparse.Namespace) -> list[str]:
    """`--symbols` or `--symbols-count` (not both); ValueError names the bad option."""
    listed = getattr(args, "symbols", None)
    count = getattr(args, "symbols_count", None)
    if listed and count is not None:
        raise ValueError("--symbols and --symbols-count exclude each other")
    if count is not None:
        if not 1 <= count <= MAX_SYMBOLS_COUNT:
            raise ValueError(f"--symbols-count must be from 1 to {MAX_SYMBOLS_COUNT}, not {count}")
        return synthetic_symbols(count)
    return [s.strip().upper() for s in str(listed or ",".join(DEFAULT_SYMBOLS)).split(",") if s.strip()]


def serve_main(args: argparse.Namespace) -> int:
    """Run the sandbox until interrupted; 0 on a clean stop, 2 on bad options."""
    key, secret = _credentials(args)
    speed = float(getattr(args, "speed", 1.0) or 1.0)
    seed = int(getattr(args, "seed", 7))
    try:
        symbols = served_symbols(args)
        patch = parse_patch(str(getattr(args, "faults", "") or "{}").encode())
        if speed <= 0:
            raise ValueError("--speed must be positive")
        max_streams = int(getattr(args, "max_streams_per_connection", 1024))
        if max_streams < 1:
            raise ValueError(f"--max-streams-per-connection must be at least 1, not {max_streams}")
        settings = SandboxSettings(
            api_key=key,
            api_secret=secret,
            seed=seed,
            withdrawals_enabled=bool(getattr(args, "withdrawals_enabled", False)),
            max_streams_per_connection=max_streams,
        )
        sim = SimExchange(
            SimConfig(seed=seed, speed=speed),
            symbols,
            SimClock(time.time_ns() // 1_000_000, speed),
            leverage=settings.leverage,
        )
    except (ValueError, msgspec.ValidationError, msgspec.DecodeError) as exc:
        print(f"casino-tui sandbox: {exc}", file=sys.stderr)
        return 2
    server = SandboxServer(
        sim,
        sim.clock,
        settings,
        str(getattr(args, "host", "127.0.0.1")),
        int(getattr(args, "port", DEFAULT_PORT)),
    )
    server.set_faults(patch)

    async def run() -> None:
        await server.start(embedded=False)
        shown_secret = secret if secret == DEFAULT_API_SECRET else "(as given)"
        for line in banner(server, key, shown_secret, list(sim.market.symbols)):
            print(line, flush=True)
        try:
            await server.wait()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"casino-tui sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
