"""Google Ads reports per level and per breakdown view, against the fake Google Ads REST API.

Follows developers.google.com/google-ads/api/fields/v22: the resources campaign, ad_group and
ad_group_ad; age_range_view, gender_view and geographic_view (country_criterion_id);
segments.device; metrics.conversions_value. None of these offers reach.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from backend.providers.base import AdAccount, Provider, ProviderRequestError, ReportQuery
from backend.reports.shape import Part, columns, exact_conversions, shape_rows, totals_of
from tests.backend.providers.reports.test_google_ads import Google, connect

pytestmark = pytest.mark.anyio

SINCE, UNTIL = date(2026, 10, 1), date(2026, 10, 3)


def query(level: str, **kw: Any) -> ReportQuery:
    return ReportQuery("111-222-3333", SINCE, UNTIL, level, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("level", "resource", "fields"),
    [
        ("account", "customer", []),
        ("campaign", "campaign", ["campaign.id", "campaign.name"]),
        ("adset", "ad_group", ["campaign.id", "ad_group.id", "ad_group.name"]),
        ("ad", "ad_group_ad", ["ad_group.id", "ad_group_ad.ad.id", "ad_group_ad.ad.name"]),
    ],
)
async def test_each_level_reads_its_resource(
    google: Google, google_provider: Provider, level: str, resource: str, fields: list[str]
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    raw = await google_provider.fetch_report_data(
        tokens.access_token, query(level, time="total", metrics=["spend", "conversion_value"])
    )
    gaql = state.queries[-1]
    assert f" FROM {resource} " in gaql
    assert "segments.date" not in gaql.split(" FROM ")[0]  # total: one row per entity
    assert all(f in gaql for f in [*fields, "metrics.conversions_value"])
    assert raw.rows
    assert all(r.date == SINCE for r in raw.rows)
    if level == "ad":
        assert {r.ad_id for r in raw.rows} >= {"88000", "88111"}
        assert all(r.adset_id and r.campaign_id for r in raw.rows)
    assert all(isinstance(r.conversion_value, Decimal) for r in raw.rows)
    assert sum(r.conversion_value for r in raw.rows) > 0


@pytest.mark.parametrize(
    ("breakdown", "view", "values"),
    [
        ("age", "age_range_view", {"AGE_RANGE_18_24", "AGE_RANGE_65_UP"}),
        ("gender", "gender_view", {"FEMALE", "MALE"}),
        ("country", "geographic_view",
         {"geoTargetConstants/2276", "geoTargetConstants/2250"}),
    ],
)  # fmt: skip
async def test_demographic_breakdowns_read_their_view_and_merge_ad_groups(
    google: Google, google_provider: Provider, breakdown: str, view: str, values: set[str]
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    q = query("campaign", breakdowns=(breakdown, "device"))
    raw = await google_provider.fetch_report_data(tokens.access_token, q)
    gaql = state.queries[-1]
    assert f" FROM {view} " in gaql
    assert "segments.device" in gaql
    assert {r.dims[breakdown] for r in raw.rows} == values
    assert {r.dims["device"] for r in raw.rows} == {"MOBILE", "DESKTOP"}
    # The view answers per ad group; the campaign rows add those up (2 ad groups each).
    keys = {(r.date, r.campaign_id, r.dims[breakdown], r.dims["device"]) for r in raw.rows}
    assert len(keys) == len(raw.rows) == 3 * 2 * 2 * 2


async def test_reach_is_not_made_up_and_platform_is_refused_in_words(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    raw = await google_provider.fetch_report_data(
        tokens.access_token, query("campaign", metrics=["impressions", "reach"], summary=True)
    )
    assert all(r.reach is None for r in raw.rows)
    assert raw.summary is None
    assert "no reach" in raw.notes[0]
    asked = len(state.queries)
    with pytest.raises(ProviderRequestError, match="no platform breakdown"):
        await google_provider.fetch_report_data(
            tokens.access_token, query("campaign", breakdowns=("platform",))
        )
    with pytest.raises(ProviderRequestError, match="per ad group, not per ad"):
        await google_provider.fetch_report_data(
            tokens.access_token, query("ad", breakdowns=("age",))
        )
    with pytest.raises(ProviderRequestError, match="separate views"):
        await google_provider.fetch_report_data(
            tokens.access_token, query("campaign", breakdowns=("age", "gender"))
        )
    assert len(state.queries) == asked  # refused before any call


async def test_fractional_conversions_stay_decimals_in_rows_and_totals(
    google: Google, google_provider: Provider
) -> None:
    _, state = google
    tokens, _ = await connect(google_provider)
    q = query("campaign", metrics=["spend", "conversions", "cpa"])
    raw = await google_provider.fetch_report_data(tokens.access_token, q)
    assert any(r.conversions_exact is not None and r.conversions_exact % 1 for r in raw.rows)
    account = AdAccount("1112223333", "Shop EU", "EUR", "Europe/Paris")
    part = Part(account, raw.rows, raw.summary, Decimal("0.01"))
    metrics = ["spend", "conversions", "cpa"]
    cols = columns(q, metrics, False, exact_conversions([part]))
    assert next(c for c in cols if c["key"] == "conversions")["type"] == "decimal"
    totals = totals_of([part], metrics, Decimal("0.01"))
    exact = sum((r.conversions_exact or Decimal(0) for r in raw.rows), Decimal(0))
    assert Decimal(totals["conversions"]) == exact  # not the sum of rounded counts
    assert exact != sum(r.conversions for r in raw.rows)
    spend = Decimal(totals["spend"])
    assert Decimal(totals["cpa"]) == (spend / exact).quantize(Decimal("0.01"))
    rows = shape_rows([part], q, metrics, False)
    assert all(isinstance(r[-2], str) for r in rows)
