"""Redrawing a Static for the price of its text: a layout pass only when the text's shape changed."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static


def text_shape(markup: str) -> tuple[int, ...]:
    """The cell width of each line of `markup` as displayed: what a Static's size can depend on."""
    return tuple(cell_len(line) for line in Text.from_markup(markup).plain.split("\n"))


def update_static(widget: Static, markup: str, previous: str | None) -> None:
    """Show `markup` in `widget`; the screen is laid out again only if the text's shape differs from
    `previous` (a layout pass repaints the whole screen, and a ticking clock would ask for one a second)."""
    is_same_shape = previous is not None and text_shape(previous) == text_shape(markup)
    widget.update(markup, layout=not is_same_shape)
