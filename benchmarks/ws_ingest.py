"""WebSocket ingest benchmark: the sandbox streams aggTrade + markPrice@1s for 50 symbols over loopback.

The streams are spread over as many connections as `--streams-per-connection` needs (the connector's own
sharding; default Binance's 1024, so up to 512 symbols share one connection): `--symbols 400
--streams-per-connection 200` runs over four. Both clients use the same connections, and the sandbox
enforces the same limit.

The sandbox runs in its own process (`casino-tui sandbox`, a high sim speed) so it does not share a core
with the client loop. Two phases, one after the other, against the same sandbox and stream URL:

  raw     a bare `websockets` client that only counts messages (the ceiling of any Python client here);
  engine  BinanceExchange's market stream -> decode -> Engine -> StreamStats + CandleBook, with the
          runtime's 250 ms timer, counting engine ticks.

`ratio` compares the messages each client handled per second. The sim produces at a fixed rate (open
loop) and the sandbox drops a client that falls 20,000 frames behind, so when both clients keep up
(`*_kept_up`) the sandbox sets the rate and `ratio` is ~1 by construction. `capacity_ratio` compares the
client CPU each spends per message (`*_us_per_msg`, `*_capacity_per_s` = rate at a full core), which holds
whichever side is the bottleneck; `*_busy` (CPU + run-queue wait, Linux) shows which process was saturated.
Prints machine info, then one JSON object on the last line.

    .venv/bin/python benchmarks/ws_ingest.py [--symbols 50] [--speed 100] [--seconds 8]
    .venv/bin/python benchmarks/ws_ingest.py --symbols 400 --streams-per-connection 200
    .venv/bin/python benchmarks/ws_ingest.py --tiny      # a few seconds, what the test suite runs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from harness import emit, machine_info, parse_args, print_machine  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402

from casino_tui.clock import SimClock  # noqa: E402
from casino_tui.config import ExchangeConfig  # noqa: E402
from casino_tui.engine.candles import CandleBook  # noqa: E402
from casino_tui.engine.engine import Engine  # noqa: E402
from casino_tui.engine.streams import StreamStats  # noqa: E402
from casino_tui.exchange.binance.connector import BinanceExchange  # noqa: E402
from casino_tui.exchange.binance.sharding import (  # noqa: E402
    MAX_STREAMS_PER_CONNECTION,
    SUBSCRIBES_PER_S,
    plan_shards,
)
from casino_tui.exchange.sim.market import synthetic_symbols  # noqa: E402
from casino_tui.model import TIMEFRAMES, AccountUpdate, OrderUpdate  # noqa: E402
from casino_tui.sandbox.serve import BANNER_BASE_URL  # noqa: E402

API_KEY = "sandbox-key"
API_SECRET = "sandbox-secret"
TIMER_S = 0.25  # the runtime's timer interval
SATURATED = 0.9  # a process using this much of a core is the one holding the rate down
_SANDBOX_LINE = BANNER_BASE_URL
TINY = {"symbols": 5, "speed": 20.0, "seconds": 1.0, "warmup": 0.5, "streams_per_connection": 4}


class SandboxProcess:
    """`casino-tui sandbox --port 0` in a child process; `base_url` is parsed from what it prints."""

    def __init__(self, symbols: int, speed: float, seed: int, streams_per_connection: int = 1024) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "CASINO_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "casino_tui.cli", "sandbox", "--port", "0", "--speed", str(speed)]
            + ["--seed", str(seed), "--symbols-count", str(symbols)]
            + ["--max-streams-per-connection", str(streams_per_connection)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the sandbox prints three short lines: no pipe to drain later
        match = _SANDBOX_LINE.search(line)
        if match is None:
            self.stop()
            raise SystemExit(f"sandbox did not start: {line!r}")
        self.pid = self.proc.pid
        self.base_url = match.group(1)
        self.ws_url = "ws://" + self.base_url.removeprefix("http://")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _proc_times(pid: int) -> tuple[float, float] | None:
    """(CPU seconds, seconds spent runnable but waiting for a core) of a process; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        waited_ns = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), waited_ns / 1e9


