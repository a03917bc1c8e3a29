"""The report table model: Qt contract, 100k rows, sorting, totals, decimals from strings."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt

from desktop.models.report import RawValueRole, ReportTableModel, ReportTotalsModel
from tests.desktop.support import data

DISPLAY = Qt.ItemDataRole.DisplayRole


def test_table_model_passes_the_qt_model_tester(qtmodeltester) -> None:
    model = ReportTableModel()
    model.set_report(data.report(40))
    qtmodeltester.check(model)
    model.sort(5, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)


def test_totals_model_passes_the_qt_model_tester(qtmodeltester) -> None:
    model = ReportTotalsModel()
    model.set_report(data.report(10))
    qtmodeltester.check(model)


def test_empty_model_has_no_rows_or_columns() -> None:
    model = ReportTableModel()
    assert (model.rowCount(), model.columnCount()) == (0, 0)
    totals = ReportTotalsModel()
    assert totals.rowCount() == 0


def test_money_and_percent_are_shown_from_their_strings_never_floats() -> None:
    report = data.report(1)
    # 0.1 + 0.2 style values: a float round trip would show 0.30000000000000004 or lose digits.
    report["rows"][0][5] = "1234567.30"
    report["rows"][0][7] = "2.80"
    model = ReportTableModel()
    model.set_report(report)
    assert model.index(0, 5).data(DISPLAY) == "1,234,567.30"
    assert model.index(0, 7).data(DISPLAY) == "2.80 %"
    assert model.index(0, 5).data(RawValueRole) == "1234567.30"
    assert model.index(0, 3).data(DISPLAY) == f"{report['rows'][0][3]:,}"


def test_null_ratio_shows_a_dash() -> None:
    report = data.report(1)
    report["rows"][0][8] = None
    model = ReportTableModel()
    model.set_report(report)
    assert model.index(0, 8).data(DISPLAY) == "—"


def test_money_header_names_the_currency() -> None:
    model = ReportTableModel()
    model.set_report(data.report(2))
    assert model.headerData(5, Qt.Orientation.Horizontal) == "Spend (EUR)"
    assert model.headerData(3, Qt.Orientation.Horizontal) == "Impressions"


def test_sorting_by_money_uses_decimal_order_not_text_order() -> None:
    report = data.report(3)
    for row, spend in zip(report["rows"], ["9.00", "100.00", "10.50"], strict=True):
        row[5] = spend
    model = ReportTableModel()
    model.set_report(report)
    model.sort(5, Qt.SortOrder.AscendingOrder)
    assert [model.index(r, 5).data(RawValueRole) for r in range(3)] == ["9.00", "10.50", "100.00"]
    model.sort(5, Qt.SortOrder.DescendingOrder)
    assert [model.index(r, 5).data(RawValueRole) for r in range(3)] == ["100.00", "10.50", "9.00"]


def test_missing_ratios_sort_after_numbers() -> None:
    report = data.report(3)
    for row, cpc in zip(report["rows"], [None, "0.50", "0.20"], strict=True):
        row[8] = cpc
    model = ReportTableModel()
    model.set_report(report)
    model.sort(8)
    assert [model.index(r, 8).data(RawValueRole) for r in range(3)] == ["0.20", "0.50", None]


def test_totals_row_matches_the_sums_of_the_rows() -> None:
    report = data.report(30)
    totals = ReportTotalsModel()
    totals.set_report(report)
    rows = report["rows"]
    assert totals.index(0, 0).data(DISPLAY) == "Total"
    assert totals.index(0, 3).data(RawValueRole) == sum(r[3] for r in rows)
    assert Decimal(totals.index(0, 5).data(RawValueRole)) == sum(Decimal(r[5]) for r in rows)
    assert totals.index(0, 1).data(DISPLAY) == ""  # campaign id has no total


def test_100k_rows_build_and_sort_by_decimal_value() -> None:
    # Speed is measured by bench/report_load.py; this pins that 100k rows load and sort right.
    report = data.report(100_000, campaigns=50)
    model = ReportTableModel()
    model.set_report(report)
    assert model.rowCount() == 100_000
    model.sort(5, Qt.SortOrder.DescendingOrder)
    model.sort(5, Qt.SortOrder.AscendingOrder)
    values = [Decimal(model.index(r, 5).data(RawValueRole)) for r in range(0, 100_000, 997)]
    assert values == sorted(values)
    model.sort(5, Qt.SortOrder.DescendingOrder)
    values = [Decimal(model.index(r, 5).data(RawValueRole)) for r in range(0, 100_000, 997)]
    assert values == sorted(values, reverse=True)


def test_project_keeps_view_order_and_chosen_columns() -> None:
    report = data.report(5)
    model = ReportTableModel()
    model.set_report(report)
    model.sort(3, Qt.SortOrder.DescendingOrder)
    rows, order = model.snapshot()
    assert rows is not None
    assert order is not None
    projected = rows.rows(order.tolist(), [0, 3])
    assert [r[1] for r in projected] == sorted((r[3] for r in report["rows"]), reverse=True)
