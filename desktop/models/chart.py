"""A report's metric over time: per-date sums, with ratios recomputed from the sums."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SUMMED = ("impressions", "clicks", "spend", "conversions")
CHARTABLE = {
    "impressions": "Impressions",
    "clicks": "Clicks",
    "spend": "Spend",
    "conversions": "Conversions",
    "ctr": "CTR (%)",
    "cpc": "CPC",
    "cpm": "CPM",
}
_CENT = Decimal("0.01")


def series_by_date(report: dict[str, Any], metric: str) -> list[tuple[date, Decimal]]:
    """One point per date, ascending. At campaign level, campaigns of a day are added up first;
    CTR, CPC and CPM are computed from the day's sums (never averaged)."""
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
    points: list[tuple[date, Decimal]] = []
    for day_text in sorted(sums):
        value = _value(sums[day_text], metric)
        if value is not None:
            points.append((date.fromisoformat(day_text), value))
    return points


def _value(day: dict[str, Decimal], metric: str) -> Decimal | None:
    if metric in SUMMED:
        return day[metric]
    impressions, clicks, spend = day["impressions"], day["clicks"], day["spend"]
    if metric == "ctr":
        ratio = clicks / impressions * 100 if impressions else None
    elif metric == "cpc":
        ratio = spend / clicks if clicks else None
    elif metric == "cpm":
        ratio = spend / impressions * 1000 if impressions else None
    else:
        return None
    return ratio.quantize(_CENT, rounding=ROUND_HALF_UP) if ratio is not None else None
