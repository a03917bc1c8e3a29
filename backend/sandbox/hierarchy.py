"""Demo Ads below the campaign: ad sets, ads, breakdowns, reach and conversion value.

Every campaign's day (data.campaign_day) is split over its ad sets and ads, then over the
breakdown values asked for, by fixed weights and cumulative rounding (the parts add up to the
whole exactly). Reach is not additive: every (ad, breakdown cell) has an audience pool; a day
reaches `impressions / f` people of it (f a per-unit frequency 1.1-1.7), and any group of units
and days — a row, or the whole range (the summary) — reaches
`P * (1 - prod(1 - r/P))` of its pooled audience P: independent draws from one pool, the
expected number of distinct people. So reach is computed for the exact range and level, always
at most the sum of its parts (and at least the largest).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import product
from typing import Any

from backend.sandbox.data import Account, Campaign, _key, campaign_day, campaigns_of, money

LEVELS = ("account", "campaign", "adset", "ad")
# Meta's Insights breakdown names (the sandbox's API is shaped after Meta's).
BREAKDOWN_VALUES: dict[str, tuple[str, ...]] = {
    "age": ("18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "gender": ("female", "male", "unknown"),
    "publisher_platform": ("facebook", "instagram", "audience_network", "messenger"),
    "device_platform": ("mobile_app", "mobile_web", "desktop"),
}
_COUNTRIES = {
    "EUR": ("DE", "FR", "AT", "NL"),
    "USD": ("US", "CA", "MX"),
    "JPY": ("JP",),
    "GBP": ("GB", "IE"),
}
_AUDIENCES = ("Broad", "Interests", "Lookalike 1%", "Retargeting 30d")
_CREATIVES = ("Single image", "Carousel", "Video 15s")
_POOL_DAYS = 6  # a unit's audience is about six days of its typical impressions


@dataclass(frozen=True)
class Unit:
    """One ad: its campaign, ad set and share of the campaign's delivery."""

    campaign: Campaign
    adset_id: str
    adset_name: str
    ad_id: str
    ad_name: str
    share: float
    salt: int


def breakdown_values(account: Account, name: str) -> tuple[str, ...]:
    if name == "country":
        return _COUNTRIES.get(account.currency, ("US", "DE", "GB", "FR"))
    return BREAKDOWN_VALUES[name]


@lru_cache(maxsize=256)
def units_of(seed: int, account: Account) -> tuple[Unit, ...]:
    out: list[Unit] = []
    for c in campaigns_of(seed, account):
        adsets = 2 + c.salt % 2
        aweights = [1 + ((c.salt >> (8 * i)) & 0xFF) / 128 for i in range(adsets)]
        for i in range(adsets):
            adset_id = f"{c.id}{i + 1:02d}"
            ads = 2 + (c.salt >> (8 * i + 4)) % 2
            h = _key(seed, adset_id)
            dweights = [1 + ((h >> (8 * j)) & 0xFF) / 128 for j in range(ads)]
            for j in range(ads):
                share = aweights[i] / sum(aweights) * dweights[j] / sum(dweights)
                out.append(
                    Unit(
                        campaign=c,
                        adset_id=adset_id,
                        adset_name=f"{c.name} — {_AUDIENCES[(h + i) % len(_AUDIENCES)]}",
                        ad_id=f"{adset_id}{j + 1}",
                        ad_name=_CREATIVES[(h >> 16) % len(_CREATIVES)] + f" {j + 1}",
                        share=share,
                        salt=_key(seed, adset_id, j),
                    )
                )
    return tuple(out)


def _weights(salt: int, name: str, n: int) -> list[float]:
    h = _key(salt, name)
    raw = [1 + ((h >> (5 * i)) & 0x1F) / 8 for i in range(n)]
    total = sum(raw)
    return [w / total for w in raw]


def _split(total: int, cum: list[float]) -> list[int]:
    """Cumulative rounding: the parts are whole and add up to `total` exactly."""
    out, before = [], 0
    for c in cum:
        upto = math.floor(total * c + 1e-9)
        out.append(upto - before)
        before = upto
    out[-1] += total - before
    return out


def _cumulative(weights: list[float]) -> list[float]:
    acc, out = 0.0, []
    for w in weights:
        acc += w
        out.append(acc)
    out[-1] = 1.0
    return out


def _value(c: Campaign, day: int, conversions: int, exponent: int) -> int:
    """Conversion value in minor units: an order value of 20-120 (dollar-like) per conversion."""
    h = _key(c.salt, day, "value")
    aov = 20 + 100 * ((h & 0xFFF) / 4096)
    scale = 120 if exponent == 0 else 100
    return int(conversions * aov * scale)


@dataclass
class _Group:
    key: tuple[Any, ...]
    label: dict[str, Any]
    sums: list[int]
    pool: float = 0.0
    day_logs: dict[int, float] | None = None  # day -> sum of log(1 - r/P)


