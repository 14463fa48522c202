"""Shards on Ray: one actor per shard, on a Ray started in-process (`address = "local"`) or on an existing
cluster, behind the same `ShardExecutor` interface as the process pool.

Ray is an optional extra and is imported only when a `RaySession` connects. A dead actor fails its calls
with `ShardCrashed` and the manager restarts and re-warms it as it does a pool worker; a cluster that cannot
be reached, or has no room for a shard, raises `RayUnavailable` (one line for the operator).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from casino_tui.sensors.catalog import SensorSpec
from casino_tui.sensors.executors import ShardCallError, ShardCrashed, ShardExecutor
from casino_tui.sensors.shard import SensorShard, ShardReply, serve

log = logging.getLogger("casino.sensors")

LOCAL = "local"
# Ray waits without end for a cluster that is gone or full (ray.init retries a dead address for minutes, an
# actor no node has room for stays pending): every blocking Ray step here is bounded by this.
TIMEOUT_S = 60.0
# Ray's driver exits the whole process once the cluster's GCS has been unreachable this long (60 s by
# default); the engine must outlive a lost cluster, so the driver waits as long as the process runs.
_GCS_RECONNECT_S = str(10 * 365 * 86400)
_T = TypeVar("_T")


class RayUnavailable(Exception):
    """Ray is not installed, its cluster cannot be reached, or no node takes a shard's actor."""


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


class ShardHost:
    """What lives in a shard's actor: one `SensorShard`, answering the same calls a pool worker does."""

    def __init__(self, symbols: tuple[str, ...], catalog: tuple[SensorSpec, ...]) -> None:
        self._shard = SensorShard(symbols, catalog)

    def where(self) -> tuple[int, str]:
        """The actor's process id and Ray node id (the pid means something only on that node)."""
        import ray

        return os.getpid(), ray.get_runtime_context().get_node_id()

    def serve(self, method: str, args: tuple[Any, ...]) -> ShardReply:
        return serve(self._shard, method, args)


class _IntoAppLog(logging.Handler):
    """Hands the "ray" logger's records to the app's sensors logger (and so to its handlers)."""

    def emit(self, record: logging.LogRecord) -> None:
        log.handle(record)


def _into_app_log(name: str) -> None:
    ray_log = logging.getLogger(name)
    for handler in list(ray_log.handlers):
        ray_log.removeHandler(handler)
    ray_log.addHandler(_IntoAppLog())
    ray_log.propagate = False


