"""reports/shape.py rules without a server: total rows from daily-only adapters, the change
of a comparison, totals across currencies (docs/ARCHITECTURE.md "Report")."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from backend.providers.base import RawRow, ReportQuery
from backend.reports.shape import change, collapse_days, mixed_totals


def _row(day: int, campaign: str, imp: int, reach: int | None) -> RawRow:
    return RawRow(date(2026, 11, day), campaign, campaign.upper(), imp, imp // 10,
                  Decimal("1.25") * day, 1, reach=reach)  # fmt: skip


def test_daily_rows_collapse_to_one_total_row_per_entity_and_reach_becomes_unknown() -> None:
    q = ReportQuery("a", date(2026, 11, 1), date(2026, 11, 3), "campaign", time="total")
    rows = [_row(1, "c1", 100, 80), _row(2, "c1", 200, 150), _row(3, "c2", 50, 40)]
    out = {r.campaign_id: r for r in collapse_days(rows, q)}
    assert out["c1"].impressions == 300
    assert out["c1"].spend == Decimal("3.75")
    assert out["c1"].reach is None  # two days: never the sum 230
    assert out["c2"].reach == 40  # one day: that day's own figure
    assert {r.date for r in out.values()} == {date(2026, 11, 1)}


def test_change_is_relative_and_null_where_the_base_is_zero() -> None:
    now = {"impressions": 150, "spend": "10.00", "ctr": None, "clicks": 5}
    then = {"impressions": 100, "spend": "0.00", "ctr": "1.00", "clicks": 0}
    assert change(now, then) == {
        "impressions": "0.5000", "spend": None, "ctr": None, "clicks": None,
    }  # fmt: skip


def test_money_never_adds_up_across_currencies() -> None:
    by = {
        "EUR": {"impressions": 10, "clicks": 1, "spend": "5.00", "conversions": 1},
        "JPY": {"impressions": 30, "clicks": 3, "spend": "700", "conversions": 2},
    }
    out = mixed_totals(by, ["impressions", "clicks", "spend", "conversions", "ctr", "cpc"])
    assert out == {"impressions": 40, "clicks": 4, "spend": None, "conversions": 3,
                   "ctr": "10.00", "cpc": None}  # fmt: skip
