"""The chart's series: one per top-N entity of the report (by spend), the rest as "Other".

Per date, each entity's parts are summed, and ratios (CTR, CPC, CPM, CPA, ROAS) are computed
from those sums, never averaged.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QLocale

from desktop.concurrency.columnar import NULL, ColumnarRows

TOP_N = 5
OTHER = "Other"
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


def _layout(
    columns: list[dict[str, Any]], metric: str
) -> tuple[int, list[int], int | None, int | None] | None:
    """(the date column, the columns `metric` needs, the entity column, the ranking column),
    or None when the report cannot chart `metric` (no date, a needed column missing)."""
    keys = [str(c["key"]) for c in columns]
    if "date" not in keys or metric not in NEEDS:
        return None
    at = {k: i for i, k in enumerate(keys)}
    needed = [at[k] for k in NEEDS[metric] if k in at]
    if len(needed) != len(NEEDS[metric]):
        return None
    return (
        at["date"],
        needed,
        at.get(entity_key(keys) or ""),
        at.get("spend", at.get("impressions")),
    )


def series_of_rows(report: dict[str, Any], metric: str, top_n: int = TOP_N) -> list[Series]:
    """`top_series` summed row by row over a report's rows as lists: for a column the decoder
    kept as text (desktop/concurrency/columnar.py), and as the reference in tests."""
    found = _layout(list(report.get("columns", [])), metric)
    if found is None:
        return []
    day_at, needed, who_at, rank_at = found
    sums: dict[str, dict[str, list[Any]]] = {}
    rank: dict[str, float] = {}  # only orders the series: floats are exact enough for that
    for row in report.get("rows", []):
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
    order = sorted(sums, key=lambda w: (-rank[w], w))
    top, rest = order[:top_n], order[top_n:]
    out: list[Series] = [(who, _points(sums[who], metric)) for who in top]
    if rest and metric not in _NOT_ADDITIVE:
        other: dict[str, list[Any]] = {}
        for who in rest:
            for day, parts in sums[who].items():
                acc = other.setdefault(day, [0] * len(needed))
                for n, value in enumerate(parts):
                    acc[n] += value
        out.append((OTHER, _points(other, metric)))
    return out


def top_series(
    columns: list[dict[str, Any]], rows: ColumnarRows, metric: str, top_n: int = TOP_N
) -> list[Series]:
    """Series for the top `top_n` entities by spend (then impressions), then "Other"; one
    "Total" series when the report has no entity column. Empty without a date column.

    Grouped with numpy over the column arrays (one stable sort of (entity, day) pairs, then
    sums per run): a million rows take a fraction of a second on a worker, and the sort lets go
    of the GIL. Sums are exact: integers in each column's smallest unit."""
    found = _layout(columns, metric)
    if found is None:
        return []
    day_at, needed, who_at, rank_at = found
    cols = rows.columns
    grouping = [day_at] + ([who_at] if who_at is not None else [])
    summed = needed + ([rank_at] if rank_at is not None else [])
    if any(cols[i].kind != "text" for i in grouping) or any(cols[i].kind != "int" for i in summed):
        # A column that fell back to text (desktop/concurrency/columnar.py): sum its cells.
        report = {"columns": columns, "rows": rows.rows(range(rows.count), list(range(len(cols))))}
        return series_of_rows(report, metric, top_n)
    if rows.count == 0:
        return []
    base = len(rows.strings) + 1  # codes + 1: 0 is null
    day = cols[day_at].data.astype(np.int64) + 1
    who = cols[who_at].data.astype(np.int64) + 1 if who_at is not None else np.zeros_like(day)
    order = np.argsort(who * base + day, kind="stable")
    pair = (who * base + day)[order]
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    group_who, group_day = pair[starts] // base, pair[starts] % base

    def sums(column: int) -> npt.NDArray[np.int64]:
        data = cols[column].data
        values = np.where(data == NULL, 0, data)[order]
        total: npt.NDArray[np.int64] = np.add.reduceat(values, starts)
        return total

    parts = [sums(i) for i in needed]
    scales = [cols[i].scale for i in needed]

    def name(code: int) -> str:
        return "Total" if who_at is None else str(rows.strings[code - 1] if code else None)

    # Each entity's total of the ranking column, summed over its groups in order (as a loop
    # over them would: the same floats), by numpy: a 100,000-row report has as many groups.
    codes, entity_of_group = np.unique(group_who, return_inverse=True)
    rank_totals: npt.NDArray[np.float64] = np.zeros(len(codes))
    if rank_at is not None:
        by_group = sums(rank_at).astype(np.float64) / 10 ** cols[rank_at].scale
        counted = np.bincount(entity_of_group, weights=by_group, minlength=len(codes))
        rank_totals = counted.astype(np.float64, copy=False)  # float64 already (weights)
    ranked = dict(zip(codes.tolist(), rank_totals.tolist(), strict=True))
    everyone = sorted(ranked, key=lambda c: (-ranked[c], name(c)))
    top, rest = everyone[:top_n], everyone[top_n:]
    days = ["None", *(str(text) for text in rows.strings)]  # by day code + 1

    def per_day(mask: npt.NDArray[np.bool_]) -> dict[str, list[Any]]:
        """The chosen groups' sums per day (a sort by day, then sums per run)."""
        chosen = group_day[mask]
        if not len(chosen):
            return {}
        by_day = np.argsort(chosen, kind="stable")
        ordered = chosen[by_day]
        runs = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        # Column by column (a comprehension each), then one row per day: a 1,000-day series
        # of a 100,000-row report is 6,000 values (bench/report_load.py).
        columns = [
            [Decimal(v).scaleb(-scale) if scale else Decimal(v) for v in summed]
            for summed, scale in (
                (np.add.reduceat(part[mask][by_day], runs).tolist(), scale)
                for part, scale in zip(parts, scales, strict=True)
            )
        ]
        names = [days[code] for code in ordered[runs].tolist()]
        return dict(zip(names, map(list, zip(*columns, strict=True)), strict=True))

    series: list[Series] = [(name(c), _points(per_day(group_who == c), metric)) for c in top]
    if rest and metric not in _NOT_ADDITIVE:
        others = np.isin(group_who, np.array(rest, np.int64))
        series.append((OTHER, _points(per_day(others), metric)))
    return series


def _points(per_day: dict[str, list[Any]], metric: str) -> list[tuple[date, Decimal]]:
    points = []
    for day in sorted(per_day):
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
