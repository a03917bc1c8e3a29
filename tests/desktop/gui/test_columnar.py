"""Reports as typed columns (desktop/concurrency/columnar.py) and their table model: the same cells
as the JSON, windows cut anywhere (multi-byte text, "],[" inside strings, rows longer than a
window), nulls, numbers that do not fit falling back to text, Qt's model contract, sorting."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from PySide6.QtCore import Qt

from desktop.concurrency import columnar
from desktop.models.columnar_report import ColumnarReportModel
from desktop.models.report import RawValueRole, ReportTableModel
from tests.desktop.gui import data

DISPLAY = Qt.ItemDataRole.DisplayRole


def _encoded(report: dict[str, Any]) -> bytes:
    return json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()


def _cells(rows: columnar.ColumnarRows) -> list[list[Any]]:
    return [[rows.cell(r, c) for c in range(len(rows.columns))] for r in range(rows.count)]


@pytest.mark.parametrize("window", [16, 64, 1000, columnar.WINDOW])
def test_columns_hold_exactly_the_json_cells_whatever_the_window(monkeypatch, window) -> None:
    monkeypatch.setattr(columnar, "WINDOW", window)
    report = data.report(300)
    report["rows"][3][1] = 'Café ],[ "quoted" — ünïcode'  # a false row boundary, multi-byte
    report["rows"][4][5] = None  # null ratios
    report["rows"][5][3] = None
    report["rows"][7][1] = None
    head, rows = columnar.decode(_encoded(report))
    assert _cells(rows) == report["rows"]
    assert {k: v for k, v in head.items() if k != "rows"} == {
        k: v for k, v in report.items() if k != "rows"
    }
    assert head["rows"] == []
    assert [c.kind for c in rows.columns][3:] == ["int"] * (len(rows.columns) - 3)


def test_numbers_that_do_not_fit_fall_back_to_text_exactly(monkeypatch) -> None:
    monkeypatch.setattr(columnar, "WINDOW", 64)
    report = data.report(50)
    spend = report["columns"].index(next(c for c in report["columns"] if c["key"] == "spend"))
    report["rows"][40][spend] = "123456789012345678.25"  # past 2**53 cents
    report["rows"][45][spend] = "1.5"  # not the column's scale
    clicks = [c["key"] for c in report["columns"]].index("clicks")
    report["rows"][30][clicks] = "12"  # an integer column with a string
    _, rows = columnar.decode(_encoded(report))
    assert _cells(rows) == report["rows"]
    assert rows.columns[spend].kind == "text"
    assert rows.columns[clicks].kind == "text"


def test_a_report_without_rows_and_one_with_no_rows_key() -> None:
    report = data.report(0)
    head, rows = columnar.decode(_encoded(report))
    assert rows.count == 0
    assert head["columns"] == report["columns"]
    bare = {"columns": report["columns"]}
    head, rows = columnar.decode(_encoded(bare))
    assert rows.count == 0
    assert head == bare


def test_not_a_report_raises_value_error_and_the_collector_is_on_again() -> None:
    assert gc.isenabled()
    with pytest.raises(ValueError, match="Expecting"):
        columnar.decode(b'{"columns":[],"rows":[[1,2],')
    assert gc.isenabled()
    columnar.decode(_encoded(data.report(5)))
    assert gc.isenabled()


def test_the_collector_is_off_while_decoding_and_stays_off_if_it_was(monkeypatch) -> None:
    monkeypatch.setattr(columnar, "WINDOW", 64)
    steps = columnar.decode_steps(_encoded(data.report(20)))
    next(steps)
    assert not gc.isenabled()
    steps.close()
    assert gc.isenabled()
    gc.disable()
    try:
        columnar.decode(_encoded(data.report(5)))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_columnar_model_passes_the_qt_model_tester(qtmodeltester) -> None:
    report = data.report(60)
    model = ColumnarReportModel()
    model.set_rows(*columnar.decode(_encoded(report)))
    qtmodeltester.check(model)
    model.sort(5, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)
    model.set_rows(None, None)
    qtmodeltester.check(model)


@pytest.mark.parametrize("column", range(len(data.report(1)["columns"])))
@pytest.mark.parametrize("order", [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder])
def test_columnar_model_shows_and_sorts_as_the_list_model(column, order) -> None:
    report = data.report(120)
    report["rows"][2][5] = None
    columns = len(report["columns"])
    old, new = ReportTableModel(), ColumnarReportModel()
    old.set_report(report)
    new.set_rows(*columnar.decode(_encoded(report)))
    old.sort(column, order)
    new.sort(column, order)
    for r in range(old.rowCount()):
        for c in range(columns):
            a, b = old.index(r, c), new.index(r, c)
            assert new.data(b, DISPLAY) == old.data(a, DISPLAY)
            assert new.data(b, RawValueRole) == old.data(a, RawValueRole)
    for c in range(columns):
        assert new.headerData(c, Qt.Orientation.Horizontal) is not None
