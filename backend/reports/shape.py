"""The general report shape: any level, breakdowns, daily or total, several accounts.

normalize.py keeps its fast path for the classic daily account/campaign report; everything
else is shaped here. Totals add the additive parts only; ratios come from those sums
(CTR, CPC, CPM, CPA = spend / conversions, ROAS = conversion_value / spend); reach and
frequency come from the provider's own aggregate for the exact range (RawSummary), never a sum.
Money is never added across currencies: several accounts get `totals_by_currency`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Final

from backend.providers.base import AdAccount, RawRow, RawSummary, ReportQuery

ALL_METRICS: Final = (
    "impressions", "clicks", "spend", "reach", "frequency", "conversions", "conversion_value",
    "ctr", "cpc", "cpm", "cpa", "roas",
)  # fmt: skip
METRIC_LABELS: Final = {
    "impressions": ("Impressions", "integer"),
    "clicks": ("Clicks", "integer"),
    "spend": ("Spend", "money"),
    "reach": ("Reach", "integer"),
    "frequency": ("Frequency", "decimal"),
    "conversions": ("Conversions", "integer"),
    "conversion_value": ("Conversion value", "money"),
    "ctr": ("CTR", "percent"),
    "cpc": ("CPC", "money"),
    "cpm": ("CPM", "money"),
    "cpa": ("CPA", "money"),
    "roas": ("ROAS", "decimal"),
}
DIM_LABELS: Final = {
    "date": ("Date", "date"),
    "account_id": ("Account ID", "string"),
    "currency": ("Currency", "string"),
    "campaign_id": ("Campaign ID", "string"),
    "campaign_name": ("Campaign", "string"),
    "adset_id": ("Ad set ID", "string"),
    "adset_name": ("Ad set", "string"),
    "ad_id": ("Ad ID", "string"),
    "ad_name": ("Ad", "string"),
    "age": ("Age", "string"),
    "gender": ("Gender", "string"),
    "country": ("Country", "string"),
    "platform": ("Platform", "string"),
    "device": ("Device", "string"),
}
_ENTITY: Final = {
    "account": (),
    "campaign": ("campaign_id", "campaign_name"),
    "adset": ("campaign_id", "campaign_name", "adset_id", "adset_name"),
    "ad": ("campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id", "ad_name"),
}
_RATIO: Final = Decimal("0.01")
_CHANGE: Final = Decimal("0.0001")


@dataclass
class Part:
    """One account's rows, in its currency, with the provider's aggregate of the range."""

    account: AdAccount
    rows: Sequence[RawRow]
    summary: RawSummary | None
    money_exp: Decimal


def dimension_keys(query: ReportQuery, multi: bool) -> list[str]:
    keys = ["date"] if query.time == "daily" else []
    if multi:
        keys += ["account_id", "currency"]
    return keys + list(_ENTITY[query.level]) + list(query.breakdowns)


def exact_conversions(parts: Sequence[Part]) -> bool:
    """Whether the provider reports fractional conversions (then they stay decimals)."""
    return any(r.conversions_exact is not None for p in parts for r in p.rows)


def columns(
    query: ReportQuery, metrics: list[str], multi: bool, exact: bool = False
) -> list[dict[str, str]]:
    labels = {**DIM_LABELS, **METRIC_LABELS}
    if exact:
        labels["conversions"] = ("Conversions", "decimal")
    keys = dimension_keys(query, multi) + metrics
    return [{"key": k, "label": labels[k][0], "type": labels[k][1]} for k in keys]


def _conv(r: RawRow, exact: bool) -> int | Decimal:
    if exact:
        return r.conversions_exact if r.conversions_exact is not None else Decimal(r.conversions)
    return r.conversions


def _q(value: Decimal, exp: Decimal) -> str:
    return str(value.quantize(exp))


def metric_values(
    imp: int,
    clicks: int,
    spend: Decimal,
    conv: int | Decimal,
    value: Decimal,
    reach: int | None,
    frequency: Decimal | None,
    money_exp: Decimal,
) -> dict[str, Any]:
    """Every metric from the additive parts (and reach as the provider gave it)."""
    if frequency is None and reach:
        frequency = Decimal(imp) / reach
    return {
        "impressions": imp,
        "clicks": clicks,
        "spend": _q(spend, money_exp),
        "reach": reach,
        "frequency": _q(frequency, _RATIO) if frequency is not None else None,
        "conversions": conv if isinstance(conv, int) else f"{conv:f}",
        "conversion_value": _q(value, money_exp),
        "ctr": _q(Decimal(clicks) * 100 / imp, _RATIO) if imp else None,
        "cpc": _q(spend / clicks, money_exp) if clicks else None,
        "cpm": _q(spend * 1000 / imp, money_exp) if imp else None,
        "cpa": _q(spend / conv, money_exp) if conv else None,
        "roas": _q(value / spend, _RATIO) if spend else None,
    }


def collapse_days(rows: Sequence[RawRow], query: ReportQuery) -> list[RawRow]:
    """One row per entity and breakdown for `time=total` from an adapter that only answers
    daily rows (LinkedIn, Microsoft): additive metrics add up; a reach over several days
    cannot, so it becomes unknown."""
    merged: dict[tuple[Any, ...], RawRow] = {}
    many: set[tuple[Any, ...]] = set()
    for r in rows:
        key = (r.campaign_id, r.adset_id, r.ad_id, tuple(sorted(r.dims.items())))
        have = merged.get(key)
        if have is None:
            merged[key] = replace(r, date=query.since)
            continue
        many.add(key)
        merged[key] = replace(
            have,
            impressions=have.impressions + r.impressions,
            clicks=have.clicks + r.clicks,
            spend=have.spend + r.spend,
            conversions=have.conversions + r.conversions,
            conversion_value=have.conversion_value + r.conversion_value,
            conversions_exact=None
            if have.conversions_exact is None or r.conversions_exact is None
            else have.conversions_exact + r.conversions_exact,
        )
    for key in many:
        merged[key].reach = None
    return list(merged.values())


def _row_key(r: RawRow, query: ReportQuery) -> tuple[Any, ...]:
    names = (r.campaign_name or "", r.campaign_id or "", r.adset_name or "", r.adset_id or "")
    return (
        r.date,
        *names,
        r.ad_name or "",
        r.ad_id or "",
        *(r.dims.get(b, "") for b in query.breakdowns),
    )


def shape_rows(
    parts: Sequence[Part], query: ReportQuery, metrics: list[str], multi: bool
) -> list[list[Any]]:
    entity = _ENTITY[query.level]
    exact = exact_conversions(parts)
    out: list[tuple[tuple[Any, ...], list[Any]]] = []
    with localcontext() as ctx:
        ctx.prec = 34
        ctx.rounding = ROUND_HALF_UP
        for n, part in enumerate(parts):
            for r in part.rows:
                dims: list[Any] = [r.date.isoformat()] if query.time == "daily" else []
                if multi:
                    dims += [part.account.id, part.account.currency]
                dims += [getattr(r, k) for k in entity]
                dims += [r.dims.get(b) for b in query.breakdowns]
                values = metric_values(
                    r.impressions, r.clicks, r.spend, _conv(r, exact), r.conversion_value,
                    r.reach, None, part.money_exp,
                )  # fmt: skip
                key = _row_key(r, query)
                out.append(((key[0], n, *key[1:]), dims + [values[m] for m in metrics]))
    out.sort(key=lambda pair: pair[0])
    return [row for _, row in out]


def totals_of(parts: Sequence[Part], metrics: list[str], money_exp: Decimal) -> dict[str, Any]:
    """Totals of parts sharing one currency; reach only from a single account's aggregate."""
    rows = [r for p in parts for r in p.rows]
    summary = parts[0].summary if len(parts) == 1 else None
    exact = exact_conversions(parts)
    conv: int | Decimal = (
        sum((_conv(r, True) for r in rows), Decimal(0))
        if exact
        else sum(r.conversions for r in rows)
    )
    with localcontext() as ctx:
        ctx.prec = 34
        ctx.rounding = ROUND_HALF_UP
        values = metric_values(
            sum(r.impressions for r in rows),
            sum(r.clicks for r in rows),
            sum((r.spend for r in rows), Decimal(0)),
            conv,
            sum((r.conversion_value for r in rows), Decimal(0)),
            summary.reach if summary else None,
            summary.frequency if summary else None,
            money_exp,
        )
    return {m: values[m] for m in metrics}


