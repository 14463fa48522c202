"""WebSocket streams: a self-healing socket loop (the market connections are in market.py).

`SocketLoop` keeps one socket connected: exponential backoff with jitter between attempts, a watchdog that
drops a socket silent for `silence_s` (no frame at all: the mark price arrives every second, so silence
means a dead feed), and a planned reconnect before Binance's 24-hour cut. Frames go to a plain callback;
no task or queue per frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from casino_tui.exchange.binance.resilience import RetryPolicy
from casino_tui.port import AuthError, ExchangeError

log = logging.getLogger("casino.binance.streams")
wire_log = logging.getLogger("casino.binance.wire")

ROTATE_AFTER_S = 23 * 3600 + 50 * 60  # Binance closes every connection at 24 h; leave on our own terms first
# A socket that lived this long was healthy: its loss restarts the backoff from the shortest delay.
STABLE_AFTER_S = 10.0


class SocketLoop:
    """Keeps one WebSocket connected and feeds its frames to `on_frame`.

    `url` is awaited before every attempt (the user stream mints a listenKey there). `on_open(first)` runs
    after each connect; `on_down(reason)` after each loss. `reconnect(reason)` drops the current socket.
    """

    def __init__(
        self,
        name: str,
        url: Callable[[], Awaitable[str]],
        on_frame: Callable[[bytes | str], None],
        on_open: Callable[[bool], None],
        on_down: Callable[[str], None],
        backoff: RetryPolicy,
        silence_s: float | None = None,
        rotate_after_s: float = ROTATE_AFTER_S,
        use_proxy: bool = True,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.name = name
        self._url = url
        self._on_frame = on_frame
        self._on_open = on_open
        self._on_down = on_down
        self._backoff = backoff
        self._silence_s = silence_s
        self._rotate_after_s = rotate_after_s
        self._use_proxy = use_proxy
        self._redact = redact
        self._ws: ClientConnection | None = None
        self._drop_reason = ""
        self._stopping = False
        self.connected = asyncio.Event()
        self.connects = 0
        self.last_frame_monotonic = 0.0
        self.last_error = ""

    async def run(self) -> None:
        """Connect, read, reconnect: until `stop()` or a fatal error from `url` (e.g. AuthError)."""
        attempt = 0
        first = True
        while not self._stopping:
            reason = ""
            try:
                target = await self._url()
                async with connect(
                    target,
                    logger=wire_log,
                    proxy=True if self._use_proxy else None,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                    max_size=2**22,
                ) as ws:
                    self._ws = ws
                    self._drop_reason = ""
                    self.connects += 1
                    self.last_frame_monotonic = time.monotonic()
                    self.connected.set()
                    self._on_open(first)
                    first = False
                    opened = time.monotonic()
                    watchdog = asyncio.create_task(self._watch(ws), name=f"{self.name}-watchdog")
                    try:
                        reason = await self._read(ws)
                    finally:
                        watchdog.cancel()
                    if time.monotonic() - opened > STABLE_AFTER_S:
                        attempt = 0  # it worked for a while: the next failure starts the backoff afresh
            except asyncio.CancelledError:
                raise
            except ExchangeError as exc:
                if isinstance(exc, AuthError):
                    raise  # a rejected key will not heal by retrying
                reason = f"{type(exc).__name__}: {self._redact(str(exc))}"
            except InvalidStatus as exc:
                reason = f"handshake refused (HTTP {exc.response.status_code})"
            except (OSError, TimeoutError, WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {self._redact(str(exc))}"[:200]
            finally:
                self._ws = None
                self.connected.clear()
            if self._stopping:
                break
            self.last_error = reason
            planned = reason == "planned rotation"
            log.log(logging.INFO if planned else logging.WARNING, "%s stream down: %s", self.name, reason)
            self._on_down(reason)
            await asyncio.sleep(self._backoff.delay(attempt))
            attempt += 1

    async def _read(self, ws: ClientConnection) -> str:
        on_frame = self._on_frame
        now = time.monotonic
        try:
            async for raw in ws:
                self.last_frame_monotonic = now()
                on_frame(raw)
        except ConnectionClosed:
            pass
        if self._drop_reason:
            return self._drop_reason
        code = ws.close_code
        return f"closed by server (code {code})" if code is not None else "connection lost"

    async def _watch(self, ws: ClientConnection) -> None:
        opened = time.monotonic()
        step = min(1.0, self._silence_s / 4) if self._silence_s else 1.0
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            if self._silence_s and now - self.last_frame_monotonic > self._silence_s:
                await self._drop(ws, f"silent for {self._silence_s:g}s")
                return
            if now - opened > self._rotate_after_s:
                await self._drop(ws, "planned rotation")
                return

    async def _drop(self, ws: ClientConnection, reason: str) -> None:
        self._drop_reason = reason
        # A silent peer may never answer the close handshake: abort the transport after close_timeout.
        await ws.close()

    async def send(self, text: str) -> None:
        """Send one text frame on the current socket; ConnectionClosed if there is none."""
        ws = self._ws
        if ws is None:
            raise ConnectionClosed(None, None)
        await ws.send(text)

    async def reconnect(self, reason: str) -> None:
        """Drop the current socket now; the loop reconnects (with a fresh URL)."""
        ws = self._ws
        if ws is not None:
            await self._drop(ws, reason)

    async def stop(self) -> None:
        self._stopping = True
        ws = self._ws
        if ws is not None:
            self._drop_reason = "stopped"
            await ws.close()
