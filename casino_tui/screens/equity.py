"""The equity curve drawn in the terminal (plotext's braille line), shared by the Trades screen and the end of
a replay."""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual_plotext import PlotextPlot

DAY_MS = 86_400_000
MARKER = "hd"  # half blocks: twice the rows of plain dots, and solid in any terminal font (braille is not)
# Plotext reads dates in its own notation (d/m/Y H:M:S); this is the same layout for time.strftime.
PLOT_DATE_FORM = "d/m/Y H:M:S"
STRFTIME_FORM = "%d/%m/%Y %H:%M:%S"
GREEN_RGB = (78, 191, 113)  # cells.GREEN and cells.RED, as plotext takes colours
RED_RGB = (229, 83, 75)
BASELINE_RGB = (127, 140, 153)  # cells.DIM


def tick_form(span_ms: int) -> str:
    """How the time axis labels its ticks: the time of day within a day, the date beyond a month."""
    if span_ms < DAY_MS:
        return "H:M"
    if span_ms < 30 * DAY_MS:
        return "d/m H:M"
    return "d/m/Y"


def steps(points: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
    """Realised equity holds its value until the next close: a corner before each change, so the line does
    not slope across the time between two closes as if money had moved then."""
    stepped: list[tuple[int, float]] = []
    for ms, equity in points:
        if stepped and stepped[-1][1] != equity and stepped[-1][0] != ms:
            stepped.append((ms, stepped[-1][1]))
        stepped.append((ms, equity))
    return stepped


class EquityPlot(PlotextPlot):
    """Equity against time (UTC on the runtime's clock), green when it ends above where it began, red below;
    a dim line marks the starting balance."""

    def show(self, points: Sequence[tuple[int, float]], baseline: float | None = None) -> None:
        """Draw `points` ((ms, equity), oldest first); fewer than two points draw nothing."""
        plt = self.plt
        plt.clear_data()
        if len(points) >= 2:
            points = steps(points)
            times = [time.strftime(STRFTIME_FORM, time.gmtime(ms / 1000)) for ms, _ in points]
            values = [equity for _, equity in points]
            plt.date_form(PLOT_DATE_FORM, tick_form(points[-1][0] - points[0][0]))
            if baseline:
                plt.hline(baseline, BASELINE_RGB)
            colour = GREEN_RGB if values[-1] >= values[0] else RED_RGB
            plt.plot(times, values, marker=MARKER, color=colour)
        self.refresh()
