"""The chart's series: one per top-N entity of the report (by spend), the rest as "Other".

Per date, each entity's parts are summed, and ratios (CTR, CPC, CPM, CPA, ROAS) are computed
from those sums, never averaged (desktop/models/chart.py does the same for one series).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from PySide6.QtCore import QLocale

TOP_N = 5
OTHER = "Other"
ROWS_PER_STEP = 1000
"""About 3 ms of summing per step on the UI thread (bench/ui_stall.py)."""
ENTITY_KEYS = ("ad_name", "adset_name", "campaign_name", "account_id")
"""The deepest entity name present names a series (several accounts: the account)."""

NEEDS: dict[str, tuple[str, ...]] = {
    "impressions": ("impressions",),
    "clicks": ("clicks",),
    "spend": ("spend",),
    "reach": ("reach",),
    "conversions": ("conversions",),
    "conversion_value": ("conversion_value",),
    "ctr": ("clicks", "impressions"),
    "cpc": ("spend", "clicks"),
    "cpm": ("spend", "impressions"),
    "cpa": ("spend", "conversions"),
    "roas": ("conversion_value", "spend"),
}
# Reach is charted per entity per day as sent; summing it for "Other" would overcount people
# (reach is not additive), so "Other" leaves reach out.
_NOT_ADDITIVE = frozenset({"reach"})
_CENT = Decimal("0.01")

Series = tuple[str, list[tuple[date, Decimal]]]


def entity_key(keys: list[str]) -> str | None:
    return next((k for k in ENTITY_KEYS if k in keys), None)


def top_series_steps(
    report: dict[str, Any], metric: str, top_n: int = TOP_N
) -> Generator[None, None, list[Series]]:
    """Series for the top `top_n` entities by spend (then impressions), then "Other"; one
    "Total" series when the report has no entity column. Empty without a date column."""
    keys = [str(c["key"]) for c in report.get("columns", [])]
    if "date" not in keys or metric not in NEEDS:
        return []
    at = {k: i for i, k in enumerate(keys)}
    needed = [at[k] for k in NEEDS[metric] if k in at]
    if len(needed) != len(NEEDS[metric]):
        return []
    who_at = at.get(entity_key(keys) or "")
    rank_at = at.get("spend", at.get("impressions"))
    day_at = at["date"]
    sums: dict[str, dict[str, list[Any]]] = {}
    rank: dict[str, float] = {}  # only orders the series: floats are exact enough for that
    for count, row in enumerate(report.get("rows", []), 1):
        who = "Total" if who_at is None else str(row[who_at])
        per_day = sums.get(who)
        if per_day is None:
            per_day = sums[who] = {}
            rank[who] = 0.0
        day = str(row[day_at])
        acc = per_day.get(day)
        if acc is None:
            acc = per_day[day] = [0] * len(needed)
        for n, i in enumerate(needed):
            value = row[i]
            if value is not None:
                acc[n] += value if type(value) is int else Decimal(str(value))
        if rank_at is not None and row[rank_at] is not None:
            rank[who] += float(row[rank_at])
        if count % ROWS_PER_STEP == 0:
            yield
    order = sorted(sums, key=lambda w: (-rank[w], w))
    top, rest = order[:top_n], order[top_n:]
    yield
    out: list[Series] = []
    for who in top:
        out.append((who, (yield from _points(sums[who], metric))))
    if rest and metric not in _NOT_ADDITIVE:
        other: dict[str, list[Any]] = {}
        for count, who in enumerate(rest, 1):
            for day, parts in sums[who].items():
                acc = other.setdefault(day, [0] * len(needed))
                for n, value in enumerate(parts):
                    acc[n] += value
            if count % 20 == 0:
                yield
        out.append((OTHER, (yield from _points(other, metric))))
    return out


def _points(
    per_day: dict[str, list[Any]], metric: str
) -> Generator[None, None, list[tuple[date, Decimal]]]:
    points = []
    for count, day in enumerate(sorted(per_day), 1):
        if count % 500 == 0:
            yield
        parts = [Decimal(v) for v in per_day[day]]
        value = _value(metric, parts)
        if value is not None:
            points.append((date.fromisoformat(day), value))
    return points


def _value(metric: str, parts: list[Decimal]) -> Decimal | None:
    if len(parts) == 1:
        return parts[0]
    top, bottom = parts
    if not bottom:
        return None
    scale = {"ctr": 100, "cpm": 1000}.get(metric, 1)
    return (top / bottom * scale).quantize(_CENT, rounding=ROUND_HALF_UP)


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least `top` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CHF": "CHF", "INR": "₹"}
"""Symbols for common ISO 4217 codes; any other currency is shown by its code."""
MONEY_METRICS = frozenset({"spend", "conversion_value", "cpc", "cpm", "cpa"})


def axis_label(value: float, metric: str, currency: str, locale: QLocale) -> str:
    """A value axis label in the user's locale: thousands separators, and the currency for
    money ("€1,250" / "1.250 €", or "1,250 EUR" style when the locale has no symbol for it)."""
    decimals = 0 if float(value).is_integer() else 2
    if metric in MONEY_METRICS and currency:
        symbol = SYMBOLS.get(currency, currency)
        return locale.toCurrencyString(float(value), symbol, decimals)
    text = locale.toString(float(value), "f", decimals)
    return text + " %" if metric == "ctr" else text
