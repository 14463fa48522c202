"""A DataTable that is diff-updated by stable row keys and shows as many columns as its width allows."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Literal, NamedTuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable

Justify = Literal["left", "right", "center"]
SegmentLines = list[list[Segment]]
# DataTable's own render caches are keyed by an update counter that every cell update bumps, so an entry is
# never read again once a cell changed: room for one frame is enough, and 10,000 would only hold memory.
FRAME_CACHE_SIZE = 256


class Column(NamedTuple):
    """One column: `drop_rank` 0 is always shown; when space runs out, the highest ranks go first.

    A `stretch` column takes `width` as its minimum and grows into whatever width the others leave.
    """

    key: str
    label: str
    width: int
    justify: Justify = "left"
    drop_rank: int = 0
    stretch: bool = False


class SyncStats(NamedTuple):
    """What the last `KeyedTable.sync` did: row keys added, updated (with cells changed) and removed."""

    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    cells_changed: int = 0
    removed: tuple[str, ...] = ()


class KeyedTable(DataTable[Text]):
    """Rows arrive as (key, markup cells for every column); only new rows, changed cells and stale rows
    touch the widget. A changed cell repaints its own line only, and of that line only the changed cells
    are rendered again: DataTable's `update_cell` would repaint, and re-render every cell of, the whole
    visible table (its render caches are keyed by a counter that every update bumps)."""

    _is_updating_cells = False  # while True, `update_cell`'s whole-table repaint is held back

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    """

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(
            id=id, cursor_type="row", zebra_stripes=False, show_row_labels=False, show_cursor=False
        )
        self.all_columns: tuple[Column, ...] = tuple(columns)
        self._shown: tuple[int, ...] = ()  # indexes into all_columns, in display order
        self._widths: tuple[int, ...] = ()  # the width given to each shown column
        self._cells: dict[str, tuple[str, ...]] = {}  # key -> markup for every column, in insertion order
        self._column_indexes = {column.key: index for index, column in enumerate(self.all_columns)}
        # (row key, shown column) -> what the cell was rendered from, and the lines it rendered to
        self._rendered: dict[tuple[str, int], tuple[Hashable, SegmentLines]] = {}
        # Rows that changed while out of view -> the cells the DataTable still holds for them; a row's
        # cells are written when it comes into view, so hundreds of rows cost what the visible ones do.
        self._behind: dict[str, tuple[str, ...]] = {}
        self._cell_render_cache = LRUCache(FRAME_CACHE_SIZE)
        self._row_render_cache = LRUCache(FRAME_CACHE_SIZE)
        self._row_renderable_cache = LRUCache(FRAME_CACHE_SIZE)
        self._line_cache = LRUCache(FRAME_CACHE_SIZE)
        self.last_sync = SyncStats()
        self._fit(0)  # every column until the first resize says how much room there is

    @property
    def shown_columns(self) -> tuple[str, ...]:
        """Keys of the columns that fit the current width."""
        return tuple(self.all_columns[i].key for i in self._shown)

    @property
    def row_keys(self) -> tuple[str, ...]:
        """Keys of the rows shown, in display order."""
        return tuple(self._cells)

    def width_of(self, column_key: str) -> int:
        """The width a column is shown at (its minimum when hidden), for cells that fill their column."""
        for index, width in zip(self._shown, self._widths, strict=True):
            if self.all_columns[index].key == column_key:
                return width
        return next(column.width for column in self.all_columns if column.key == column_key)

    def markup(self, key: str) -> tuple[str, ...]:
        """The markup cells of one row, for every column (shown or not)."""
        return self._cells[key]

    def sync(self, rows: Iterable[tuple[str, Sequence[str]]]) -> SyncStats:
        """Bring the table to exactly `rows`, in their order: add new keys, update changed cells (those of rows
        out of view once they come into view), remove absent keys, and move rows when their order changed."""
        added: list[str] = []
        order: list[str] = []
        updated: list[str] = []
        changed = 0
        seen: set[str] = set()
        for key, cells in rows:
            cells = tuple(cells)
            seen.add(key)
            order.append(key)
            old = self._cells.get(key)
            if old is None:
                self._cells[key] = cells
                self.add_row(*self._project(cells), key=key)
                added.append(key)
            elif old != cells:
                self._cells[key] = cells
                row_changes = sum(1 for index in self._shown if old[index] != cells[index])
                if row_changes:
                    updated.append(key)
                    changed += row_changes
                    if self._is_in_view(self.get_row_index(key)):
                        self._write_row(key, self._behind.pop(key, old), cells, repaint=True)
                    else:  # written when it comes into view (a scroll or a resize repaints the table)
                        self._behind.setdefault(key, old)
        removed = [key for key in self._cells if key not in seen]
        for key in removed:
            del self._cells[key]
            self._behind.pop(key, None)
            self.remove_row(key)
        if removed:
            self._rendered = {at: cell for at, cell in self._rendered.items() if at[0] in self._cells}
        if list(self._cells) != order:
            self._reorder(order)
        elif added or removed:  # rows below moved: some that were out of view may be in view now
            self._catch_up(repaint=True)
        self.last_sync = SyncStats(tuple(added), tuple(updated), changed, tuple(removed))
        return self.last_sync

    def _is_in_view(self, row_index: int) -> bool:
        """True if the row is within the table's visible lines (False before the table is laid out)."""
        top = round(self.scroll_y)
        lines = self.size.height - (self.header_height if self.show_header else 0)
        return top <= row_index < top + lines

    def _write_row(self, key: str, shown: tuple[str, ...], cells: tuple[str, ...], *, repaint: bool) -> None:
        """Put into the DataTable the cells of a row that differ from `shown` (what it holds now); with
        `repaint`, repaint that one line."""
        changes = 0
        self._is_updating_cells = True
        try:
            for index in self._shown:
                if shown[index] != cells[index]:
                    column = self.all_columns[index]
                    self.update_cell(key, column.key, self._cell_text(column, cells[index]))
                    changes += 1
        finally:
            self._is_updating_cells = False
        if changes and repaint:
            self._repaint_row(self.get_row_index(key))

    def _catch_up(self, *, repaint: bool) -> None:
        """Write the rows that changed while out of view and are in view now."""
        for key in [key for key in self._behind if self._is_in_view(self.get_row_index(key))]:
            self._write_row(key, self._behind.pop(key), self._cells[key], repaint=repaint)

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._behind:
            # A row comes into view with a scroll or a resize, which repaint the table: its cells are written
            # before this render, and its line marked for it in case the render is a partial one.
            self._catch_up(repaint=True)
        return super().render_lines(crop)

    def _repaint_row(self, row_index: int) -> None:
        """Repaint one (single-line) row if it is in view; the lines around it keep their rendered strips."""
        y = row_index + (self.header_height if self.show_header else 0)
        row = Region(0, y, max(self.size.width, self.virtual_size.width), 1)
        if self.window_region.overlaps(row):
            self.refresh(row.translate(-self.scroll_offset))

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> KeyedTable:
        if self._is_updating_cells and not (regions or layout or recompose):
            return self  # a cell update: `_write_row` repaints its line once the row's cells are in
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> SegmentLines:
        """DataTable's cell render, done again only when what it depends on changed: the cell's markup, its
        place, width and styles. (textual is pinned: this overrides a private method of 8.2.8.)"""
        if row_index < 0 or column_index < 0:  # the header: rendered on a full repaint only
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key, column_key = self.coordinate_to_cell_key(Coordinate(row_index, column_index))
        key = row_key.value or ""
        index = self._column_indexes[column_key.value or ""]
        depends_on = (
            self._behind.get(key, self._cells[key])[index],  # what the DataTable holds for the cell
            row_index,  # a cell's style carries its row and column, for mouse clicks
            base_style,
            width,
            cursor,
            hover,
            self.show_cursor,
            self._show_hover_cursor,
            self._pseudo_class_state,
        )
        rendered = self._rendered.get((key, index))
        if rendered is not None and rendered[0] == depends_on:
            return rendered[1]
        text = self.get_cell(row_key, column_key)
        lines = self._render_body_cell(text, row_index, column_index, base_style, width, cursor, hover)
        self._rendered[(key, index)] = (depends_on, lines)
        return lines

    def _render_body_cell(
        self,
        text: Text,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> SegmentLines:
        """The segments DataTable renders for a one-line body cell, without its Styled(Padding(...)) wrappers:
        the text in the width between the paddings, every segment under the row's base and component styles
        (a test holds this equal to DataTable's own render)."""
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        console = self.app.console
        pad = self.cell_padding
        options = self.app.console_options.update_dimensions(max(width - 2 * pad, 0), 1).update(no_wrap=True)
        blank = console.get_style("none")
        inner = console.render_lines(text, options, style=blank, pad=True)[0]
        padding = [Segment(" " * pad, blank)] if pad else []
        line = Segment.apply_style([*padding, *inner, *padding], style=pre_style, post_style=post_style)
        return [list(line)]

    def notify_style_update(self) -> None:
        self._rendered.clear()  # before DataTable's own, which repaints
        super().notify_style_update()

    def _reorder(self, order: list[str]) -> None:
        """Show the rows in `order`, moving them rather than building them again. DataTable's sort sees only
        cell values, so each row is known by its first cell: a Text object of its own."""
        cursor_key = self._cursor_key()
        self._cells = {key: self._cells[key] for key in order}
        place = {id(self.get_row(key)[0]): index for index, key in enumerate(order)}
        self.sort(key=lambda cells: place[id(cells[0])])
        if cursor_key is not None:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(self._available_width())

    def on_focus(self, event: events.Focus) -> None:
        self.show_cursor = True

    def on_blur(self, event: events.Blur) -> None:
        # An unfocused table shows no cursor: the cursor style would hide the cells' own colours.
        self.show_cursor = False

    def _available_width(self) -> int:
        # One cell is kept for the vertical scrollbar so that rows arriving later cannot change the fit.
        return max(self.size.width - 1, 0)

    def _fit(self, width: int) -> None:
        """Choose the columns that fit `width`, dropping the highest drop ranks first; rebuild on change.

        Runs on resize only, never on the refresh timer, so the rebuild's cost does not recur.
        """
        if width <= 0 and self._shown:
            return  # not laid out (yet): keep what is shown
        pad = 2 * self.cell_padding
        indexes = list(range(len(self.all_columns)))
        for rank in sorted({c.drop_rank for c in self.all_columns if c.drop_rank}, reverse=True):
            if width <= 0 or sum(self.all_columns[i].width + pad for i in indexes) <= width:
                break
            indexes = [i for i in indexes if self.all_columns[i].drop_rank != rank]
        shown = tuple(indexes)
        spare = max(width - sum(self.all_columns[i].width + pad for i in shown), 0)
        widths = []
        for index in shown:
            column = self.all_columns[index]
            widths.append(column.width + spare if column.stretch else column.width)
            if column.stretch:
                spare = 0
        if shown == self._shown and tuple(widths) == self._widths:
            return
        cursor_key = self._cursor_key()
        self._shown = shown
        self._widths = tuple(widths)
        self.clear(columns=True)
        self._rendered.clear()
        self._behind.clear()
        for index, column_width in zip(shown, widths, strict=True):
            column = self.all_columns[index]
            self.add_column(Text(column.label, justify=column.justify), width=column_width, key=column.key)
        for key, cells in self._cells.items():
            self.add_row(*self._project(cells), key=key)
        if cursor_key is not None and cursor_key in self._cells:
            self.move_cursor(row=self.get_row_index(cursor_key), animate=False)

    def _cursor_key(self) -> str | None:
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def _project(self, cells: tuple[str, ...]) -> list[Text]:
        return [self._cell_text(self.all_columns[i], cells[i]) for i in self._shown]

    @staticmethod
    def _cell_text(column: Column, markup: str) -> Text:
        # Not `_render` (Widget's, which Textual calls to paint) nor `_render_cell` (DataTable's).
        text = Text.from_markup(markup, justify=column.justify, overflow="ellipsis", end="")
        text.no_wrap = True
        return text
