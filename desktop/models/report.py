"""The report table and its pinned totals row, as Qt models.

Rows are typed column arrays (desktop/concurrency/columnar.py), sorting permutes an index array,
and money and percentages are shown from their exact decimal values, never through floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
)

from desktop.api.answers import ReportHeader
from desktop.concurrency import columnar
from desktop.concurrency.columnar import NULL, ColumnarRows, Decoded
from desktop.models.format import format_decimal, format_integer, parse_time

RawValueRole = Qt.ItemDataRole.UserRole + 1
NUMERIC_TYPES = frozenset({"integer", "money", "percent", "decimal", "number"})
DIMENSIONS = frozenset({"date", "campaign_id", "campaign_name"})

_Index = QModelIndex | QPersistentModelIndex
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
# QStyledItemDelegate::initStyleOption asks a painted cell for (font, alignment, foreground,
# check state, decoration, display, background) in one span.
_PAINTED_ROLES, _PAINTED_ALIGNMENT, _PAINTED_DISPLAY = 7, 1, 5


def format_cell(value: object, column_type: str) -> str:
    if column_type == "integer":
        return format_integer(value)
    if column_type == "percent":
        return format_decimal(value, " %")
    if column_type in NUMERIC_TYPES:
        return format_decimal(value)
    return "—" if value is None else str(value)


class _OneCallPerCell(QAbstractTableModel):
    """Answers all the roles a view asks of a cell in one call from C++ into Python.

    Qt's own multiData calls data() once per role (7 for each painted cell); every such call
    takes the GIL, and while a worker runs Python (a report being decoded, summed or cached)
    each one waits for the worker to let go. One call per cell makes a repaint of the table
    during that work ~7x less of a wait (bench/ui_stall.py)."""

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        wanted: Any = [roleDataSpan] if isinstance(roleDataSpan, QModelRoleData) else roleDataSpan
        for role_data in wanted:
            value = self.data(index, role_data.role())
            if value is not None:
                role_data.setData(value)


class ReportTableModel(_OneCallPerCell):
    """Rows of one report, held as typed columns (desktop/concurrency/columnar.py: a million
    rows in less memory than their JSON), sortable by any column. A cell is formatted only when
    a view asks for it; sorting is one numpy argsort (text columns by the rank of their strings,
    casefolded; nulls after every value ascending)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._columns: list[dict[str, str]] = []
        self._numeric: list[bool] = []
        self._formatters: list[Callable[[int], str]] = []  # per column: source row -> text
        self._rows: ColumnarRows | None = None
        self._order: npt.NDArray[np.int64] | None = None  # view row -> source row; None = as sent
        self.report: dict[str, Any] | None = None  # the report without its rows
        self.header: ReportHeader | None = None  # the same, typed

    # -- loading -------------------------------------------------------------------------
    def set_report(self, report: dict[str, Any] | None) -> None:
        """A report decoded already (rows as lists): kept as columns."""
        self.set_decoded(columnar.from_report(report) if report is not None else None)

    def set_decoded(self, decoded: Decoded | None) -> None:
        """A report as desktop.concurrency.columnar.decode gives it (None: no report)."""
        self.beginResetModel()
        head, rows = decoded if decoded is not None else (None, None)
        self.report, self._rows, self._order = head, rows, None
        self.header = ReportHeader.from_api(head) if head else None
        self._columns = list(head.get("columns", [])) if head else []
        self._numeric = [c.get("type") in NUMERIC_TYPES for c in self._columns]
        self._formatters = [_formatter(rows, i, c.get("type", "")) for i, c in
                            enumerate(self._columns)] if rows is not None else []  # fmt: skip
        self.endResetModel()

    def columns(self) -> list[dict[str, str]]:
        return list(self._columns)

    def column_key(self, column: int) -> str:
        return self._columns[column]["key"]

    def column_of(self, key: str) -> int:
        return next((i for i, c in enumerate(self._columns) if c["key"] == key), -1)

    @property
    def currency(self) -> str:
        return self.header.account.currency if self.header else ""

    @property
    def fetched_at(self) -> datetime | None:
        return parse_time((self.report or {}).get("fetched_at"))

    # -- Qt model API --------------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or self._rows is None else self._rows.count

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        rows = self._rows
        if rows is None or not index.isValid():
            return None
        row, column = index.row(), index.column()
        if not (0 <= row < rows.count and 0 <= column < len(self._columns)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display_text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if self._numeric[column] else _LEFT
        if role == RawValueRole:
            return rows.cell(self._source(row), column)
        return None

    def multiData(self, index: _Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """All the roles a painted cell is asked for, in one call and without a data() call
        per role: a 1,000,000-row table scrolls a page in ~6 ms instead of ~12.

        A painted cell's span is QStyledItemDelegate's seven roles, of which only the text and
        its alignment have an answer here: those two are set by position, without a Python
        object for each of the other five (~1.5 ms of a page's ~9 ms paint)."""
        rows = self._rows
        row, column = index.row(), index.column()
        if rows is None or not (0 <= row < rows.count and 0 <= column < len(self._columns)):
            return
        span: Any = roleDataSpan  # PySide's span is indexable; its stubs do not say so
        if not isinstance(roleDataSpan, QModelRoleData) and span.size() == _PAINTED_ROLES:
            display, alignment = span[_PAINTED_DISPLAY], span[_PAINTED_ALIGNMENT]
            if display.role() == _DISPLAY and alignment.role() == _ALIGNMENT:
                display.setData(self._formatters[column](self._source(row)))
                alignment.setData(_RIGHT if self._numeric[column] else _LEFT)
                return
        wanted: Any = [roleDataSpan] if isinstance(roleDataSpan, QModelRoleData) else roleDataSpan
        for role_data in wanted:
            role = role_data.role()
            if role == _DISPLAY:
                role_data.setData(self._formatters[column](self._source(row)))
            elif role == _ALIGNMENT:
                role_data.setData(_RIGHT if self._numeric[column] else _LEFT)
            elif role == RawValueRole:
                role_data.setData(rows.cell(self._source(row), column))

    def is_numeric(self, column: int) -> bool:
        """Is the column a number (shown right-aligned)?"""
        return self._numeric[column]

    def display_text(self, row: int, column: int) -> str:
        """What the cell at (view row, column) shows: format_cell of its JSON value, worked
        out from the column's integers directly (a paint asks for every visible cell)."""
        return self._formatters[column](self._source(row))

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            label = column.get("label") or column["key"]
            if column.get("type") == "money" and self.currency:
                return f"{label} ({self.currency})"
            return label
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.get("type") in NUMERIC_TYPES else _LEFT
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        rows = self._rows
        if rows is None or not 0 <= column < len(self._columns):
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        old = [(self._source(i.row()), i.column()) for i in persistent]
        keys = _sort_keys(rows, column)
        if order == Qt.SortOrder.DescendingOrder:
            keys = -keys  # descending by a stable ascending sort, as sorted(reverse=True) is
        self._order = np.argsort(keys, kind="stable").astype(np.int64)
        if persistent:
            position = np.empty_like(self._order)
            position[self._order] = np.arange(len(self._order))
            self.changePersistentIndexList(
                persistent, [self.index(int(position[s]), c) for s, c in old]
            )
        self.layoutChanged.emit()

    def _source(self, row: int) -> int:
        return int(self._order[row]) if self._order is not None else row

    def snapshot(self) -> tuple[ColumnarRows | None, npt.NDArray[np.int64] | None]:
        """The rows and the current order (view row -> row); safe to read from another thread:
        neither is changed afterwards (a sort or a new report makes new ones)."""
        return self._rows, self._order

    def matching_rows(self, keys: Iterable[str], needle: str) -> npt.NDArray[np.bool_]:
        """Per row as sent (not as sorted): does any of the `keys` columns show text containing
        `needle` (casefolded)? One pass over the distinct strings, then numpy over the codes."""
        rows = self._rows
        if rows is None:
            return np.zeros(0, np.bool_)
        found = np.zeros(rows.count, np.bool_)
        for key in keys:
            column = self.column_of(key)
            if column >= 0:
                found |= rows.text_matches(column, needle, empty=format_cell(None, ""))
        return found


def _formatter(rows: ColumnarRows, column: int, column_type: str) -> Callable[[int], str]:
    """The cells of one column as format_cell shows their JSON values."""
    col = rows.columns[column]
    item = col.data.item  # a Python int without a numpy scalar in between
    if col.kind == "text":
        strings = rows.strings

        def text(row: int) -> str:
            code = item(row)
            return format_cell(strings[code] if code >= 0 else None, column_type)

        return text
    if column_type == "integer":

        def integer(row: int) -> str:
            value = item(row)
            return "—" if value == NULL else f"{value:,}"

        return integer
    scale, unit = col.scale, 10**col.scale
    suffix = " %" if column_type == "percent" else ""

    def decimal(row: int) -> str:
        value = item(row)
        if value == NULL:
            return "—"
        whole, fraction = divmod(abs(value), unit)
        sign = "-" if value < 0 else ""
        return (
            f"{sign}{whole:,}.{fraction:0{scale}d}{suffix}" if scale else f"{sign}{whole:,}{suffix}"
        )

    return decimal


def _sort_keys(rows: ColumnarRows, column: int) -> npt.NDArray[np.int64]:
    """int64 keys whose ascending order is the column's: numbers by value with nulls last,
    text by the casefolded string with nulls first (as an empty string). None is below -2**62
    or above 2**62, so negating them cannot overflow."""
    col = rows.columns[column]
    last = np.iinfo(np.int64).max
    if col.kind != "text":
        keys: npt.NDArray[np.int64] = np.where(col.data == NULL, last, col.data)
        return keys
    folded = [str(text).casefold() for text in rows.strings]
    dense = {text: rank for rank, text in enumerate(sorted(set(folded)))}  # equal folds tie
    ranks = np.empty(len(rows.strings) + 1, np.int64)
    ranks[0] = -1  # null
    ranks[1:] = [dense[text] for text in folded]
    by_rank: npt.NDArray[np.int64] = ranks[col.data.astype(np.int64) + 1]
    return by_rank


class ReportTotalsModel(_OneCallPerCell):
    """The totals row, pinned below the table in its own view with the same columns."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._columns: list[dict[str, str]] = []
        self._totals: dict[str, Any] = {}

    def set_report(self, report: dict[str, Any] | None) -> None:
        self.beginResetModel()
        self._columns = list(report.get("columns", [])) if report else []
        self._totals = dict(report.get("totals") or {}) if report else {}
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or not self._columns else 1

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() != 0:
            return None
        if not 0 <= index.column() < len(self._columns):
            return None
        column = self._columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if index.column() == 0:
                return "Total"
            if column["key"] in self._totals:
                return format_cell(self._totals[column["key"]], column.get("type", ""))
            return ""
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column.get("type") in NUMERIC_TYPES else _LEFT
        if role == RawValueRole:
            return self._totals.get(column["key"])
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if role == Qt.ItemDataRole.DisplayRole and horizontal and 0 <= section < len(self._columns):
            return self._columns[section].get("label") or self._columns[section]["key"]
        return None
