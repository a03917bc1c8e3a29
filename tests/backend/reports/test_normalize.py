"""normalize_report: exact decimals, totals from sums, currency minor units, order, speed."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.providers.base import AdAccount, RawRow, ReportQuery
from backend.reports.normalize import METRICS, minor_units, normalize_report

EUR = AdAccount("act_1", "Shop", "EUR", "Europe/Berlin")
JPY = AdAccount("act_2", "Tokyo", "JPY", "Asia/Tokyo")
START = date(2026, 11, 1)


def q(level: str = "campaign", metrics: list[str] | None = None) -> ReportQuery:
    return ReportQuery(
        "act_1",
        START,
        START + timedelta(days=30),
        level,  # type: ignore[arg-type]
        list(metrics or METRICS),
    )


def row(day: int, imp: int, clicks: int, spend: str, conv: int, c: str | None = "c1") -> RawRow:
    return RawRow(
        START + timedelta(days=day),
        c,
        None if c is None else f"Name {c}",
        imp,
        clicks,
        Decimal(spend),
        conv,
    )


def walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in walk(v)]
    return [value]


def test_the_documented_example() -> None:
    report = normalize_report([row(0, 1200, 34, "12.50", 3)], query=q(), account=EUR)
    assert report["rows"] == [
        ["2026-11-01", "c1", "Name c1", 1200, 34, "12.50", 3, "2.83", "0.37", "10.42"]
    ]
    assert report["totals"] == {
        "impressions": 1200,
        "clicks": 34,
        "spend": "12.50",
        "conversions": 3,
        "ctr": "2.83",
        "cpc": "0.37",
        "cpm": "10.42",
    }
    assert [c["key"] for c in report["columns"]] == [
        "date",
        "campaign_id",
        "campaign_name",
        *METRICS,
    ]
    assert report["account"] == {
        "id": "act_1",
        "name": "Shop",
        "currency": "EUR",
        "time_zone": "Europe/Berlin",
        "parent_id": None,
        "is_manager": False,
        "login_customer_id": None,
    }
    assert (report["since"], report["until"], report["level"]) == (
        "2026-11-01",
        "2026-12-01",
        "campaign",
    )


def test_totals_ratios_come_from_sums_not_averages() -> None:
    rows = [row(0, 100, 10, "1.00", 0), row(1, 10000, 10, "50.00", 0)]
    report = normalize_report(rows, query=q(), account=EUR)
    # average of row CTRs would be (10% + 0.1%) / 2 = 5.05%
    assert report["totals"]["ctr"] == "0.20"  # 20 / 10100
    assert report["totals"]["cpc"] == "2.55"  # 51 / 20
    assert report["totals"]["cpm"] == "5.05"  # 51 / 10100 * 1000


def test_rounding_is_half_up() -> None:
    report = normalize_report([row(0, 8, 1, "0.125", 0)], query=q(), account=EUR)
    assert report["rows"][0][5] == "0.13"  # banker's rounding would say 0.12
    assert report["rows"][0][7] == "12.50"  # 1/8 * 100


def test_zero_denominators_give_null() -> None:
    report = normalize_report([row(0, 0, 0, "3.00", 0)], query=q(), account=EUR)
    assert report["rows"][0][7:] == [None, None, None]
    assert report["totals"]["ctr"] is None
    assert report["totals"]["cpc"] is None
    empty = normalize_report([], query=q(), account=EUR)
    assert empty["rows"] == []
    assert empty["totals"]["spend"] == "0.00"


def test_yen_has_no_decimals() -> None:
    report = normalize_report([row(0, 3, 2, "1001.5", 0)], query=q(), account=JPY)
    assert report["rows"][0][5] == "1002"
    assert report["rows"][0][8] == "501"  # 1001.5 / 2 = 500.75
    assert report["totals"]["cpm"] == "333833"
    assert minor_units("jpy") == 0
    assert minor_units("KWD") == 3
    assert minor_units("EUR") == 2


def test_rows_are_sorted_by_date_then_campaign_name() -> None:
    rows = [
        row(2, 1, 1, "1", 0, "b"),
        row(0, 1, 1, "1", 0, "z"),
        row(2, 1, 1, "1", 0, "a"),
        row(0, 1, 1, "1", 0, "c"),
    ]
    report = normalize_report(rows, query=q(), account=EUR)
    assert [(r[0], r[2]) for r in report["rows"]] == [
        ("2026-11-01", "Name c"),
        ("2026-11-01", "Name z"),
        ("2026-11-03", "Name a"),
        ("2026-11-03", "Name b"),
    ]


def test_metrics_select_the_columns_and_totals() -> None:
    report = normalize_report(
        [row(0, 1200, 34, "12.50", 3, None)],
        query=q("account", ["cpc", "impressions"]),
        account=EUR,
    )
    assert [c["key"] for c in report["columns"]] == ["date", "impressions", "cpc"]
    assert report["rows"] == [["2026-11-01", 1200, "0.37"]]
    assert report["totals"] == {"impressions": 1200, "cpc": "0.37"}


def test_unknown_metric_is_refused_in_plain_words() -> None:
    with pytest.raises(ValueError, match="Unknown metric 'roas'; choose from impressions"):
        normalize_report([], query=q(metrics=["clicks", "roas"]), account=EUR)


raw_rows = st.lists(
    st.builds(
        RawRow,
        date=st.dates(START, START + timedelta(days=30)),
        campaign_id=st.sampled_from(["1", "2", "3"]),
        campaign_name=st.sampled_from(["Alpha", "Beta", "Gamma"]),
        impressions=st.integers(0, 10**9),
        clicks=st.integers(0, 10**7),
        spend=st.decimals(0, 10**7, places=6, allow_nan=False, allow_infinity=False),
        conversions=st.integers(0, 10**5),
    ),
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(rows=raw_rows, currency=st.sampled_from(["EUR", "JPY", "KWD", "USD"]))
def test_totals_are_the_sums_and_ratios_of_the_sums(rows: list[RawRow], currency: str) -> None:
    account = AdAccount("a", "A", currency, "UTC")
    report = normalize_report(rows, query=q(), account=account)
    totals = report["totals"]
    imp = sum(r.impressions for r in rows)
    clicks = sum(r.clicks for r in rows)
    spend = sum((r.spend for r in rows), Decimal(0))
    exp = Decimal(1).scaleb(-minor_units(currency))

    def money(d: Decimal) -> str:
        return str(d.quantize(exp, rounding=ROUND_HALF_UP))

    assert totals["impressions"] == imp == sum(r[3] for r in report["rows"])
    assert totals["clicks"] == clicks
    assert totals["conversions"] == sum(r.conversions for r in rows)
    assert totals["spend"] == money(spend)
    assert totals["ctr"] == (
        str((Decimal(clicks) * 100 / imp).quantize(Decimal("0.01"), ROUND_HALF_UP)) if imp else None
    )
    assert totals["cpc"] == (money(spend / clicks) if clicks else None)
    assert totals["cpm"] == (money(spend * 1000 / imp) if imp else None)
    values = walk(report)
    assert not any(isinstance(v, float) for v in values)
    for r in report["rows"]:
        for v in (r[5], r[8], r[9]):
            if v is not None:
                decimals = len(v.partition(".")[2])
                assert decimals == minor_units(currency)
    keys = [(r[0], r[2]) for r in report["rows"]]
    assert keys == sorted(keys)


def test_a_hundred_thousand_rows_normalise_in_order() -> None:
    rows = [
        RawRow(
            START + timedelta(days=i % 730),
            f"c{i // 730}",
            f"Campaign {i // 730}",
            1000 + i % 977,
            i % 53,
            Decimal(i % 10007) / 100,
            i % 7,
        )
        for i in range(100_000)
    ]
    # Speed is measured by the benchmarks (bench/), not by a timed test.
    report = normalize_report(rows, query=q(), account=EUR)
    assert len(report["rows"]) == 100_000
    dates = [row[0] for row in report["rows"]]
    assert dates == sorted(dates)