class Usage(NamedTuple):
    """A reading of the clocks a phase is measured with."""

    wall: float
    client_cpu: float
    client: tuple[float, float] | None
    sandbox: tuple[float, float] | None

    @classmethod
    def now(cls, sandbox: SandboxProcess) -> Usage:
        return cls(
            time.perf_counter(), time.process_time(), _proc_times(os.getpid()), _proc_times(sandbox.pid)
        )


@dataclass
class Phase:
    """What one client received in the measured window, and what it cost both processes."""

    messages: int
    trades: int
    start: Usage
    end: Usage
    lag_s: float  # how far behind the sandbox's clock the newest trade received was, in wall seconds
    disconnects: int

    @property
    def wall_s(self) -> float:
        return self.end.wall - self.start.wall

    def _share(self, which: str, index: int) -> float | None:
        a, b = getattr(self.start, which), getattr(self.end, which)
        return round((b[index] - a[index]) / self.wall_s, 3) if a is not None and b is not None else None

    @property
    def kept_up(self) -> bool:
        """Received everything offered, as it was offered: no disconnect and no growing backlog."""
        return self.disconnects == 0 and self.lag_s < 1.0

    def figures(self, prefix: str) -> dict[str, Any]:
        cpu_s = self.end.client_cpu - self.start.client_cpu
        us_per_msg = cpu_s / self.messages * 1e6 if self.messages else 0.0
        return {
            f"{prefix}_msgs_per_s": round(self.messages / self.wall_s),
            f"{prefix}_trades_per_s": round(self.trades / self.wall_s),
            f"{prefix}_client_cpu": round(cpu_s / self.wall_s, 3),
            f"{prefix}_client_cpu_wait": self._share("client", 1),
            f"{prefix}_us_per_msg": round(us_per_msg, 2),
            # The rate this client would take with a whole core to itself, at this cost per message.
            f"{prefix}_capacity_per_s": round(1e6 / us_per_msg) if us_per_msg else 0,
            f"{prefix}_sandbox_cpu": self._share("sandbox", 0),
            f"{prefix}_sandbox_cpu_wait": self._share("sandbox", 1),
            f"{prefix}_sandbox_busy": self.busy("sandbox"),
            f"{prefix}_client_busy": self.busy("client"),
            f"{prefix}_lag_s": round(self.lag_s, 3),
            f"{prefix}_disconnects": self.disconnects,
            f"{prefix}_kept_up": self.kept_up,
        }

    def busy(self, which: str) -> float | None:
        """Share of a core the process used or waited for (runnable, not running): 1.0 means saturated."""
        cpu, wait = self._share(which, 0), self._share(which, 1)
        return None if cpu is None or wait is None else round(cpu + wait, 3)

    @property
    def bottleneck(self) -> str:
        """Which side held the rate down in this phase."""
        if self.kept_up:
            return "sandbox (the client took all it was offered)"
        sandbox, client = self.busy("sandbox") or 0.0, self.busy("client") or 0.0
        if sandbox >= SATURATED and sandbox >= client:
            return "sandbox (saturated)"
        if client >= SATURATED:
            return "client (saturated)"
        return "neither saturated (other load on the machine?)"


def subscriptions(symbols: list[str], streams_per_connection: int) -> list[list[str]]:
    """The SUBSCRIBE messages of each connection of the connector's own plan (aggTrade + markPrice@1s).

    Subscribed by message, as the connector does: 400 symbols' names in one URL exceed what the server
    reads of a request line, so a URL-only client would get no data at all.
    """
    return [
        [
            json.dumps({"method": "SUBSCRIBE", "params": list(batch), "id": i})
            for i, batch in enumerate(plan.batches)
        ]
        for plan in plan_shards(symbols, streams_per_connection)
    ]


async def server_ms(http: httpx.AsyncClient, base_url: str) -> int:
    return int((await http.get(f"{base_url}/fapi/v1/time")).json()["serverTime"])


