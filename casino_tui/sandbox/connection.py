"""One WebSocket client of the sandbox: what it subscribed to, and a bounded outgoing queue.

Feeds push frames from the sim's callbacks (plain calls, no await); the connection's writer task drains the
queue onto the socket. A client too slow to keep up is disconnected, as Binance does.
"""

from __future__ import annotations

import asyncio

from starlette.websockets import WebSocket

MAX_QUEUED_FRAMES = 20_000


class Connection:
    """A connected client; `combined` wraps market payloads as {"stream": name, "data": payload}.

    A `private` connection (the /private routes and the legacy /ws/<listenKey>) carries the user data of
    its listenKeys, named in the URL or subscribed later.
    """

    def __init__(
        self,
        websocket: WebSocket,
        combined: bool,
        private: bool = False,
        listen_keys: list[str] | None = None,
    ) -> None:
        self.websocket = websocket
        self.combined = combined
        self.private = private
        self.listen_keys: set[str] = set(listen_keys or ())
        self.streams: set[str] = set()
        self.close_code = 1000
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_QUEUED_FRAMES)

    def push(self, frame: str) -> None:
        """Queue one text frame; a full queue means the client is not reading, so it is dropped."""
        if self.closed.is_set():
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.request_close(1008, "client too slow")

    def push_market(self, stream: str, payload: str) -> None:
        self.push(f'{{"stream":"{stream}","data":{payload}}}' if self.combined else payload)

    def request_close(self, code: int, reason: str) -> None:
        """Ask the connection's handler to close the socket (from any callback)."""
        if not self.closed.is_set():
            self.close_code = code
            self.close_reason = reason
            self.closed.set()

    async def write_forever(self) -> None:
        """Drain the queue onto the socket until cancelled or the socket fails."""
        while True:
            frame = await self._queue.get()
            await self.websocket.send_text(frame)
