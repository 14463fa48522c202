"""The console's edges: it reaches the engine only through RuntimeControl, and it stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from casino_tui.app import CasinoApp
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import wait_until

PROBE = """
import sys
import casino_tui.app
print("\\n".join(sorted(name for name in sys.modules if name.startswith("casino_tui.exchange"))))
"""


def test_the_console_loads_no_exchange_code_beyond_the_shared_types() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(result.stdout.split())
    # the console speaks the port's types (BreakerState) and loads no adapter
    assert loaded == set(), loaded


async def test_sigterm_requests_an_orderly_stop_and_exits_143() -> None:
    fake = FakeRuntime()
    app = CasinoApp(fake, live=True, refresh_hz=10.0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.last_snapshot is not None, "first timed refresh")
        if signal.SIGTERM not in app.installed_signals:
            pytest.skip("signal handlers need the main thread's event loop")
        os.kill(os.getpid(), signal.SIGTERM)
        await wait_until(pilot, lambda: fake.stop_requests == [None], "stop requested")
    assert app.return_code == 128 + signal.SIGTERM
    assert fake.stop_requests == [None]
