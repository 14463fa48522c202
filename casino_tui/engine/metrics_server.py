"""The `/metrics` endpoint: prometheus-client's ASGI app served by uvicorn on the runtime's own event loop.

On the loop, a scrape reads the runtime between two of its callbacks, never halfway through one (a server
thread would). The socket is bound before anything connects, so a port in use is a start-up error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Generator

import uvicorn
from prometheus_client import make_asgi_app

from casino_tui.config import MetricsConfig
from casino_tui.engine.executor import OrderExecutor
from casino_tui.engine.metrics import Metrics, Observed

log = logging.getLogger("casino.metrics")


class MetricsError(Exception):
    """The metrics endpoint cannot listen where the config says (one line for the operator)."""


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the process (headless runner, console) owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class MetricsServer:
    """Serves one runtime's metrics on `config.host:config.port` (port 0: a free one, see `port`)."""

    def __init__(self, config: MetricsConfig, source: Observed) -> None:
        self.config = config
        self.metrics = Metrics(source)
        self.port = config.port
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/metrics"

    async def start(self) -> None:
        """Bind, then serve in a task of the running loop. Raises MetricsError if the address is taken."""
        if self._task is not None:
            return
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        try:
            sock = socket.create_server((self.config.host, self.config.port), family=family)
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            raise MetricsError(
                f"metrics: cannot listen on {self.config.host}:{self.config.port}: {why}"
            ) from None
        self.port = sock.getsockname()[1]
        server = _Server(
            uvicorn.Config(
                make_asgi_app(self.metrics.registry),
                lifespan="off",
                log_config=None,
                log_level="error",
                access_log=False,
                timeout_graceful_shutdown=1,
            )
        )
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="metrics-server")
        self._task.add_done_callback(_report_end)
        log.info("metrics: serving %s", self.url)

    def watch(self, executor: OrderExecutor) -> None:
        """Time this executor's orders and cancels in the order execution histogram."""
        self.metrics.watch(executor)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("metrics endpoint stopped: %s", task.exception())