class _SessionThread:
    """The one thread that calls into Ray's blocking set-up and tear-down. Ray ties a local cluster's
    processes to the life of the thread that started them (PR_SET_PDEATHSIG), so this thread lives until
    shutdown; it is a daemon, so a connect that never returns cannot hold the process at exit."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="casino-ray-session", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the awaiting coroutine, raised there
                    future.set_exception(exc)

    async def run(self, fn: Callable[[], _T], timeout_s: float | None = None) -> _T:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._jobs.put((future, fn))
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)

    def stop(self) -> None:
        self._jobs.put(None)


class RaySession:
    """This process's connection to Ray: `connect` starts a local Ray or joins the cluster at `address`
    ("auto" or host:port); `shutdown` stops a local Ray or leaves the cluster. One per process (Ray is)."""

    def __init__(self, address: str = LOCAL, *, num_cpus: int | None = None, timeout_s: float = TIMEOUT_S):
        self.address = address
        self.num_cpus = num_cpus
        self.timeout_s = timeout_s
        self._thread: _SessionThread | None = None
        self._connected = False
        self.host: Any = None  # ShardHost as a Ray actor class, once connected

    @property
    def is_local(self) -> bool:
        return self.address == LOCAL

    async def connect(self) -> None:
        """Idempotent. Raises RayUnavailable, in one line, when Ray is missing or the cluster unreachable."""
        if self._connected:
            return
        if not ray_installed():
            raise RayUnavailable("sensors.executor = \"ray\" needs Ray: pip install 'casino-tui[ray]'")
        if not self.is_local and self.address != "auto":
            await _check_reachable(self.address)
        self._thread = self._thread or _SessionThread()
        try:
            # Concurrent connects queue on the one thread; the first initialises, the rest find it done.
            await self._thread.run(self._init, TIMEOUT_S)  # starting a local Ray alone can take 10 s
        except TimeoutError:
            raise RayUnavailable(
                f"sensors: no Ray cluster answered at {self.address} within {TIMEOUT_S:g} s"
            ) from None
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailable(f"sensors: cannot join the Ray cluster at {self.address}: {exc}") from None

    def _init(self) -> None:
        if self._connected:
            return
        # Read when Ray is imported or started (os.environ is also what the local Ray's processes inherit).
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no prompt, no report home
        # Ray's C++ handler would print a stack dump for every SIGTERM: the app's own shutdown handles it.
        os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
        os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", _GCS_RECONNECT_S)
        import ray

        if ray.is_initialized():
            raise RuntimeError("Ray is already initialised in this process")
        # Ray's notices join the app's log (file, or stdout headless) instead of writing over the console;
        # ray.init empties the "ray" logger's handlers, so its start-up notices are caught one level down.
        _into_app_log("ray._private")
        options: dict[str, Any] = {
            "log_to_driver": False,
            "configure_logging": False,
            "namespace": "casino-tui",
        }
        with _std_streams_with_descriptors():
            if self.is_local:
                options |= {"num_cpus": self.num_cpus or os.cpu_count() or 1, "include_dashboard": False}
                ray.init(**options)
            else:
                ray.init(address=self.address, **options)
        _into_app_log("ray")
        # One CPU per shard: a shard computes on one core, and the scheduler spreads them over the nodes.
        self.host = ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)(ShardHost)
        self._connected = True
        nodes = len([node for node in ray.nodes() if node.get("Alive")])  # type: ignore[no-untyped-call]
        cpus = ray.cluster_resources().get("CPU", 0)  # type: ignore[no-untyped-call]
        log.info("sensors: Ray %s, %d node(s), %g CPUs", self.address, nodes, cpus)

    async def run(self, fn: Callable[[], _T]) -> _T:
        """Run a blocking Ray call on the session's thread, off the event loop; TimeoutError after
        `timeout_s` (the thread may stay stuck behind a lost cluster, and later calls time out too)."""
        assert self._thread is not None, "connect first"
        return await self._thread.run(fn, self.timeout_s)

    async def shutdown(self) -> None:
        """Stop a local Ray (leave a cluster); gives up after `timeout_s` when Ray no longer answers."""
        if self._thread is None:
            return
        if self._connected:
            import ray

            agents = _raylet_children() if self.is_local else []
            try:
                await self._thread.run(ray.shutdown, self.timeout_s)
            except TimeoutError:
                log.error("sensors: Ray did not shut down within %g s; leaving it", self.timeout_s)
            self._connected = False
            _stop_leftovers(agents)
        self._thread.stop()
        self._thread = None


def _raylet_children() -> list[tuple[int, bytes]]:
    """The local raylet's child processes (its agents) with their command lines; ray.shutdown stops the
    raylet, but its DashboardAgent can outlive it, reparented to init, after the app has quit."""
    try:
        import ray

        node: Any = getattr(ray._private.worker, "_global_node", None)  # the local node Ray started here
        raylets = [proc.process.pid for proc in node.all_processes.get("raylet", ())]
    except (AttributeError, ImportError):
        return []
    found = []
    for raylet in raylets:
        try:
            pids = Path(f"/proc/{raylet}/task/{raylet}/children").read_text().split()
        except OSError:
            continue
        found += [(int(pid), _cmdline(int(pid))) for pid in pids]
    return [(pid, cmd) for pid, cmd in found if cmd]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _stop_leftovers(agents: list[tuple[int, bytes]]) -> None:
    """SIGTERM each agent still running the same command line (a reused pid is left alone)."""
    for pid, cmd in agents:
        if _cmdline(pid) == cmd:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
                log.info("sensors: stopped Ray's %s left behind (pid %d)", cmd.split(b"\0")[0].decode(), pid)


_devnull: Any = None


@contextlib.contextmanager
def _std_streams_with_descriptors() -> Iterator[None]:
    """While Ray starts, a sys.stdout/stderr without a real file descriptor points at os.devnull instead.

    The console's Textual app captures print() with writers whose fileno() is -1, and ray.init hands the
    driver's streams to faulthandler, which refuses them ("file.fileno() is not a valid file descriptor").
    Ray's own processes log to files, so nothing the operator needs is lost. The devnull file stays open:
    faulthandler keeps its descriptor, which must not be reused by another file."""
    global _devnull
    swapped: dict[str, Any] = {}
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            has_descriptor = stream is not None and stream.fileno() >= 0
        except (AttributeError, OSError, ValueError):
            has_descriptor = False
        if not has_descriptor:
            _devnull = _devnull or open(os.devnull, "w")  # noqa: SIM115 (open for the process's life)
            swapped[name] = stream
            setattr(sys, name, _devnull)
    try:
        yield
    finally:
        for name, stream in swapped.items():
            setattr(sys, name, stream)


async def _check_reachable(address: str) -> None:
    """A cluster's GCS must accept a TCP connection: ray.init would retry a dead address for minutes."""
    host, _, port = address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), 10.0)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise RayUnavailable(f"sensors: Ray cluster at {address} is unreachable ({reason})") from None
    writer.close()