def report(
    seed: int,
    account: Account,
    since: date,
    until: date,
    level: str,
    breakdowns: list[str],
    daily: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, summary) as Meta-style JSON objects (metrics as strings).

    Cached: every page of a paged answer reads the same computed report.
    """
    return _report(seed, account, since, until, level, tuple(breakdowns), daily)


@lru_cache(maxsize=8)
def _report(
    seed: int,
    account: Account,
    since: date,
    until: date,
    level: str,
    breakdowns: tuple[str, ...],
    daily: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    units = units_of(seed, account)
    dims = [(name, breakdown_values(account, name)) for name in breakdowns]
    cells = list(product(*(values for _, values in dims))) if dims else [()]
    days = range(since.toordinal(), until.toordinal() + 1)
    groups: dict[tuple[Any, ...], _Group] = {}
    summary = _Group((), {}, [0] * 5, day_logs={})
    # Each unit's cell weights and pools, fixed for the whole range.
    per_unit = []
    for u in units:
        cw = [1.0] * len(cells)
        for k, cell in enumerate(cells):
            for (name, values), value in zip(dims, cell, strict=True):
                cw[k] *= _weights(u.campaign.salt, name, len(values))[values.index(value)]
        pools = [_POOL_DAYS * u.campaign.impressions * u.share * w + 1 for w in cw]
        per_unit.append((u, _cumulative(cw), pools))
    for u, _, pools in per_unit:
        for cell, pool in zip(cells, pools, strict=True):
            for day in days if daily else (None,):
                g = _group(groups, u, level, dims, cell, day)
                g.pool += pool
        summary.pool += _POOL_DAYS * u.campaign.impressions * u.share + 1
    by_campaign: dict[str, list[tuple[Unit, list[float], list[float]]]] = {}
    for entry in per_unit:
        by_campaign.setdefault(entry[0].campaign.id, []).append(entry)
    for day in days:
        for entries in by_campaign.values():
            c = entries[0][0].campaign
            imp, clk, spd, conv = campaign_day(c, day)
            val = _value(c, day, conv, account.exponent)
            ucum = _cumulative([e[0].share for e in entries])
            parts = [_split(m, ucum) for m in (imp, clk, spd, conv, val)]
            for n, (u, ccum, pools) in enumerate(entries):
                f = 1.1 + 0.6 * ((_key(u.salt, day) & 0xFFF) / 4096)
                whole = [p[n] for p in parts]
                _add(summary, day, whole, whole[0] / f)
                cparts = [_split(m, ccum) for m in whole]
                for k, cell in enumerate(cells):
                    metrics = [cp[k] for cp in cparts]
                    if any(metrics):
                        g = _group(groups, u, level, dims, cell, day if daily else None)
                        _add(g, day, metrics, min(metrics[0] / f, pools[k]))
    rows = [_json(account, g, since, until) for g in _ordered(groups)]
    return rows, _json(account, summary, since, until)


def _add(target: _Group, day: int, metrics: list[int], reached: float) -> None:
    for i, m in enumerate(metrics):
        target.sums[i] += m
    logs = target.day_logs
    assert logs is not None
    logs[day] = logs.get(day, 0.0) + math.log1p(-reached / target.pool)


def _group(
    groups: dict[tuple[Any, ...], _Group],
    u: Unit,
    level: str,
    dims: list[tuple[str, tuple[str, ...]]],
    cell: tuple[str, ...],
    day: int | None,
) -> _Group:
    entity: tuple[str, ...] = ()
    label: dict[str, Any] = {}
    if level != "account":
        c = u.campaign
        entity = (c.name, c.id)
        label = {"campaign_id": c.id, "campaign_name": c.name}
    if level in ("adset", "ad"):
        entity += (u.adset_name, u.adset_id)
        label.update(adset_id=u.adset_id, adset_name=u.adset_name)
    if level == "ad":
        entity += (u.ad_name, u.ad_id)
        label.update(ad_id=u.ad_id, ad_name=u.ad_name)
    key = (day or 0, entity, cell)
    g = groups.get(key)
    if g is None:
        label.update({name: value for (name, _), value in zip(dims, cell, strict=True)})
        if day is not None:
            label["date"] = date.fromordinal(day).isoformat()
        g = groups[key] = _Group(key, label, [0] * 5, day_logs={})
    return g


def _ordered(groups: dict[tuple[Any, ...], _Group]) -> Iterator[_Group]:
    for key in sorted(groups):
        g = groups[key]
        if any(g.sums):
            yield g


def _json(account: Account, g: _Group, since: date, until: date) -> dict[str, Any]:
    imp, clk, spd, conv, val = g.sums
    pool, reach = g.pool, 0.0
    for log_missed in (g.day_logs or {}).values():
        # That day's distinct people of the pool, then the union over the days.
        day_reach = pool * -math.expm1(log_missed)
        reach = reach + day_reach - reach * day_reach / pool if pool else 0.0
    people = min(imp, round(reach))
    out = dict(g.label)
    out.update(
        date_start=out.get("date", since.isoformat()),
        date_stop=out.get("date", until.isoformat()),
        impressions=str(imp),
        clicks=str(clk),
        spend=money(spd, account.exponent),
        reach=str(people),
        frequency=f"{imp / people:.6f}" if people else "0",
        conversions=str(conv),
        conversion_value=money(val, account.exponent),
    )
    return out
