"""The filter box over the report's rows: matches the entity and breakdown name columns."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
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
        # Per row of the report as sent (a sort does not change it), for (needle, those rows).
        self._shown: npt.NDArray[np.bool_] = np.zeros(0, np.bool_)
        self._shown_needle, self._shown_rows = "", object()
        self.setDynamicSortFilter(False)
        self.setSourceModel(source)

    @property
    def needle(self) -> str:
        return self._needle

    def set_filter_text(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle == self._needle:
            return
        self.beginFilterChange()  # Qt 6.10's replacement of invalidateFilter()
        self._needle = needle
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(
        self,
        source_row: int,
        source_parent: QModelIndex | QPersistentModelIndex,
    ) -> bool:
        if not self._needle:
            return True
        rows, order = self._source.snapshot()
        if self._shown_rows is not rows or self._shown_needle != self._needle:
            # Worked out once per text and report, for every row at once (numpy over codes).
            self._shown = self._source.matching_rows(NAME_KEYS, self._needle)
            self._shown_needle, self._shown_rows = self._needle, rows
        row = int(order[source_row]) if order is not None else source_row
        return bool(row < len(self._shown) and self._shown[row])

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._source.sort(column, order)

    def source_rows(self) -> list[int]:
        """The source rows shown, in view order."""
        return [self.mapToSource(self.index(r, 0)).row() for r in range(self.rowCount())]