class _Actor:
    __slots__ = ("handle", "pid", "node", "is_dead")

    def __init__(self, handle: Any, pid: int, node: str) -> None:
        self.handle = handle
        self.pid = pid
        self.node = node
        self.is_dead = False


class RayShardExecutor(ShardExecutor):
    """One Ray actor per shard. Calls go to the actor in submission order (Ray runs a synchronous actor's
    calls from one caller in that order) and resolve on the loop. `owns_session`: close shuts Ray down."""

    def __init__(self, session: RaySession, *, owns_session: bool = True) -> None:
        self.session = session
        self._owns_session = owns_session
        self._actors: dict[int, _Actor] = {}
        self._specs: dict[int, tuple[tuple[str, ...], tuple[SensorSpec, ...]]] = {}
        self._local_node = ""
        self._is_closing = False

    async def start(self, shard: int, symbols: Sequence[str], catalog: Sequence[SensorSpec]) -> None:
        await self.session.connect()
        self._specs[shard] = (tuple(symbols), tuple(catalog))
        session = self.session
        handle = await session.run(lambda: session.host.remote(*self._specs[shard]))
        import ray

        try:
            pid, node = await asyncio.wait_for(handle.where.remote(), session.timeout_s)
        except TimeoutError:
            await self._kill(handle)
            raise RayUnavailable(
                f"sensors: no Ray node took shard {shard} within {session.timeout_s:g} s "
                "(each shard needs 1 free CPU; is the cluster still there?)"
            ) from None
        except ray.exceptions.RayError as exc:
            raise RayUnavailable(f"sensors: shard {shard}'s Ray actor failed to start: {exc}") from None
        if not self._local_node:
            self._local_node = await session.run(lambda: ray.get_runtime_context().get_node_id())
        self._actors[shard] = _Actor(handle, pid, node)

    def call(self, shard: int, method: str, *args: Any) -> asyncio.Future[ShardReply]:
        actor = self._actors.get(shard)
        if actor is None or actor.is_dead:
            raise ShardCrashed(f"shard {shard} is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ShardReply] = loop.create_future()
        try:
            done = actor.handle.serve.remote(method, args).future()
        except Exception as exc:  # Ray itself is gone (shut down, cluster lost): so is the shard
            actor.is_dead = True
            raise ShardCrashed(f"shard {shard}: Ray refused the call ({type(exc).__name__})") from None

        def settle_on_loop(_: concurrent.futures.Future[ShardReply]) -> None:
            try:
                loop.call_soon_threadsafe(self._settle, shard, actor, future, done)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                pass

        done.add_done_callback(settle_on_loop)
        return future

    def _settle(
        self,
        shard: int,
        actor: _Actor,
        future: asyncio.Future[ShardReply],
        done: concurrent.futures.Future[ShardReply],
    ) -> None:
        if future.done():
            return
        exc = done.exception()
        if exc is not None and self._is_closing:
            # A call still in flight when close() killed its actor: nobody reads it any more, and an unread
            # ShardCrashed would be printed over the console at exit ("exception was never retrieved").
            future.cancel()
            return
        if exc is None:
            future.set_result(done.result())
            return
        import ray

        if isinstance(exc, ray.exceptions.RayTaskError):
            future.set_exception(ShardCallError(f"shard {shard}: {exc.cause!r}"))
            return
        # Anything else (actor or node died, object lost, cluster gone) means the host is lost.
        actor.is_dead = True
        future.set_exception(ShardCrashed(f"shard {shard}: Ray actor lost ({type(exc).__name__})"))

    async def restart(self, shard: int) -> None:
        actor = self._actors.pop(shard, None)
        if actor is not None:
            await self._kill(actor.handle)
        await self.start(shard, *self._specs[shard])

    def is_alive(self, shard: int) -> bool:
        actor = self._actors.get(shard)
        return actor is not None and not actor.is_dead

    def pid(self, shard: int) -> int | None:
        """The actor's process, when it runs on this machine."""
        actor = self._actors.get(shard)
        return actor.pid if actor is not None and actor.node == self._local_node else None

    async def close(self) -> None:
        self._is_closing = True
        actors = list(self._actors.values())
        self._actors.clear()
        for actor in actors:
            await self._kill(actor.handle)
        if self._owns_session:
            await self.session.shutdown()

    async def _kill(self, handle: Any) -> None:
        import ray

        try:
            await self.session.run(lambda: ray.kill(handle, no_restart=True))
        except Exception as exc:  # already gone, or the cluster with it: nothing left to stop
            log.debug("sensors: killing a Ray actor: %s", exc)
