"""Where shards run: the `ShardExecutor` interface, an inline executor for tests, and one worker process per
shard.

A call names a shard, a `SensorShard` method and picklable arguments, and returns an asyncio future of the
`ShardReply`; calls to one shard run in submission order. A lost worker fails its calls with
`ShardCrashed`; `restart` brings up an empty shard that the caller re-warms. Nothing here blocks the event
loop, so another host (a Dask or Ray actor per shard) only has to implement the same five methods.
"""

from __future__ import annotations

import abc
import asyncio
import gc
import io
import multiprocessing as mp
import multiprocessing.connection
import pickle
import select
import signal
import socket
import struct
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from casino_tui.sensors.catalog import SensorSpec
from casino_tui.sensors.shard import SensorShard, ShardReply, serve

if TYPE_CHECKING:  # ForkServerContext exists only on POSIX, and is needed only for the annotation
    from multiprocessing.context import ForkServerContext, SpawnContext

_SMALL = struct.Struct("!i")
_LARGE = struct.Struct("!Q")
_JOIN_TIMEOUT_S = 3.0
# Answers held back for the calls queued behind them, at most: a whole burst up to ~190 symbols, one 1m close's
# votes up to ~430.
_HOLD_BYTES = 64 * 1024


class ShardCrashed(Exception):
    """The worker hosting a shard died or its link broke; calls in flight are lost."""


class ShardCallError(Exception):
    """A shard method raised (rule errors never do: the shard catches those itself)."""