def last_trade_ms(frame: str | bytes) -> int:
    data = json.loads(frame)["data"]
    return int(data.get("T") or data.get("E") or 0)


class _RawCount:
    """What the bare clients received, over all their connections."""

    def __init__(self) -> None:
        self.messages = self.trades = self.disconnects = 0
        self.last_trade = ""

    async def read(self, url: str, messages: list[str]) -> None:
        """Subscribe (paced as the connector paces), then count every message and the aggTrade ones on one
        connection, reconnecting until cancelled."""
        while True:
            try:
                async with connect(url, proxy=None, max_size=2**22, close_timeout=1) as ws:
                    for index, message in enumerate(messages):
                        if index:
                            await asyncio.sleep(1 / SUBSCRIBES_PER_S)
                        await ws.send(message)
                    async for raw in ws:
                        self.messages += 1
                        if "@aggTrade" in raw[:40]:
                            self.trades += 1
                            self.last_trade = raw
            except (WebSocketException, OSError):
                self.disconnects += 1


async def raw_phase(
    sandbox: SandboxProcess, subscribe: list[list[str]], speed: float, warmup_s: float, seconds: float
) -> Phase:
    """Bare websockets, one reader per connection: count every message, and the aggTrade ones, nothing else.

    The window closes while the sockets are still open: closing a socket the server keeps flooding can
    take the whole close timeout, which must not count as receiving time.
    """
    count = _RawCount()
    url = f"{sandbox.ws_url}/market/stream"
    readers = [asyncio.create_task(count.read(url, messages)) for messages in subscribe]
    try:
        await asyncio.sleep(warmup_s)
        start = Usage.now(sandbox)
        messages0, trades0, disconnects0 = count.messages, count.trades, count.disconnects
        await asyncio.sleep(seconds)
        end = Usage.now(sandbox)
        messages, trades = count.messages - messages0, count.trades - trades0
        async with httpx.AsyncClient() as http:
            now_ms = await server_ms(http, sandbox.base_url)
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    last = count.last_trade
    lag = (now_ms - last_trade_ms(last)) / speed / 1000 if last else float("nan")
    return Phase(messages, trades, start, end, lag, count.disconnects - disconnects0)


class _NoUser:
    def on_order_update(self, update: OrderUpdate) -> None: ...

    def on_account_update(self, update: AccountUpdate) -> None: ...


class _MarkCounter:
    """The Engine as MarketSink, counting mark prices too (the engine counts only the ones it keeps)."""

    def __init__(self, engine: Engine) -> None:
        self.on_trade = engine.on_trade
        self._engine = engine
        self.marks = 0
        self.downs = 0

    def on_mark_price(self, symbol: str, price: float, ts_ms: int) -> None:
        self.marks += 1
        self._engine.on_mark_price(symbol, price, ts_ms)

    def on_stream_status(self, stream: str, connected: bool, reason: str) -> None:
        if stream.startswith("market") and not connected:
            self.downs += 1
        self._engine.on_stream_status(stream, connected, reason)


