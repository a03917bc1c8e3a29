"""The Reports window's model-side parts: change words, axis labels, top-N series, the query."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from PySide6.QtCore import QLocale

from desktop.concurrency import columnar
from desktop.models.chart_top import (
    NEEDS,
    OTHER,
    axis_label,
    nice_ticks,
    series_of_rows,
    top_series,
)
from desktop.models.report_query import ReportQuery
from desktop.models.report_summary import change_text, currency_totals
from tests.desktop.support import data


def test_a_change_reads_without_colour() -> None:
    assert change_text("0.1234") == ("▲ +12.3 %", 1)
    assert change_text("-0.04") == ("▼ −4.0 %", -1)  # a real minus sign
    assert change_text("0") == ("■ 0.0 %", 0)
    assert change_text(None) == ("– no base", 0)


def test_axis_labels_use_the_locale_and_the_currency() -> None:
    us = QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)
    de = QLocale(QLocale.Language.German, QLocale.Country.Germany)
    assert axis_label(1250000, "spend", "USD", us) == "$1,250,000"
    german = axis_label(1250000, "spend", "EUR", de)
    assert german.startswith("1.250.000")
    assert german.endswith("€")
    assert axis_label(12500, "impressions", "EUR", us) == "12,500"
    assert axis_label(2.5, "ctr", "EUR", us) == "2.50 %"
    assert nice_ticks(1234567)[-1] == 1250000


def _report(rows: list[list[object]]) -> dict[str, object]:
    columns = ["date", "campaign_name", "impressions", "clicks", "spend"]
    return {"columns": [{"key": k} for k in columns], "rows": rows}


def test_top_series_by_spend_then_other_with_ratios_from_sums() -> None:
    day = "2026-11-01"
    rows = [[day, f"C{i}", 100, i, str(Decimal(i * 10))] for i in range(1, 8)]
    series = series_of_rows(_report(rows), "spend", top_n=5)
    assert [name for name, _ in series] == ["C7", "C6", "C5", "C4", "C3", OTHER]
    assert series[-1][1] == [(date(2026, 11, 1), Decimal(30))]  # C1 + C2
    ctr = dict(series_of_rows(_report(rows), "ctr", top_n=5))
    assert ctr[OTHER] == [(date(2026, 11, 1), Decimal("1.50"))]  # 3 clicks / 200 impressions


def test_per_currency_totals_never_add_money_across_currencies() -> None:
    report = {
        "columns": [{"key": "spend", "label": "Spend", "type": "money"}],
        "totals_by_currency": {"EUR": {"spend": "10.00"}, "USD": {"spend": "1234.50"}},
    }
    assert currency_totals(report) == ["EUR: Spend 10.00", "USD: Spend 1,234.50"]


def test_each_choice_changes_the_query_key() -> None:
    base = ReportQuery(since=date(2026, 11, 1), until=date(2026, 11, 7))
    variants = [
        base.with_(level="ad"),
        base.with_(breakdowns=("age",)),
        base.with_(time="total"),
        base.with_(metrics=("spend",)),
        base.with_(compare="previous_year"),
        base.with_(accounts=("act_1",)),
        base.with_(all_accounts=True),
    ]
    assert len({q.key() for q in [base, *variants]}) == len(variants) + 1
    assert (
        base.with_(breakdowns=("age", "country")).key()
        == base.with_(breakdowns=("country", "age")).key()
    )
    assert base.with_(all_accounts=True).client_kwargs()["all_accounts"] is True


@pytest.mark.parametrize("metric", sorted(NEEDS))
@pytest.mark.parametrize(("rows", "campaigns", "top_n"), [(0, 1, 5), (14, 2, 1), (240, 9, 5)])
def test_series_from_the_columns_equal_the_series_summed_row_by_row(
    metric: str, rows: int, campaigns: int, top_n: int
) -> None:
    report = data.report(rows, campaigns=campaigns)
    keys = [c["key"] for c in report["columns"]]
    if rows > 20:
        report["rows"][5][keys.index("clicks")] = None
        report["rows"][9][keys.index("spend")] = None
        report["rows"][11][keys.index("campaign_name")] = None
    head, decoded = columnar.from_report(report)
    expected = series_of_rows(report, metric, top_n=top_n)
    assert top_series(head["columns"], decoded, metric, top_n=top_n) == expected


def test_series_of_a_column_that_fell_back_to_text_are_summed_exactly() -> None:
    report = data.report(30, campaigns=3)
    spend = [c["key"] for c in report["columns"]].index("spend")
    report["rows"][7][spend] = "1.5"  # not the column's scale: the column is kept as text
    head, decoded = columnar.from_report(report)
    assert decoded.columns[spend].kind == "text"
    expected = series_of_rows(report, "spend", top_n=2)
    assert top_series(head["columns"], decoded, "spend", top_n=2) == expected
