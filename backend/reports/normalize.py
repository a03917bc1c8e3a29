"""Raw provider rows -> the normalized report JSON (docs/ARCHITECTURE.md "Report").

Money and ratios are Decimal strings, never floats. Totals are sums; CTR, CPC and CPM in the
totals are computed from the summed clicks, impressions and spend, never averaged from rows.
Rounding is ROUND_HALF_UP; money is quantised to the currency's minor unit (ISO 4217).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from operator import attrgetter
from typing import Any, Final

from backend.providers.base import AdAccount, RawRow, ReportQuery

METRICS: Final = ("impressions", "clicks", "spend", "conversions", "ctr", "cpc", "cpm")

_LABELS: Final = {
    "date": ("Date", "date"),
    "campaign_id": ("Campaign ID", "string"),
    "campaign_name": ("Campaign", "string"),
    "impressions": ("Impressions", "integer"),
    "clicks": ("Clicks", "integer"),
    "spend": ("Spend", "money"),
    "conversions": ("Conversions", "integer"),
    "ctr": ("CTR", "percent"),
    "cpc": ("CPC", "money"),
    "cpm": ("CPM", "money"),
}

# ISO 4217 minor units that differ from the usual 2.
_MINOR_UNITS: Final = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip

_HUNDRED: Final = Decimal(100)
_THOUSAND: Final = Decimal(1000)
_PERCENT_EXP: Final = Decimal("0.01")


def minor_units(currency: str) -> int:
    """Decimal places of `currency` (2 unless the table says otherwise)."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def selected_metrics(metrics: Sequence[str]) -> list[str]:
    """The metric columns asked for, in the report's fixed order; ValueError on unknown ones."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(
            f"Unknown metric {', '.join(repr(m) for m in unknown)}; "
            f"choose from {', '.join(METRICS)}."
        )
    if not metrics:
        raise ValueError(f"Pick at least one metric from {', '.join(METRICS)}.")
    wanted = set(metrics)
    return [m for m in METRICS if m in wanted]


def normalize_report(
    rows: Sequence[RawRow], *, query: ReportQuery, account: AdAccount
) -> dict[str, Any]:
    """The report body minus connection_id, provider, fetched_at and cached (the caller's)."""
    metrics = selected_metrics(query.metrics)
    campaign = query.level == "campaign"
    money_exp = Decimal(1).scaleb(-minor_units(account.currency))
    keys = ["date", *(["campaign_id", "campaign_name"] if campaign else []), *metrics]
    # Google Ads counts modelled conversions in fractions: those stay decimals (issue 16).
    exact = any(r.conversions_exact is not None for r in rows)
    labels = {**_LABELS, "conversions": ("Conversions", "decimal")} if exact else _LABELS
    columns = [{"key": k, "label": labels[k][0], "type": labels[k][1]} for k in keys]
    # Building 100k row lists would trigger dozens of cyclic-GC passes over every live
    # object; none of these lists can form a cycle, so the collector pauses meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with localcontext() as ctx:
            # Context-wide HALF_UP: quantize() then rounds the way the report promises.
            ctx.prec = 34
            ctx.rounding = ROUND_HALF_UP
            out_rows = _rows(_sorted(rows, campaign), metrics, campaign, money_exp, exact)
            totals = _totals(rows, metrics, money_exp, exact)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "account": account.as_json(),  # the same object as in the connection's accounts
        "since": query.since.isoformat(),
        "until": query.until.isoformat(),
        "level": query.level,
        "columns": columns,
        "rows": out_rows,
        "totals": totals,
    }


def _sorted(rows: Sequence[RawRow], campaign: bool) -> list[RawRow]:
    """By date, then campaign name (then id, so equal names still sort the same way)."""
    if not campaign:
        return sorted(rows, key=attrgetter("date"))
    try:
        return sorted(rows, key=attrgetter("date", "campaign_name", "campaign_id"))
    except TypeError:  # a None name or id among strings: compare them as ""
        return sorted(rows, key=lambda r: (r.date, r.campaign_name or "", r.campaign_id or ""))


def _rows(
    rows: list[RawRow], metrics: list[str], campaign: bool, money_exp: Decimal, exact: bool
) -> list[list[Any]]:
    """Every metric of every row, then the selected columns picked out.

    One flat loop building each row in a single list display: this runs per row and 100k
    rows must take well under a second.
    """
    pct = _PERCENT_EXP
    hundred = _HUNDRED
    thousand = _THOUSAND
    quantize = Decimal.quantize
    iso_of: dict[date, str] = {}
    out: list[list[Any]] = []
    append = out.append
    for r in rows:
        imp = r.impressions
        clicks = r.clicks
        spend = r.spend
        day = r.date
        iso = iso_of.get(day)
        if iso is None:
            iso = iso_of[day] = day.isoformat()
        if imp:
            ctr: str | None = str(quantize(clicks * hundred / imp, pct))
            cpm: str | None = str(quantize(spend * thousand / imp, money_exp))
        else:
            ctr = cpm = None
        cpc = str(quantize(spend / clicks, money_exp)) if clicks else None
        spent = str(quantize(spend, money_exp))
        conv: int | str = r.conversions
        if exact:
            conv = f"{_exact(r):f}"
        if campaign:
            append([iso, r.campaign_id, r.campaign_name, imp, clicks, spent, conv, ctr, cpc, cpm])
        else:
            append([iso, imp, clicks, spent, conv, ctr, cpc, cpm])
    if len(metrics) == len(METRICS):
        return out
    # Positions in the rows above: the dimension columns, then METRICS in order.
    first = 3 if campaign else 1
    picks = list(range(first)) + [first + METRICS.index(m) for m in metrics]
    return [[row[i] for i in picks] for row in out]


def _exact(r: RawRow) -> Decimal:
    return r.conversions_exact if r.conversions_exact is not None else Decimal(r.conversions)


def _totals(
    rows: Sequence[RawRow], metrics: list[str], money_exp: Decimal, exact: bool
) -> dict[str, Any]:
    """Sums, and the ratios computed from the sums (never an average of row ratios)."""
    imp = sum(r.impressions for r in rows)
    clicks = sum(r.clicks for r in rows)
    spend = sum((r.spend for r in rows), Decimal(0))
    conv: int | str = sum(r.conversions for r in rows)
    if exact:
        conv = f"{sum((_exact(r) for r in rows), Decimal(0)):f}"
    values: dict[str, Any] = {
        "impressions": imp,
        "clicks": clicks,
        "spend": str(spend.quantize(money_exp)),
        "conversions": conv,
        "ctr": str((clicks * _HUNDRED / imp).quantize(_PERCENT_EXP)) if imp else None,
        "cpc": str((spend / clicks).quantize(money_exp)) if clicks else None,
        "cpm": str((spend * _THOUSAND / imp).quantize(money_exp)) if imp else None,
    }
    return {m: values[m] for m in metrics}
