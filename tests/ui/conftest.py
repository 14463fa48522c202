"""Console test setup: a fresh fake runtime per test and an app factory with no timers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from casino_tui.app import CasinoApp
from tests.ui.fake_runtime import FakeRuntime


@pytest.fixture
def fake() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def make_app(fake: FakeRuntime) -> Callable[..., CasinoApp]:
    """Build a CasinoApp over `fake` with live=False: the test decides when a snapshot is read."""

    def build(**kwargs: object) -> CasinoApp:
        return CasinoApp(fake, live=False, **kwargs)  # type: ignore[arg-type]

    return build
