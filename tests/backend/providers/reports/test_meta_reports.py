"""Meta Insights beyond daily account/campaign rows, against the fake Graph API.

Follows developers.facebook.com/docs/marketing-api/insights: `level` (adset, ad),
`breakdowns` (age, gender, country, publisher_platform, device_platform),
`actions`/`action_values` of one action type with `action_attribution_windows`,
`time_increment=all_days`, `default_summary=true`, and "Asynchronous jobs" (report runs,
async_status / async_percent_completion); error_subcode 1487534 from the error reference.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from backend.providers.base import Provider, ReportQuery
from tests.backend.providers.conftest import build
from tests.backend.providers.platforms.test_meta import Meta, connect

pytestmark = pytest.mark.anyio

SINCE, UNTIL = date(2026, 11, 1), date(2026, 11, 3)


async def _provider(meta: Meta, **reports: Any) -> Provider:
    server, state = meta
    return await build(
        "meta",
        {
            "preset": "meta",
            "client_id": state.app_id,
            "client_secret_env": "META_SECRET",
            "authorization_endpoint": f"{server.url}/v23.0/dialog/oauth",
            "reports": {"base_url": f"{server.url}/v23.0", "page_size": 50,
                        "poll_interval_s": 0.01, **reports},
        },
        env={"META_SECRET": state.app_secret},
    )  # fmt: skip


@pytest.fixture
async def provider(meta: Meta) -> AsyncIterator[Provider]:
    p = await _provider(meta)
    yield p
    await p.aclose()


def query(level: str = "account", **kw: Any) -> ReportQuery:
    return ReportQuery("act_1000", SINCE, UNTIL, level, **kw)  # type: ignore[arg-type]


async def test_ad_level_rows_carry_campaign_adset_and_ad(meta: Meta, provider: Provider) -> None:
    _, state = meta
    tokens = await connect(provider)
    raw = await provider.fetch_report_data(tokens.access_token, query("ad"))
    assert len(raw.rows) == 3 * 2 * 2 * 3  # campaigns x ad sets x ads x days
    assert all(r.ad_id and r.ad_id.startswith("23852") and r.adset_id for r in raw.rows)
    sent = state.insight_params[-1]
    assert sent["level"] == "ad"
    assert {"campaign_id", "adset_id", "adset_name", "ad_id", "ad_name"} <= set(
        sent["fields"].split(",")
    )
    adsets = await provider.fetch_report_data(tokens.access_token, query("adset"))
    assert {r.adset_name for r in adsets.rows} >= {"Ad set 0.0", "Ad set 2.1"}
    assert all(r.ad_id is None for r in adsets.rows)


async def test_breakdowns_use_metas_names_and_come_back_per_row(
    meta: Meta, provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(provider)
    q = query("campaign", breakdowns=("age", "platform", "device"), time="total")
    raw = await provider.fetch_report_data(tokens.access_token, q)
    sent = state.insight_params[-1]
    assert sent["breakdowns"] == "age,publisher_platform,device_platform"
    assert len(raw.rows) == 3 * 3 * 2 * 2
    assert {r.dims["platform"] for r in raw.rows} == {"facebook", "instagram"}
    assert {r.dims["device"] for r in raw.rows} == {"mobile_app", "desktop"}
    for name, meta_name in (("gender", "gender"), ("country", "country")):
        one = await provider.fetch_report_data(tokens.access_token, query(breakdowns=(name,)))
        assert state.insight_params[-1]["breakdowns"] == meta_name
        assert {r.dims[name] for r in one.rows} == set(
            {"gender": ("female", "male"), "country": ("DE", "FR")}[name]
        )


async def test_conversions_and_value_count_one_action_type_with_attribution_windows(
    meta: Meta, provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(provider)
    q = query(metrics=["conversions", "conversion_value", "roas"], time="total")
    raw = await provider.fetch_report_data(tokens.access_token, q)
    expected = state.insights("act_1000", SINCE, UNTIL, "account", daily=False)[0]
    pixel = "offsite_conversion.fb_pixel_purchase"
    conv = [a for a in expected["actions"] if a["action_type"] == pixel][0]
    value = [a for a in expected["action_values"] if a["action_type"] == pixel][0]
    # `purchase` reports the same sales: counting both would double them.
    assert raw.rows[0].conversions == int(conv["value"])
    assert raw.rows[0].conversion_value == Decimal(value["value"])
    assert "action_values" in state.insight_params[-1]["fields"].split(",")
    assert "action_attribution_windows" not in state.insight_params[-1]

    other = await _provider(meta, conversion_action="purchase",
                            attribution_windows=["7d_click", "1d_view"])  # fmt: skip
    try:
        tokens = await connect(other)
        again = await other.fetch_report_data(tokens.access_token, q)
    finally:
        await other.aclose()
    sent = state.insight_params[-1]
    assert json.loads(sent["action_attribution_windows"]) == ["7d_click", "1d_view"]
    assert again.rows[0].conversions == int(conv["value"])  # the same sales, one type


async def test_all_days_gives_one_row_per_entity_and_the_summary_gives_reach(
    meta: Meta, provider: Provider
) -> None:
    _, state = meta
    tokens = await connect(provider)
    q = query("campaign", time="total", summary=True, metrics=["impressions", "reach"])
    raw = await provider.fetch_report_data(tokens.access_token, q)
    sent = state.insight_params[-1]
    assert sent["time_increment"] == "all_days"
    assert sent["default_summary"] == "true"
    assert {"reach", "frequency"} <= set(sent["fields"].split(","))
    assert len(raw.rows) == 3
    assert all(r.date == SINCE for r in raw.rows)
    rows = state.insights("act_1000", SINCE, UNTIL, "campaign", daily=False)
    assert raw.summary is not None
    assert raw.summary.reach == int(state.summary(rows)["reach"])
    assert raw.summary.reach != sum(r.reach or 0 for r in raw.rows)  # Meta's, not our sum
    assert raw.summary.frequency is not None


async def test_a_large_report_runs_asynchronously(meta: Meta) -> None:
    _, state = meta
    provider = await _provider(meta, async_rows=10)
    try:
        tokens = await connect(provider)
        q = query("ad", summary=True, metrics=["impressions", "reach"])
        raw = await provider.fetch_report_data(tokens.access_token, q)
    finally:
        await provider.aclose()
    assert len(state.runs) == 1
    run_id = next(iter(state.runs))
    assert state.hits["/v23.0/act_1000/insights"] == 1  # the POST only
    assert state.hits[f"/v23.0/{run_id}"] == 3  # not started, running, completed
    assert len(raw.rows) == 36
    assert raw.summary is not None
    assert raw.summary.reach == int(state.runs[run_id]["summary"]["reach"])
    posted = [m for m, p, _ in state.requests if p == "/v23.0/act_1000/insights"]
    assert posted == ["POST"]


@pytest.mark.parametrize("code", [100, 1])
async def test_subcode_1487534_sends_the_report_the_asynchronous_way(
    meta: Meta, provider: Provider, code: int
) -> None:
    _, state = meta
    tokens = await connect(provider)
    state.too_big_code = code
    raw = await provider.fetch_report_data(tokens.access_token, query("campaign"))
    assert len(state.runs) == 1
    assert len(raw.rows) == 9
    methods = [m for m, p, _ in state.requests if p == "/v23.0/act_1000/insights"]
    assert methods[0] == "GET"
    assert methods[-1] == "POST"
