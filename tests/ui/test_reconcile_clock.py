"""The reconcile screen names the clock its time is on, as the header does (one clock, named)."""

from casino_tui.control import ReconcileReport
from casino_tui.screens.reconcile import summary_markup

REPORT = ReconcileReport(
    ts_ms=1_796_239_444_000, items=(), positions=2, open_orders=0, open_conditional_orders=4, balance=9999.85
)


def test_on_the_sim_the_check_time_is_labelled_sim_not_utc():
    line = summary_markup(REPORT, "SIM 30×")
    assert line.endswith("SIM 30×") and "UTC" not in line


def test_on_the_wall_clock_it_says_utc():
    assert summary_markup(REPORT, "UTC").endswith(" UTC")