class ShardExecutor(abc.ABC):
    """Hosts shards by id and runs calls on them, in submission order per shard, without blocking the loop."""

    @abc.abstractmethod
    async def start(self, shard: int, symbols: Sequence[str], catalog: Sequence[SensorSpec]) -> None:
        """Bring up an empty `SensorShard(symbols, catalog)` as shard `shard`."""

    @abc.abstractmethod
    def call(self, shard: int, method: str, *args: Any) -> asyncio.Future[ShardReply]:
        """Send one call; raises ShardCrashed at once when the shard is known to be down."""

    @abc.abstractmethod
    async def restart(self, shard: int) -> None:
        """Replace the shard's host with a fresh, empty shard (same symbols and catalog)."""

    @abc.abstractmethod
    def is_alive(self, shard: int) -> bool: ...

    def pid(self, shard: int) -> int | None:
        """The OS process hosting the shard, when there is one."""
        return None

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop every shard."""


class InlineExecutor(ShardExecutor):
    """Runs shards on the calling thread (tests, tiny setups); futures come back already resolved."""

    def __init__(self) -> None:
        self._shards: dict[int, SensorShard] = {}
        self._specs: dict[int, tuple[tuple[str, ...], tuple[SensorSpec, ...]]] = {}

    async def start(self, shard: int, symbols: Sequence[str], catalog: Sequence[SensorSpec]) -> None:
        self._specs[shard] = (tuple(symbols), tuple(catalog))
        self._shards[shard] = SensorShard(*self._specs[shard])

    def call(self, shard: int, method: str, *args: Any) -> asyncio.Future[ShardReply]:
        target = self._shards.get(shard)
        if target is None:
            raise ShardCrashed(f"shard {shard} is not running")
        future: asyncio.Future[ShardReply] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(serve(target, method, args))
        except Exception as exc:
            future.set_exception(ShardCallError(f"shard {shard} {method}: {type(exc).__name__}: {exc}"))
        return future

    async def restart(self, shard: int) -> None:
        self._shards[shard] = SensorShard(*self._specs[shard])

    def is_alive(self, shard: int) -> bool:
        return shard in self._shards

    async def close(self) -> None:
        self._shards.clear()


def _header(payload: bytes) -> bytes:
    # multiprocessing.Connection's framing, so the worker can use plain recv_bytes/send_bytes.
    if len(payload) > 0x7FFFFFFF:
        return _SMALL.pack(-1) + _LARGE.pack(len(payload))
    return _SMALL.pack(len(payload))


class _Link(asyncio.Protocol):
    """The parent's end of one worker's socket: one framed pickled request per call out, frames of one or
    more answers back, matched FIFO to the calls' futures."""

    def __init__(self, shard: int) -> None:
        self.shard = shard
        self.transport: asyncio.Transport | None = None
        self.is_closed = False
        self.frames_received = 0
        self._buffer = bytearray()
        self._pending: deque[asyncio.Future[ShardReply]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, method: str, args: tuple[Any, ...]) -> asyncio.Future[ShardReply]:
        if self.is_closed or self.transport is None or self.transport.is_closing():
            raise ShardCrashed(f"shard {self.shard}: worker link is closed")
        payload = pickle.dumps((method, args), protocol=pickle.HIGHEST_PROTOCOL)
        future: asyncio.Future[ShardReply] = asyncio.get_running_loop().create_future()
        self._pending.append(future)
        self.transport.writelines((_header(payload), payload))  # buffered by the transport: never blocks
        return future

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while len(buf) >= 4:
            (size,) = _SMALL.unpack_from(buf)
            start = 4
            if size == -1:
                if len(buf) < 12:
                    return
                (size,) = _LARGE.unpack_from(buf, 4)
                start = 12
            if len(buf) < start + size:
                return
            answers = io.BytesIO(bytes(buf[start : start + size]))  # one pickle per answer, back to back
            del buf[: start + size]
            self.frames_received += 1
            while answers.tell() < size:
                ok, value = pickle.load(answers)
                future = self._pending.popleft()
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(ShardCallError(f"shard {self.shard}: {value}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_closed = True
        reason = f"shard {self.shard}: worker gone" + (f" ({exc})" if exc else "")
        while self._pending:
            future = self._pending.popleft()
            if not future.done():
                future.set_exception(ShardCrashed(reason))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Worker:
    __slots__ = ("process", "link")

    def __init__(self, process: Any, link: _Link) -> None:
        self.process = process
        self.link = link


def _worker_main(conn: Any, symbols: tuple[str, ...], catalog: tuple[SensorSpec, ...]) -> None:
    """A shard's process: answer framed (method, args) requests until the parent closes the socket; small
    answers to calls that queued up while it computed go back together in one frame."""
    # The parent owns shutdown: Ctrl+C in a terminal reaches the whole process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    shard = SensorShard(symbols, catalog)
    gc.freeze()  # what the fork inherited is permanent: keep full collections off the per-close path
    queued = select.poll()
    queued.register(conn.fileno(), select.POLLIN)
    frame = bytearray()
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            return
        method, args = pickle.loads(request)
        try:
            answer: tuple[bool, Any] = (True, serve(shard, method, args))
        except Exception as exc:
            answer = (False, f"{method}: {type(exc).__name__}: {exc}")
        frame += pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        # A burst's calls (one per timeframe) are queued by the time the first is done: small answers go back
        # together, one wake-up of the loop; a large one goes at once, so the loop reads it while the next
        # call computes.
        if len(frame) < _HOLD_BYTES and queued.poll(0):
            continue
        try:
            conn.send_bytes(frame)
        except OSError:
            return
        frame = bytearray()


class ProcessShardExecutor(ShardExecutor):
    """One worker process per shard, talking over a socket pair the event loop reads directly (no helper
    threads on the hot path). Workers start with "forkserver" (or "spawn"), never fork: the parent runs an
    asyncio loop and threads."""

    def __init__(self, start_method: str | None = None) -> None:
        if start_method is None:
            start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
        if start_method == "fork":
            raise ValueError(
                "the fork start method is unsafe with a running event loop; use forkserver or spawn"
            )
        self._ctx: ForkServerContext | SpawnContext
        if start_method == "forkserver":
            self._ctx = mp.get_context("forkserver")
            # Import numpy and the indicators once in the server, so a (re)started worker is a cheap fork.
            self._ctx.set_forkserver_preload([__name__])
        elif start_method == "spawn":
            self._ctx = mp.get_context("spawn")
        else:
            raise ValueError(f"unknown start method {start_method!r}; use forkserver or spawn")
        self._workers: dict[int, _Worker] = {}
        self._specs: dict[int, tuple[tuple[str, ...], tuple[SensorSpec, ...]]] = {}

    async def start(self, shard: int, symbols: Sequence[str], catalog: Sequence[SensorSpec]) -> None:
        self._specs[shard] = (tuple(symbols), tuple(catalog))
        loop = asyncio.get_running_loop()
        parent, child_sock = socket.socketpair()
        child = mp.connection.Connection(child_sock.detach())
        process = self._ctx.Process(
            target=_worker_main,
            args=(child, tuple(symbols), tuple(catalog)),
            name=f"casino-sensor-shard-{shard}",
            daemon=True,
        )
        try:
            # Process.start talks to the fork server (and may launch it): off the loop.
            await loop.run_in_executor(None, process.start)
        finally:
            child.close()
        link = _Link(shard)
        await loop.create_unix_connection(lambda: link, sock=parent)
        self._workers[shard] = _Worker(process, link)

    def call(self, shard: int, method: str, *args: Any) -> asyncio.Future[ShardReply]:
        worker = self._workers.get(shard)
        if worker is None:
            raise ShardCrashed(f"shard {shard} is not running")
        return worker.link.send(method, args)

    async def restart(self, shard: int) -> None:
        worker = self._workers.pop(shard, None)
        if worker is not None:
            await self._stop(worker, kill=True)
        await self.start(shard, *self._specs[shard])

    def is_alive(self, shard: int) -> bool:
        worker = self._workers.get(shard)
        return worker is not None and not worker.link.is_closed

    def pid(self, shard: int) -> int | None:
        worker = self._workers.get(shard)
        return None if worker is None else worker.process.pid

    def frames_received(self, shard: int) -> int:
        """Answer frames read from the shard's current worker: calls queued while it was busy share one."""
        worker = self._workers.get(shard)
        return 0 if worker is None else worker.link.frames_received

    async def close(self) -> None:
        workers = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(self._stop(w, kill=False) for w in workers))

    async def _stop(self, worker: _Worker, kill: bool) -> None:
        # Closing the socket makes the worker's recv hit EOF and return; kill only a stuck or doomed one.
        worker.link.close()
        process = worker.process
        if kill and process.is_alive():
            process.kill()
        await asyncio.get_running_loop().run_in_executor(None, process.join, _JOIN_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            await asyncio.get_running_loop().run_in_executor(None, process.join, _JOIN_TIMEOUT_S)
        if not process.is_alive():
            process.close()
