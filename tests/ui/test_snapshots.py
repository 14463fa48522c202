"""Screenshots of the console over the fake runtime: live=False, one explicit refresh, fixed sizes."""

from __future__ import annotations

from textual.pilot import Pilot

from casino_tui.app import CasinoApp
from casino_tui.lifecycle import RuntimeStatus
from casino_tui.model import TradingMode
from casino_tui.port import BreakerStatus
from tests.ui.fake_runtime import FakeRuntime
from tests.ui.pilot_support import start


async def refreshed(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, CasinoApp)
    # snap_compare's run_before starts with the message loop, before the console is composed: start() waits
    await start(app, pilot)


def then_press(*keys: str):  # type: ignore[no-untyped-def]
    """A run_before that refreshes, presses `keys`, then waits for every worker (sweep, reconcile)."""

    async def run_before(pilot: Pilot[None]) -> None:
        await refreshed(pilot)
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


class TestConsole:
    def test_main_screen_80x24(self, snap_compare, make_app) -> None:
        """Five titled panes; streams beside consensus; breakers folded to one line; XRP bracket row red."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=refreshed)

    def test_main_screen_160x48(self, snap_compare, make_app) -> None:
        """Streams | consensus, brackets | breakers (reason listed under the table), logs across the bottom."""
        assert snap_compare(make_app(), terminal_size=(160, 48), run_before=refreshed)

    def test_live_paused_and_stale_80x24(self, snap_compare) -> None:
        """Red LIVE badge, yellow PAUSED status and the red STALE banner with its reason."""
        fake = FakeRuntime(mode=TradingMode.LIVE)
        fake.pause()
        fake.set_stale("no trade for 12s on 8 streams")
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=refreshed)

    def test_after_a_sweep_80x24(self, snap_compare) -> None:
        """The swept brackets are CLOSED(SWEEP) in the snapshot; the pane lists none and says 0 open."""
        fake = FakeRuntime()

        async def swept(pilot: Pilot[None]) -> None:
            await fake.sweep()
            await refreshed(pilot)

        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=swept)

    def test_recovering_80x24(self, snap_compare) -> None:
        """While the runtime settles with the exchange the header reads ◌ RECOVERING and the phase."""
        fake = FakeRuntime()
        fake.status = RuntimeStatus.RECOVERING
        fake.progress = "recovering"
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=refreshed)

    def test_compact_60x20(self, snap_compare, make_app) -> None:
        """Below 80x24: the header with Pos and Lag (no clock), Brackets filling the screen, q Quit in the footer."""
        assert snap_compare(make_app(), terminal_size=(60, 20), run_before=refreshed)

    def test_stale_with_a_long_reason_80x24(self, snap_compare) -> None:
        """The STALE banner wraps its reason onto a second line; the panes below give up the row."""
        fake = FakeRuntime()
        fake.set_stale(
            "market-data breaker OPEN after 5 failures: ConnectError to fstream, reconnecting every 8s"
        )
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=refreshed)

    def test_breaker_open_80x24(self, snap_compare) -> None:
        """✖ orders 5✗ on the folded Breakers line, its reason and retry time under it, and the OPEN toast."""
        fake = FakeRuntime()
        fake.set_breaker(
            "orders",
            BreakerStatus.OPEN,
            failures=5,
            reason="HTTP 503 on POST /fapi/v1/order",
            cooldown_s=27.0,
        )
        assert snap_compare(CasinoApp(fake, live=False), terminal_size=(80, 24), run_before=refreshed)


class TestModals:
    def test_help_80x24(self, snap_compare, make_app) -> None:
        """The console's keys first (p Pause / Resume, q ctrl+c ctrl+q Quit), long descriptions wrapped."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=then_press("question_mark"))

    def test_help_legend_80x24(self, snap_compare, make_app) -> None:
        """Scrolled to the end: the legend of the panes' short names, none cut."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=then_press("question_mark", "end"))

    def test_quit_question_80x24(self, snap_compare, make_app) -> None:
        """3 positions open: keep (k), sweep then quit (w) or cancel (esc), focus on Cancel."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=then_press("q"))

    def test_live_gate_80x24(self, snap_compare) -> None:
        """LIVE and UNCONFIRMED behind the red gate, which asks for the typed phrase LIVE."""
        fake = FakeRuntime(mode=TradingMode.LIVE)
        fake.status = RuntimeStatus.UNCONFIRMED
        app = CasinoApp(fake, live=False, confirm_live="LIVE")
        assert snap_compare(app, terminal_size=(80, 24), run_before=refreshed)

    def test_sweep_confirmation_120x40(self, snap_compare, make_app) -> None:
        """The sweep modal states the order and position counts; focus (highlight) is on No."""
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=then_press("s"))

    def test_reconcile_screen_120x40(self, snap_compare, make_app) -> None:
        """Three differences with their proposed actions, the exchange summary, and the a/r/esc footer."""
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=then_press("r"))

    def test_sensor_detail_120x40(self, snap_compare, make_app) -> None:
        """ETHUSDT's sensor votes, strongest contribution first, with the weighted score bar."""
        assert snap_compare(make_app(), terminal_size=(120, 40), run_before=then_press("down", "enter"))
