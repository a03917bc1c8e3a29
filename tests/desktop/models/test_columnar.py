"""Reports as typed columns (desktop/concurrency/columnar.py) and their table model: the same cells
as the JSON, windows cut anywhere (multi-byte text, "],[" inside strings, rows longer than a
window), nulls, numbers that do not fit falling back to text, Qt's model contract, sorting."""

from __future__ import annotations

import gc
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from desktop.concurrency import columnar
from desktop.models.report import RawValueRole, ReportTableModel, format_cell
from tests.desktop.support import data

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
    assert "rows" not in head
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
    model = ReportTableModel()
    model.set_decoded(columnar.decode(_encoded(report)))
    qtmodeltester.check(model)
    model.sort(5, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)
    model.set_decoded(None)
    qtmodeltester.check(model)


def _reference_order(report: dict[str, Any], column: int, descending: bool) -> list[int]:
    """The order the list-of-rows model had (before the columns): Python's stable sort, text
    casefolded with null as "", numbers by value with null after every number ascending."""
    rows, kind = report["rows"], report["columns"][column].get("type", "")

    def key(i: int) -> Any:
        value = rows[i][column]
        if kind in {"integer", "money", "percent", "decimal"}:
            return float("inf") if value is None else float(value)
        return "" if value is None else str(value).casefold()

    return sorted(range(len(rows)), key=key, reverse=descending)


@pytest.mark.parametrize("column", range(len(data.report(1)["columns"])))
@pytest.mark.parametrize("order", [Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder])
def test_columnar_model_shows_and_sorts_as_python_sorts_the_rows(column, order) -> None:
    report = data.report(120)
    report["rows"][2][5] = None
    report["rows"][7][2] = None
    report["rows"][9][1] = "beta"  # text that differs only in case from another row's
    report["rows"][11][1] = "Beta"
    columns = report["columns"]
    model = ReportTableModel()
    model.set_decoded(columnar.decode(_encoded(report)))
    model.sort(column, order)
    expected = _reference_order(report, column, order == Qt.SortOrder.DescendingOrder)
    for r, source in enumerate(expected):
        for c in range(len(columns)):
            value = report["rows"][source][c]
            assert model.data(model.index(r, c), RawValueRole) == value
            shown = format_cell(value, columns[c].get("type", ""))
            assert model.data(model.index(r, c), DISPLAY) == shown
    for c in range(len(columns)):
        assert model.headerData(c, Qt.Orientation.Horizontal) is not None


@pytest.mark.parametrize("needle", ["cAmPaign 1", "—", "", "nothing like it", "act_"])
def test_the_filter_matches_what_the_cells_show_row_by_row(needle: str) -> None:
    report = data.report(90, campaigns=12)
    names = [c["key"] for c in report["columns"]]
    report["rows"][4][names.index("campaign_name")] = None  # shown as "—"
    model = ReportTableModel()
    model.set_decoded(columnar.decode(_encoded(report)))
    model.sort(names.index("spend"), Qt.SortOrder.DescendingOrder)
    keys = ("campaign_id", "campaign_name")
    found = model.matching_rows(keys, needle.casefold())
    rows, order = model.snapshot()
    assert rows is not None
    assert order is not None
    for view_row in range(model.rowCount()):
        shown = [model.display_text(view_row, model.column_of(k)).casefold() for k in keys]
        assert bool(found[int(order[view_row])]) == any(needle.casefold() in s for s in shown)


def test_the_report_loader_decodes_fetched_bytes_and_caches_them_as_sent(qtbot, tmp_path) -> None:
    from desktop.models.cache import Cache
    from desktop.models.report_loader import ReportLoader
    from desktop.models.report_query import ReportQuery

    report = data.report(30)
    body = _encoded(report)
    cache = Cache(tmp_path / "cache.sqlite3", "x")
    loader = ReportLoader(lambda *_: body, cache)
    query = ReportQuery(since=date(2026, 11, 1), until=date(2026, 11, 7))
    with qtbot.waitSignal(loader.fetched, timeout=10_000) as fetched:
        loader.load("c1", query)
    assert fetched.args == ["c1", query.key()]
    last = loader.last("c1")
    assert last is not None
    assert _cells(last[1][1]) == report["rows"]
    qtbot.waitUntil(lambda: not loader.saving, timeout=10_000)
    assert cache.load_report_bytes("c1", query.key()) == body  # the bytes, not a re-encoding
    found: list[Any] = []
    loader.load_cached("c1", "another query", lambda *got: found.append(got), or_newest=True)
    qtbot.waitUntil(lambda: bool(found), timeout=10_000)
    assert found[0][0] is None  # not that query's report: the newest one, shown as such
    assert _cells(found[0][1][1]) == report["rows"]
    cache.close()


def test_a_report_that_is_not_json_fails_in_words_and_keeps_the_last_one(qtbot) -> None:
    from desktop.api.errors import ApiError
    from desktop.models.report_loader import ReportLoader
    from desktop.models.report_query import ReportQuery

    answers = [_encoded(data.report(3)), b'{"columns":[],"rows":[[1,', b"[1, 2]"]
    loader = ReportLoader(lambda *_: answers.pop(0), None)
    with qtbot.waitSignal(loader.fetched, timeout=10_000):
        loader.load("c1", ReportQuery(since=date(2026, 11, 1), until=date(2026, 11, 7)))
    for _ in range(2):
        with qtbot.waitSignal(loader.fetch_failed, timeout=10_000) as failed:
            loader.load("c1", ReportQuery(since=date(2026, 11, 1), until=date(2026, 11, 7)))
        error = failed.args[0]
        assert isinstance(error, ApiError)
        assert error.code == "bad_response"
        assert "cannot read" in error.detail
    last = loader.last("c1")
    assert last is not None
    assert last[1][1].count == 3


ODD_MONEY = [
    *("1.5", "1.505", "+1.50", "1e3", "12", "-", ".50", "1.-5", "1..5", "x", "01.50"),
    *("-0.00", "-.50", "0.50", "-0.50", "00.00", "1|2.00", "", " 1.00", "1.00 "),
]
_decimal_texts = st.one_of(
    st.none(),
    st.decimals(
        min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False
    ).map(lambda d: f"{d:.2f}"),
    st.sampled_from(ODD_MONEY),
    st.integers(min_value=-5, max_value=5),  # a number, not a string
)


@given(st.lists(_decimal_texts, min_size=1, max_size=40), st.sampled_from([1, 3, 1000]))
@settings(max_examples=300, deadline=None)
def test_any_money_column_comes_back_exactly_as_sent(values, rows_per_window) -> None:
    """Whatever a money column holds, each cell comes back as the JSON had it: as whole units
    when every value has two decimals, else (the whole column) as text."""
    report = data.report(len(values))
    spend = [c["key"] for c in report["columns"]].index("spend")
    for row, value in zip(report["rows"], values, strict=True):
        row[spend] = value
    builder = columnar._Builder(report["columns"])
    for at in range(0, len(values), rows_per_window):
        builder.add(report["rows"][at : at + rows_per_window])
    rows = builder.finish()
    assert [rows.cell(r, spend) for r in range(rows.count)] == values
