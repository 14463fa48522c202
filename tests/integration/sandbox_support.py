"""Test-side Binance client bits for the sandbox tests: a tiny HMAC signer and a socket reader.

Written independently of casino_tui's own signing code, so the sandbox is checked against the protocol,
not against the code under test.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec

from casino_tui.clock import ManualClock
from casino_tui.sandbox import SandboxServer

API_KEY = "sandbox-key"
SECRET = "sandbox-secret"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DEADLINE_S = 10.0


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_payload(params: dict[str, Any], timestamp: int, secret: str = SECRET) -> str:
    """`a=1&b=2&timestamp=T&signature=HEX`, signed over exactly the bytes sent."""
    payload = urlencode({**params, "timestamp": timestamp})
    return f"{payload}&signature={hmac_hex(secret, payload)}"


class SignedClient:
    """httpx client that signs like Binance clients do: GET/DELETE in the query, POST/PUT in the body."""

    def __init__(
        self, http: httpx.AsyncClient, clock: ManualClock, key: str = API_KEY, secret: str = SECRET
    ) -> None:
        self.http = http
        self.clock = clock
        self.key = key
        self.secret = secret
        self.time_offset_ms = 0

    def _payload(self, params: dict[str, Any]) -> str:
        return signed_payload(params, self.clock.now_ms() + self.time_offset_ms, self.secret)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"{path}?{self._payload(params)}", headers={"X-MBX-APIKEY": self.key})

    async def delete(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.delete(f"{path}?{self._payload(params)}", headers={"X-MBX-APIKEY": self.key})

    async def post(self, path: str, **params: Any) -> httpx.Response:
        headers = {"X-MBX-APIKEY": self.key, **FORM}
        return await self.http.post(path, content=self._payload(params), headers=headers)


class Frames:
    """Everything a WebSocket receives, read by a background task, with waits on what has arrived."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.items: list[Any] = []
        self.closed: BaseException | None = None
        self.close_code: int | None = None
        self._arrived = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.items.append(msgspec.json.decode(raw))
                self._arrived.set()
        except Exception as exc:  # the close itself is what some tests wait for
            self.closed = exc
        else:
            self.closed = ConnectionError("closed")
        self.close_code = self.ws.close_code
        self._arrived.set()

    def find(self, match: Callable[[Any], bool]) -> Any | None:
        return next((f for f in self.items if match(f)), None)

    async def wait_for(self, match: Callable[[Any], bool], advance: Callable[[], None] | None = None) -> Any:
        """The first frame matching `match`; `advance` (e.g. one step of the market) runs between looks."""

        async def look() -> Any:
            while (found := self.find(match)) is None:
                if self.closed is not None and not advance:
                    raise AssertionError(f"socket closed before the frame came: {self.closed!r}")
                if advance is not None:
                    advance()
                    await asyncio.sleep(0.002)
                else:
                    self._arrived.clear()
                    await self._arrived.wait()
            return found

        return await asyncio.wait_for(look(), DEADLINE_S)

    async def wait_closed(self) -> int | None:
        """The close code the server sent, once the socket is closed."""
        await asyncio.wait_for(asyncio.shield(self._task), DEADLINE_S)
        return self.close_code

    async def aclose(self) -> None:
        await self.ws.close()
        self._task.cancel()


def market_step(sandbox: SandboxServer, clock: ManualClock, step_ms: int = 1000) -> Callable[[], None]:
    """One step of simulated time: advance the clock and let the sim emit what happened."""

    def step() -> None:
        clock.advance(step_ms)
        sandbox.sim.pump()

    return step


def is_event(kind: str, **fields: Any) -> Callable[[Any], bool]:
    """Matcher for a user-stream event of type `kind` whose `o` object has the given fields."""

    def match(frame: Any) -> bool:
        if not isinstance(frame, dict) or frame.get("e") != kind:
            return False
        body = frame.get("o", {})
        return all(body.get(k) == v for k, v in fields.items())

    return match
