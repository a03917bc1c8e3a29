"""GAQL for a report query: the resource per level, the view per breakdown.

Google Ads API reference (developers.google.com/google-ads/api/fields/v22/…):
levels -> `customer`, `campaign`, `ad_group`, `ad_group_ad`; demographic breakdowns live in
their own views, one row per ad group criterion: age -> `age_range_view`
(`ad_group_criterion.age_range.type`), gender -> `gender_view`
(`ad_group_criterion.gender.type`), country -> `geographic_view`
(`geographic_view.country_criterion_id`, a geo target constant id); device is a segment
(`segments.device`) any resource takes. Those views end at the ad group: no ad level there,
and only one of them per query. Google has no publisher-platform breakdown (its networks are
not Meta's placements) and reports no reach or frequency in these views: reach stays empty
with a note, it is never made up.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, Final

from backend.providers.base import ProviderRequestError, RawRow, ReportQuery

NO_REACH: Final = (
    "Google Ads reports no reach or frequency for campaigns, ad groups, ads or these "
    "breakdowns, so those columns stay empty."
)
_RESOURCE: Final = {
    "account": "customer",
    "campaign": "campaign",
    "adset": "ad_group",
    "ad": "ad_group_ad",
}
_ENTITY: Final = {
    "account": [],
    "campaign": ["campaign.id", "campaign.name"],
    "adset": ["campaign.id", "campaign.name", "ad_group.id", "ad_group.name"],
    "ad": ["campaign.id", "campaign.name", "ad_group.id", "ad_group.name",
           "ad_group_ad.ad.id", "ad_group_ad.ad.name"],
}  # fmt: skip
# breakdown -> (view resource, field)
_VIEWS: Final = {
    "age": ("age_range_view", "ad_group_criterion.age_range.type"),
    "gender": ("gender_view", "ad_group_criterion.gender.type"),
    "country": ("geographic_view", "geographic_view.country_criterion_id"),
}
_METRICS: Final = [
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
]


def report_gaql(query: ReportQuery) -> str:
    """The searchStream query; ProviderRequestError (in words) for what Google cannot answer."""
    views = [b for b in query.breakdowns if b in _VIEWS]
    if "platform" in query.breakdowns:
        raise ProviderRequestError(
            "Google Ads has no platform breakdown (its networks are not Meta's placements); "
            "break down by device instead."
        )
    if len(views) > 1:
        raise ProviderRequestError(
            f"Google Ads reports {', '.join(views)} in separate views; pick one of them "
            "(device may be added to any)."
        )
    if views and query.level == "ad":
        raise ProviderRequestError(
            f"Google Ads reports {views[0]} per ad group, not per ad; choose the ad set "
            "(ad group) level or above."
        )
    select = ["segments.date"] if query.time == "daily" else []
    select += _ENTITY[query.level]
    resource = _RESOURCE[query.level]
    if views:
        resource, field = _VIEWS[views[0]]
        select.append(field)
    if "device" in query.breakdowns:
        select.append("segments.device")
    select += _METRICS
    # Only fixed field names and ISO dates go into the query: nothing user-typed.
    since, until = query.since.isoformat(), query.until.isoformat()
    parts = [
        f"SELECT {', '.join(select)} FROM {resource}",  # noqa: S608 - GAQL, fixed names
        f"WHERE segments.date BETWEEN '{since}' AND '{until}'",
    ]
    if query.time == "daily":
        parts.append("ORDER BY segments.date")
    return " ".join(parts)


def dimension_value(name: str, row: dict[str, Any]) -> str:
    """A breakdown's value from a searchStream row (proto3 JSON, camelCase)."""
    if name == "device":
        return str((row.get("segments") or {}).get("device") or "")
    if name == "country":
        geo = row.get("geographicView") or {}
        return f"geoTargetConstants/{geo.get('countryCriterionId', '')}"
    criterion = row.get("adGroupCriterion") or {}
    if name == "age":
        return str((criterion.get("ageRange") or {}).get("type") or "")
    return str((criterion.get("gender") or {}).get("type") or "")


def merge_rows(rows: list[RawRow]) -> list[RawRow]:
    """View rows come one per ad group criterion: add up those that share every key."""
    merged: dict[tuple[Any, ...], RawRow] = {}
    for r in rows:
        key = (r.date, r.campaign_id, r.adset_id, r.ad_id, tuple(sorted(r.dims.items())))
        have = merged.get(key)
        if have is None:
            merged[key] = r
            continue
        merged[key] = replace(
            have,
            impressions=have.impressions + r.impressions,
            clicks=have.clicks + r.clicks,
            spend=have.spend + r.spend,
            conversions=have.conversions + r.conversions,
            conversion_value=have.conversion_value + r.conversion_value,
            conversions_exact=(have.conversions_exact or Decimal(0))
            + (r.conversions_exact or Decimal(0)),
        )
    return list(merged.values())