def mixed_totals(by_currency: dict[str, dict[str, Any]], metrics: list[str]) -> dict[str, Any]:
    """Totals across currencies: counts add up; money and money ratios do not (null)."""
    out: dict[str, Any] = {}
    groups = list(by_currency.values())
    for m in metrics:
        if m in ("impressions", "clicks"):
            out[m] = sum(g[m] for g in groups)
        elif m == "conversions":
            total = sum(Decimal(str(g[m])) for g in groups)
            exact = any(isinstance(g[m], str) for g in groups)
            out[m] = f"{total:f}" if exact else int(total)
        else:
            out[m] = None
    if "ctr" in metrics:
        imp = sum(g.get("impressions") or 0 for g in groups)
        clicks = sum(g.get("clicks") or 0 for g in groups)
        has = "impressions" in metrics and "clicks" in metrics
        out["ctr"] = _q(Decimal(clicks) * 100 / imp, _RATIO) if imp and has else None
    return out


def change(current: dict[str, Any], base: dict[str, Any]) -> dict[str, str | None]:
    """Relative change per total, (current - base) / base; null where base is 0 or unknown."""
    out: dict[str, str | None] = {}
    for key, now in current.items():
        before = base.get(key)
        if now is None or before is None or Decimal(str(before)) == 0:
            out[key] = None
            continue
        b = Decimal(str(before))
        out[key] = _q((Decimal(str(now)) - b) / b, _CHANGE)
    return out