async def engine_phase(
    sandbox: SandboxProcess,
    symbols: list[str],
    speed: float,
    warmup_s: float,
    seconds: float,
    streams_per_connection: int,
) -> tuple[Phase, dict[str, Any]]:
    """BinanceExchange (started as the runtime starts it) feeding Engine -> StreamStats + CandleBook."""
    async with httpx.AsyncClient() as http:
        # A clock that runs at the sandbox's speed keeps the signed requests inside recvWindow.
        clock = SimClock(await server_ms(http, sandbox.base_url), speed)
    stats = StreamStats(symbols, clock)
    book = CandleBook(symbols, TIMEFRAMES)
    engine = Engine(symbols, clock, book, stats, lambda *_: None)
    sink = _MarkCounter(engine)
    config = ExchangeConfig(name="binance", rest_url=sandbox.base_url, ws_url=sandbox.ws_url)
    exchange = BinanceExchange(
        config,
        API_KEY,
        API_SECRET,
        clock,
        testnet=False,
        seed=1,
        max_streams_per_connection=streams_per_connection,
    )
    exchange.set_sinks(sink, _NoUser())  # type: ignore[arg-type]
    await exchange.start(symbols)

    async def timer() -> None:
        while True:
            await asyncio.sleep(TIMER_S)
            engine.tick_timer(clock.now_ms())

    timer_task = asyncio.create_task(timer())
    try:
        await asyncio.sleep(warmup_s)
        start = Usage.now(sandbox)
        ticks0, marks0, downs0 = engine.ticks, sink.marks, sink.downs
        await asyncio.sleep(seconds)
        end = Usage.now(sandbox)
        ticks, marks = engine.ticks - ticks0, sink.marks - marks0
        newest = max((stats.get(s).last_trade_ms for s in symbols), default=0)
        async with httpx.AsyncClient() as http:
            now_ms = await server_ms(http, sandbox.base_url)
    finally:
        timer_task.cancel()
        await exchange.stop()
    counters = engine.counters()
    lag = (now_ms - newest) / speed / 1000 if newest else float("nan")
    phase = Phase(ticks + marks, ticks, start, end, lag, sink.downs - downs0)
    extra = {
        "engine_ticks_per_s": round(ticks / phase.wall_s),
        "engine_candles_closed": counters.candles_closed,
        "engine_errors": counters.errors + counters.dropped + counters.consumer_errors,
    }
    return phase, extra


async def run(args: argparse.Namespace) -> dict[str, Any]:
    symbols = synthetic_symbols(args.symbols)
    per_connection = args.streams_per_connection
    sandbox = SandboxProcess(args.symbols, args.speed, args.seed, per_connection)
    try:
        subscribe = subscriptions(symbols, per_connection)
        raw = await raw_phase(sandbox, subscribe, args.speed, args.warmup, args.seconds)
        engine, engine_extra = await engine_phase(
            sandbox, symbols, args.speed, args.warmup, args.seconds, per_connection
        )
    finally:
        sandbox.stop()
    raw_figs, engine_figs = raw.figures("raw"), engine.figures("engine")
    raw_rate = raw.messages / raw.wall_s
    engine_rate = engine.messages / engine.wall_s
    return {
        "benchmark": "ws_ingest",
        "symbols": len(symbols),
        "connections": len(subscribe),
        "streams_per_connection": per_connection,
        "speed": args.speed,
        "seconds": args.seconds,
        "raw_recv_per_s": round(raw_rate),
        **engine_extra,
        # Like for like: every message each client handled (trades + marks) per wall second.
        "ratio": round(engine_rate / raw_rate, 3) if raw_rate else 0.0,
        # What each client could take at a full core, from its CPU per message: the comparison that
        # still holds when the sandbox, not the client, sets the rate.
        "capacity_ratio": (
            round(engine_figs["engine_capacity_per_s"] / raw_figs["raw_capacity_per_s"], 3)
            if raw_figs["raw_capacity_per_s"]
            else 0.0
        ),
        "sandbox_send_per_s": round(raw_rate),
        "bottleneck_raw": raw.bottleneck,
        "bottleneck_engine": engine.bottleneck,
        **raw_figs,
        **engine_figs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument(
        "--speed", type=float, default=100.0, help="sandbox sim speed (sets the offered rate)"
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=1.5, help="seconds received before measuring")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--streams-per-connection",
        type=int,
        default=MAX_STREAMS_PER_CONNECTION,
        help="streams per WebSocket connection, on both sides (default Binance's 1024)",
    )
    args = parse_args(parser, TINY)
    if args.symbols < 1 or min(args.speed, args.seconds) <= 0 or args.warmup < 0:
        parser.error("--symbols must be at least 1, --speed and --seconds positive, --warmup not negative")
    if args.streams_per_connection < 2:
        parser.error("--streams-per-connection must be at least 2 (one symbol's streams)")

    info = machine_info()
    print_machine(info)
    emit(asyncio.run(run(args)), info, args)


if __name__ == "__main__":
    main()
