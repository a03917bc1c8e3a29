"""The report table with its totals row pinned underneath (a second view sharing the columns)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QHeaderView,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.api.answers import ReportHeader
from desktop.concurrency.columnar import Decoded
from desktop.models.report import (
    ReportTableModel,
    ReportTotalsModel,
)
from desktop.models.row_filter import RowFilterProxy
from desktop.views.report_cells import ReportCells

FIT_ROWS = 50
MIN_COLUMN_WIDTH = 90
CELL_PADDING = 20  # the item's margins and focus frame (Fusion)
HEADER_PADDING = 28  # room for the sort arrow


def rows_view(model: ReportTableModel) -> QTableView:
    """A table of `model`'s rows, painted as the Reports view paints them (bench/report_scale.py
    measures one): fixed row heights (no per-row size hints, which keeps a million rows
    responsive), no row numbers, cells by ReportCells (desktop/views/report_cells.py)."""
    view = QTableView()
    view.setModel(model)  # the Reports view's proxy only while a filter is typed
    view.setItemDelegate(ReportCells(model, view))
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(26)
    return view


class _FooterView(QTableView):
    """The totals row; its right margin matches the table's vertical scroll bar."""

    def set_right_margin(self, width: int) -> None:
        self.setViewportMargins(0, 0, width, 0)


class ReportTable(QWidget):
    """Sortable rows above, totals below; widths, hidden columns and scrolling stay in step."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ReportTableModel(self)
        self.totals_model = ReportTotalsModel(self)
        self.proxy = RowFilterProxy(self.model, self)  # the filter box; sorting stays the model's
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)

        self.table = rows_view(self.model)
        self.table.setObjectName("reportTable")
        self.table.setAccessibleName("Report rows")
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.horizontalHeader().setHighlightSections(False)
        layout.addWidget(self.table, 1)

        self.footer = _FooterView()
        self.footer.setObjectName("totalsRow")
        self.footer.setAccessibleName("Report totals")
        self.footer.setModel(self.totals_model)
        self.footer.horizontalHeader().setVisible(False)
        self.footer.verticalHeader().setVisible(False)
        self.footer.verticalHeader().setDefaultSectionSize(28)
        self.footer.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.footer.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.footer.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        # The horizontal scroll bar sits under the totals, not between the rows and the totals.
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.footer.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.footer.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.footer)
        self._fit_footer()

        # Headers and corner buttons are controls too; screen readers need their names.
        for view, what in ((self.table, "report"), (self.footer, "totals")):
            view.horizontalHeader().setAccessibleName(f"Columns of the {what}; click to sort")
            view.verticalHeader().setAccessibleName(f"Rows of the {what}")
            for corner in view.findChildren(QAbstractButton):
                corner.setAccessibleName("Select all rows")
        header = self.table.horizontalHeader()
        # A double-click on a column edge fits it to the first rows only: measuring 1,000 rows
        # (Qt's default) of a 100,000-row report stalls the UI thread for half a second.
        header.setResizeContentsPrecision(FIT_ROWS)
        self.table.verticalHeader().setResizeContentsPrecision(FIT_ROWS)
        header.sectionResized.connect(self._on_header_section_resized)
        footer_bar = self.footer.horizontalScrollBar()
        footer_bar.valueChanged.connect(self.table.horizontalScrollBar().setValue)
        self.table.horizontalScrollBar().valueChanged.connect(footer_bar.setValue)
        footer_bar.rangeChanged.connect(self._fit_footer)
        self.table.verticalScrollBar().rangeChanged.connect(self._fit_footer)

    def set_report(self, report: Decoded | None) -> None:
        """Show `report` (everything but the rows, the rows as columns); None: nothing."""
        hidden = self.hidden_keys()
        old = self.model.header
        new = ReportHeader.from_api(report[0]) if report is not None else None
        same_columns = old is not None and new is not None and old.columns == new.columns
        self.model.set_decoded(report)
        self.totals_model.set_report(report[0] if report is not None else None)
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        if not same_columns:  # a reload keeps the widths, also those the user dragged
            self._fit_columns()
        self.set_hidden_keys(hidden)

    def set_filter(self, text: str) -> None:
        self.proxy.set_filter_text(text)
        wanted = self.proxy if self.proxy.needle else self.model
        if self.table.model() is wanted:
            return
        # A new model resets the header's sections: keep widths, hidden columns, sort arrow.
        header = self.table.horizontalHeader()
        widths = [self.table.columnWidth(c) for c in range(self.model.columnCount())]
        hidden = self.hidden_keys()
        section, order = header.sortIndicatorSection(), header.sortIndicatorOrder()
        self.table.setModel(wanted)
        for column, width in enumerate(widths):
            self.table.setColumnWidth(column, width)
        self.set_hidden_keys(hidden)
        header.blockSignals(True)  # the rows are sorted already; no second sort
        header.setSortIndicator(section, order)
        header.blockSignals(False)

    def shown_rows(self) -> int:
        return self.proxy.rowCount() if self.proxy.needle else self.model.rowCount()

    def source_rows(self) -> npt.NDArray[np.int64]:
        """The model rows the filter shows, in view order (all of them without a filter)."""
        if not self.proxy.needle:
            return np.arange(self.model.rowCount(), dtype=np.int64)
        return np.array(self.proxy.source_rows(), np.int64)

    def _fit_columns(self) -> None:
        """Widths for the header and the first 50 rows' text. Measured here with the font's
        metrics: resizeColumnToContents asks the delegate for every cell's size hint, ~40 ms
        of calls into Python for a 10-column report (bench/ui_stall.py)."""
        cells = self.table.fontMetrics()
        heads = self.table.horizontalHeader().fontMetrics()
        rows = min(self.model.rowCount(), FIT_ROWS)
        for column in range(self.model.columnCount()):
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal) or "")
            width = heads.horizontalAdvance(title) + HEADER_PADDING
            for row in range(rows):
                text = self.model.display_text(row, column)
                width = max(width, cells.horizontalAdvance(text) + CELL_PADDING)
            self.table.setColumnWidth(column, max(width, MIN_COLUMN_WIDTH))

    def hidden_keys(self) -> set[str]:
        return {
            self.model.column_key(c)
            for c in range(self.model.columnCount())
            if self.table.isColumnHidden(c)
        }

    def set_hidden_keys(self, keys: set[str]) -> None:
        for column in range(self.model.columnCount()):
            hide = self.model.column_key(column) in keys
            self.table.setColumnHidden(column, hide)
            self.footer.setColumnHidden(column, hide)
        self._sync_widths()

    def set_column_visible(self, key: str, visible: bool) -> None:
        column = self.model.column_of(key)
        if column >= 0:
            self.table.setColumnHidden(column, not visible)
            self.footer.setColumnHidden(column, not visible)

    def _on_header_section_resized(self, column: int, _old: int, new: int) -> None:
        self.footer.setColumnWidth(column, new)

    def _fit_footer(self, *_: object) -> None:
        bar = self.footer.horizontalScrollBar()
        vertical = self.table.verticalScrollBar()
        self.footer.set_right_margin(vertical.sizeHint().width() if vertical.maximum() > 0 else 0)
        extra = bar.sizeHint().height() if bar.maximum() > 0 else 0
        self.footer.setFixedHeight(30 + extra)

    def _sync_widths(self) -> None:
        for column in range(self.model.columnCount()):
            self.footer.setColumnWidth(column, self.table.columnWidth(column))
