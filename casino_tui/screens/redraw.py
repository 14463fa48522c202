"""Redrawing for the price of what changed: a Static laid out again only when its text's shape changed, a
pane's border repainted only when its subtitle did."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static


def text_shape(markup: str) -> tuple[int, ...]:
    """The cell width of each line of `markup` as displayed: what a Static's size can depend on."""
    return tuple(cell_len(line) for line in Text.from_markup(markup).plain.split("\n"))


def update_static(widget: Static, markup: str, previous: str | None) -> None:
    """Show `markup` in `widget`; the screen is laid out again only if the text's shape differs from
    `previous` (a layout pass repaints the whole screen, and a ticking clock would ask for one a second)."""
    is_same_shape = previous is not None and text_shape(previous) == text_shape(markup)
    widget.update(markup, layout=not is_same_shape)


class Subtitle:
    """A pane's border subtitle, set only when its text changes: setting it repaints the whole pane."""

    def __init__(self, pane: Widget) -> None:
        self._pane = pane
        self._markup: str | None = None

    def show(self, markup: str) -> None:
        if markup != self._markup:
            self._markup = markup
            self._pane.border_subtitle = markup
