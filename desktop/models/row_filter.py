"""The filter box over the report's rows: matches the entity and breakdown name columns."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSortFilterProxyModel, Qt

from desktop.models.report import ReportTableModel

NAME_KEYS = (
    "account_id",
    "account_name",
    "campaign_id",
    "campaign_name",
    "adset_id",
    "adset_name",
    "ad_id",
    "ad_name",
    "age",
    "gender",
    "country",
    "platform",
    "device",
)
"""The columns a filter looks in: who (entity) and which slice (breakdown), not the figures."""


class RowFilterProxy(QSortFilterProxyModel):
    """Keeps the rows whose name columns contain the filter text (any case).

    Sorting stays the source model's own (it permutes an index list, fast for 100,000 rows):
    `sort` is handed down, and this proxy keeps the source's order. With no filter text the
    table shows the source itself (ReportTable.set_filter): asking Python whether to keep each
    of 100,000 rows costs ~100 ms per reset or sort on the UI thread."""

    def __init__(self, source: ReportTableModel, parent: Any = None) -> None:
        super().__init__(parent)
        self._source = source
        self._needle = ""
        self._columns: list[int] = []
        self.setDynamicSortFilter(False)
        self.setSourceModel(source)
        source.modelReset.connect(self._find_columns)

    @property
    def needle(self) -> str:
        return self._needle

    def set_filter_text(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle == self._needle:
            return
        self._find_columns()
        self.beginFilterChange()  # Qt 6.10's replacement of invalidateFilter()
        self._needle = needle
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _find_columns(self) -> None:
        self._columns = [c for c in (self._source.column_of(k) for k in NAME_KEYS) if c >= 0]

    def filterAcceptsRow(
        self,
        source_row: int,
        source_parent: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        if not self._needle:
            return True
        model = self._source
        return any(
            self._needle in model.display_text(source_row, column).casefold()
            for column in self._columns
        )

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._source.sort(column, order)

    def source_rows(self) -> list[int]:
        """The source rows shown, in view order."""
        return [self.mapToSource(self.index(r, 0)).row() for r in range(self.rowCount())]
