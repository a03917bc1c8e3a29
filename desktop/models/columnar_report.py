"""The report table over typed column arrays (desktop/concurrency/columnar.py): a million rows in
less memory than their JSON. A cell is formatted when a view asks for it (only the visible ones);
sorting is one numpy argsort over the column (text columns by the rank of their strings)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QModelIndex, Qt

from desktop.concurrency.columnar import ColumnarRows
from desktop.models.report import (
    _LEFT,
    _RIGHT,
    NUMERIC_TYPES,
    RawValueRole,
    _Index,
    _OneCallPerCell,
    format_cell,
)


class ColumnarReportModel(_OneCallPerCell):
    """Rows of one report held as columns; same roles as ReportTableModel."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.report: dict[str, Any] | None = None
        self._rows: ColumnarRows | None = None
        self._order: npt.NDArray[np.int64] | None = None  # view row -> source row

    def set_rows(self, report: dict[str, Any] | None, rows: ColumnarRows | None) -> None:
        """`report` without its rows (desktop.concurrency.columnar.decode's first half) and the
        columns."""
        self.beginResetModel()
        self.report, self._rows, self._order = report, rows, None
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._rows is None else self._rows.count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._rows is None else len(self._rows.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        rows = self._rows
        if rows is None or not index.isValid():
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < rows.count and 0 <= column < len(rows.columns)):
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if rows.columns[column].type in NUMERIC_TYPES else _LEFT
        if role not in (Qt.ItemDataRole.DisplayRole, RawValueRole):
            return None
        source = int(self._order[row]) if self._order is not None else row
        value = rows.cell(source, column)
        if role == RawValueRole:
            return value
        return format_cell(value, rows.columns[column].type)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        rows = self._rows
        if rows is None or orientation != Qt.Orientation.Horizontal:
            return None
        if not 0 <= section < len(rows.columns):
            return None
        column = rows.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            labels = {c["key"]: c.get("label") for c in (self.report or {}).get("columns", [])}
            return labels.get(column.key) or column.key
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.type in NUMERIC_TYPES else _LEFT
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        rows = self._rows
        if rows is None or not 0 <= column < len(rows.columns):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        old = [(self._source(i.row()), i.column()) for i in persistent]
        col = rows.columns[column]
        if col.kind == "text":
            # Rank of each distinct string (casefolded, as ReportTableModel sorts); null first.
            ranks = np.empty(len(rows.strings) + 1, np.int64)
            ranking = sorted(
                range(len(rows.strings)), key=lambda i: str(rows.strings[i]).casefold()
            )
            ranks[np.array(ranking, np.int64) + 1] = np.arange(1, len(ranking) + 1)
            ranks[0] = 0
            keys = ranks[col.data.astype(np.int64) + 1]
        else:
            # Nulls (int64 min) after every number ascending, as ReportTableModel.
            keys = np.where(col.data == np.iinfo(np.int64).min, np.iinfo(np.int64).max, col.data)
        ordering = np.argsort(keys, kind="stable")
        if order == Qt.SortOrder.DescendingOrder:
            ordering = np.argsort(-keys if col.kind == "text" else _desc(keys), kind="stable")
        self._order = ordering.astype(np.int64)
        if persistent:
            position = np.empty_like(self._order)
            position[self._order] = np.arange(len(self._order))
            self.changePersistentIndexList(
                persistent, [self.index(int(position[s]), c) for s, c in old]
            )
        self.layoutChanged.emit()

    def _source(self, row: int) -> int:
        return int(self._order[row]) if self._order is not None else row


def _desc(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Keys that sort descending by an ascending sort (no overflow at int64's ends)."""
    return np.iinfo(np.int64).max - keys
