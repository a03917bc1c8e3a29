"""series_by_date sums only what the metric needs, integers as integers: the same points, to the
cent, as adding every column of every row up in Decimal (the first version, kept here as the
reference)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.models.chart import CHARTABLE, SUMMED, _value, series_by_date

COLUMNS = ["date", "campaign_id", "impressions", "clicks", "spend", "conversions"]


def reference(report: dict[str, Any], metric: str) -> list[tuple[date, Decimal]]:
    keys = [c["key"] for c in report.get("columns", [])]
    if "date" not in keys:
        return []
    at = {k: i for i, k in enumerate(keys)}
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in report.get("rows", []):
        day = sums[str(row[at["date"]])]
        for key in SUMMED:
            if key in at and row[at[key]] is not None:
                day[key] += Decimal(str(row[at[key]]))
    points = []
    for day_text in sorted(sums):
        value = _value(sums[day_text], metric)
        if value is not None:
            points.append((date.fromisoformat(day_text), value))
    return points


counts = st.one_of(st.none(), st.integers(0, 10**9))
money = st.one_of(
    st.none(),
    st.decimals(0, 10**6, places=2).map(str),  # how the backend sends money
    st.floats(0, 10**6, allow_nan=False).map(lambda f: round(f, 2)),
    st.integers(0, 10**6),
)
rows = st.lists(
    st.tuples(
        st.dates(date(2026, 1, 1), date(2026, 1, 20)).map(date.isoformat),
        st.sampled_from(["c1", "c2"]),
        counts,
        counts,
        money,
        counts,
    ).map(list),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    rows=rows,
    metric=st.sampled_from([*CHARTABLE, "unknown"]),
    drop=st.sets(st.sampled_from(COLUMNS[2:])),
)
def test_the_points_are_those_of_adding_everything_up_in_decimal(
    rows: list[list[Any]], metric: str, drop: set[str]
) -> None:
    keep = [i for i, key in enumerate(COLUMNS) if key not in drop]
    report = {
        "columns": [{"key": COLUMNS[i]} for i in keep],
        "rows": [[row[i] for i in keep] for row in rows],
    }
    assert series_by_date(report, metric) == reference(report, metric)


def test_a_report_without_dates_has_no_points() -> None:
    report = {"columns": [{"key": "clicks"}], "rows": [[3]]}
    assert series_by_date(report, "clicks") == []
