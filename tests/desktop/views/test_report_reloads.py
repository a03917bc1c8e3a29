"""The Reports view's memory and layout across reloads: the model answers each painted cell in one
call into Python, a replaced report is freed at once without touching anything still in use,
and a reload keeps the column widths the user chose."""

from __future__ import annotations

import weakref
from typing import Any

from PySide6.QtCore import QModelRoleData, Qt
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from desktop.concurrency import columnar
from desktop.models.connections import ConnectionsModel
from desktop.models.report import RawValueRole, ReportTableModel
from desktop.views.reports import ReportsView
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi


def test_multi_data_answers_like_data() -> None:
    model = ReportTableModel()
    model.set_report(data.report(3, campaigns=1))
    for column in range(model.columnCount()):
        index = model.index(1, column)
        for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.TextAlignmentRole, RawValueRole):
            asked = QModelRoleData(int(role))
            model.multiData(index, asked)
            assert asked.data() == model.data(index, int(role))
        nothing = QModelRoleData(int(Qt.ItemDataRole.DecorationRole))
        model.multiData(index, nothing)
        assert nothing.data() is None


def test_a_painted_cell_gets_the_text_and_alignment_data_gives(qtbot) -> None:
    """The delegate asks a painted cell for its seven roles in one span; the model answers the
    text and the alignment by their place in it, sorted or not, and leaves the rest unset."""
    model = ReportTableModel()
    model.set_report(data.report(6, campaigns=2))
    delegate = QStyledItemDelegate()
    for sort in (None, 3):
        if sort is not None:
            model.sort(sort, Qt.SortOrder.DescendingOrder)
        for row in range(model.rowCount()):
            for column in range(model.columnCount()):
                index = model.index(row, column)
                option = QStyleOptionViewItem()
                delegate.initStyleOption(option, index)
                assert option.text == model.data(index, Qt.ItemDataRole.DisplayRole)
                alignment = model.data(index, Qt.ItemDataRole.TextAlignmentRole)
                assert int(option.displayAlignment.value) == alignment
                assert option.backgroundBrush.style() == Qt.BrushStyle.NoBrush
                assert option.checkState == Qt.CheckState.Unchecked
                assert option.icon.isNull()


def _view(qtbot, api: FakeApi) -> ReportsView:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a"), data.parsed("b")])

    def fetch(cid: str, query: Any, cancel: Any) -> Any:
        return api.report_bytes(
            cid, account=query.account, since=query.since, until=query.until, level=query.level
        )

    view = ReportsView(model, fetch, None)
    qtbot.addWidget(view)
    view.show()
    return view


def _load(qtbot, view: ReportsView) -> dict[str, Any]:
    with qtbot.waitSignal(view.report_loaded, timeout=5000):
        view.load_button.click()
    qtbot.waitUntil(lambda: view.settled, timeout=5000)
    report = view.table.model.report
    assert report is not None
    return report


def test_a_replaced_report_is_freed_and_nothing_in_use_is_touched(qtbot) -> None:
    api = FakeApi()
    view = _view(qtbot, api)
    view.connection_box.setCurrentIndex(view.connection_box.findData("a"))
    first_a = _load(qtbot, view)
    first_rows = weakref.ref(_rows(view))
    view.connection_box.setCurrentIndex(view.connection_box.findData("b"))
    _load(qtbot, view)
    only_b = _rows(view)
    view.connection_box.setCurrentIndex(view.connection_box.findData("a"))
    qtbot.waitUntil(lambda: view.table.model.report is first_a, timeout=5000)
    rows_shown = view.table.model.rowCount()
    api.report_rows = 20
    second_a = _load(qtbot, view)
    assert second_a is not first_a
    # The replaced columns go at once: no cycle holds them (the collector is not needed).
    qtbot.waitUntil(lambda: first_rows() is None, timeout=5000)
    assert rows_shown == 14
    assert view.table.model.rowCount() == 20  # the new one, intact
    assert only_b.count == 14  # another connection's report is left alone
    assert view.loader.last("b") is not None


def _rows(view: ReportsView) -> columnar.ColumnarRows:
    rows, _order = view.table.model.snapshot()
    assert rows is not None
    return rows


def test_a_reload_keeps_the_column_widths_the_user_chose(qtbot) -> None:
    view = _view(qtbot, FakeApi())
    _load(qtbot, view)
    table = view.table.table
    spend = view.table.model.column_of("spend")
    fitted = table.columnWidth(spend)
    assert fitted >= table.fontMetrics().horizontalAdvance(view.table.model.display_text(0, spend))
    table.setColumnWidth(spend, fitted + 57)
    _load(qtbot, view)
    assert table.columnWidth(spend) == fitted + 57
    # Other columns (another level) are fitted anew.
    view.level_box.setCurrentIndex(view.level_box.findData("campaign"))
    _load(qtbot, view)
    assert table.columnWidth(view.table.model.column_of("spend")) != fitted + 57
