"""How the report table paints its cells: Qt's own delegate and style, told less.

QStyledItemDelegate marks a cell with text as HasDisplay, and Qt's common style then lays the
text out five times to paint it: once for its size in each of the three sub-rectangles it
works out (check box, icon, text; viewItemSize), once to elide it and once to draw it. Without
HasDisplay the style lays out only the two that paint, at the same place (the text takes the
whole cell either way), so a page of the million-row table (~330 cells) paints in ~6.3 ms of
the UI thread instead of ~8 (bench/report_scale.py), to the same pixels. Sizes (a double-click
on a column's edge) are measured as Qt measures them, with HasDisplay.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSize, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from desktop.models.report import ReportTableModel

_Index = QModelIndex | QPersistentModelIndex
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_LINE_SEPARATOR = "\u2028"  # how QStyledItemDelegate::displayText shows a newline


class ReportCells(QStyledItemDelegate):
    """The delegate of a view showing `model` (directly, or through a proxy: then as Qt does)."""

    def __init__(self, model: ReportTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._measuring = False

    def initStyleOption(self, option: QStyleOptionViewItem, index: _Index) -> None:
        model = self._model
        if self._measuring or index.model() is not model:
            super().initStyleOption(option, index)
            return
        # What QStyledItemDelegate::initStyleOption sets for one of this model's cells (text
        # and alignment; no font, colour, check state, icon or background), but HasDisplay.
        text = model.display_text(index.row(), index.column())
        option.index = index  # type: ignore[assignment]
        option.text = text.replace("\n", _LINE_SEPARATOR) if "\n" in text else text
        option.displayAlignment = _RIGHT if model.is_numeric(index.column()) else _LEFT
        option.styleObject = None  # type: ignore[assignment]

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        self._measuring = True
        try:
            return super().sizeHint(option, index)
        finally:
            self._measuring = False
