"""The report table's cell delegate (desktop/views/report_cells.py) paints what Qt's own
QStyledItemDelegate paints, pixel for pixel, and measures the same sizes, while laying each
cell's text out fewer times."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStyledItemDelegate, QTableView

from desktop.views.report_cells import ReportCells
from desktop.views.report_table import ReportTable
from tests.desktop.support import data


def _report() -> dict[str, Any]:
    report = data.report(40, campaigns=3)
    # A name wider than its column (elided), one on two lines, and a missing one (a dash).
    report["rows"][1][2] = "A campaign whose name is far wider than any column it could be in"
    report["rows"][2][2] = "Two\nlines"
    report["rows"][3][2] = None
    report["rows"][4][6] = None  # a missing number
    return report


def _table(qtbot) -> ReportTable:
    table = ReportTable()
    qtbot.addWidget(table)
    table.resize(900, 500)
    table.show()
    table.set_report(_decoded(_report()))
    table.table.setColumnWidth(2, 120)
    return table


def _decoded(report: dict[str, Any]) -> Any:
    from desktop.concurrency import columnar

    return columnar.from_report(report)


def _both(qtbot, view: QTableView) -> tuple[QImage, QImage]:
    """The viewport as painted with the view's delegate, then with Qt's own."""
    ours = view.itemDelegate()
    assert isinstance(ours, ReportCells)
    qtbot.wait(1)
    mine = view.viewport().grab().toImage()
    plain = QStyledItemDelegate(view)
    view.setItemDelegate(plain)
    qt = view.viewport().grab().toImage()
    view.setItemDelegate(ours)
    return mine, qt


def test_cells_paint_as_qt_paints_them(qtbot) -> None:
    table = _table(qtbot)
    view = table.table
    view.selectRow(5)
    view.setCurrentIndex(table.model.index(6, 3))
    view.setFocus()
    mine, qt = _both(qtbot, view)
    assert not mine.isNull()
    assert mine == qt


def test_cells_paint_as_qt_paints_them_sorted_and_scrolled(qtbot) -> None:
    table = _table(qtbot)
    view = table.table
    view.sortByColumn(4, Qt.SortOrder.DescendingOrder)
    view.verticalScrollBar().setValue(7)
    mine, qt = _both(qtbot, view)
    assert mine == qt


def test_cells_paint_as_qt_paints_them_through_the_filter(qtbot) -> None:
    table = _table(qtbot)
    table.set_filter("campaign 1")
    assert table.table.model() is table.proxy
    mine, qt = _both(qtbot, table.table)
    assert mine == qt


def test_cells_are_measured_as_qt_measures_them(qtbot) -> None:
    table = _table(qtbot)
    view = table.table
    ours = view.itemDelegate()
    widths = [view.sizeHintForColumn(c) for c in range(table.model.columnCount())]
    view.setItemDelegate(QStyledItemDelegate(view))
    assert widths == [view.sizeHintForColumn(c) for c in range(table.model.columnCount())]
    view.setItemDelegate(ours)
    assert max(widths) > 300  # the long name was measured, not only a line's height


def test_a_cell_of_another_model_is_left_to_qt(qtbot) -> None:
    table = _table(qtbot)
    cells = table.table.itemDelegate()
    assert isinstance(cells, ReportCells)
    other = ReportTable()
    qtbot.addWidget(other)
    other.set_report(_decoded(data.report(3, campaigns=1)))
    from PySide6.QtWidgets import QStyleOptionViewItem

    option = QStyleOptionViewItem()
    index = other.model.index(0, 2)
    cells.initStyleOption(option, index)
    assert option.text == other.model.data(index)
    assert option.features & QStyleOptionViewItem.ViewItemFeature.HasDisplay
