"""The full reports contract through a real backend and the Demo Ads sandbox.

Follows docs/ARCHITECTURE.md "Report" and Meta's Insights API (level, breakdowns,
time_increment=all_days, default_summary), which the sandbox's API is shaped after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backend.reports import service
from backend.reports.schemas import ReportOut
from tests.backend.api.conftest import connect, direct_grant, sandbox_get
from tests.backend.conftest import Backend, SignedIn

UNTIL = date(2026, 11, 7)
SINCE = UNTIL - timedelta(days=6)
RANGE = {"since": str(SINCE), "until": str(UNTIL)}


def report(user: SignedIn, conn_id: str, **params: Any) -> Any:
    resp = user.client.get(f"/v1/connections/{conn_id}/reports", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def dicts(body: Any) -> list[dict[str, Any]]:
    keys = [c["key"] for c in body["columns"]]
    return [dict(zip(keys, r, strict=True)) for r in body["rows"]]


def test_ad_level_rows_carry_the_entity_keys_above_and_add_up_to_the_account(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    metrics = "impressions,clicks,spend,conversions,conversion_value"
    ads = report(user, conn["id"], level="ad", metrics=metrics, **RANGE)
    keys = [c["key"] for c in ads["columns"]]
    assert keys[:7] == ["date", "campaign_id", "campaign_name", "adset_id", "adset_name",
                        "ad_id", "ad_name"]  # fmt: skip
    rows = dicts(ads)
    assert all(r["ad_id"].startswith(r["adset_id"]) for r in rows)
    assert all(r["adset_id"].startswith(r["campaign_id"]) for r in rows)
    account = report(user, conn["id"], level="account", metrics=metrics, **RANGE)
    assert ads["totals"] == account["totals"]  # the split of each day adds up exactly
    adsets = report(user, conn["id"], level="adset", time="total", metrics=metrics, **RANGE)
    assert "date" not in [c["key"] for c in adsets["columns"]]
    assert adsets["totals"] == account["totals"]


def test_breakdowns_add_a_key_each_and_the_cells_sum_to_the_whole(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    body = report(
        user, conn["id"], level="campaign", breakdowns=["age", "gender"], time="total",
        metrics="impressions,clicks,spend", **RANGE,
    )  # fmt: skip
    keys = [c["key"] for c in body["columns"]]
    assert keys[:4] == ["campaign_id", "campaign_name", "age", "gender"]
    rows = dicts(body)
    assert {r["gender"] for r in rows} <= {"female", "male", "unknown"}
    assert sum(r["impressions"] for r in rows) == body["totals"]["impressions"]
    comma = report(
        user, conn["id"], level="campaign", breakdowns="age,gender", time="total",
        metrics="impressions,clicks,spend", **RANGE,
    )  # fmt: skip
    assert comma["rows"] == body["rows"]  # repeatable or a comma list: the same
    for name in ("country", "platform", "device"):
        one = report(user, conn["id"], breakdowns=name, time="total", metrics="spend", **RANGE)
        assert [c["key"] for c in one["columns"]] == [name, "spend"]


def test_reach_and_frequency_totals_come_from_the_providers_aggregate(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    account = conn["accounts"][0]
    body = report(user, conn["id"], level="campaign", metrics="impressions,reach,frequency",
                  **RANGE)  # fmt: skip
    rows = dicts(body)
    token = direct_grant(backend.sandbox_url)["access_token"]
    summary = sandbox_get(
        backend.sandbox_url, f"/api/accounts/{account['id']}/insights", token,
        since=str(SINCE), until=str(UNTIL), time_increment="all_days", default_summary="true",
    ).json()["summary"]  # fmt: skip
    assert body["totals"]["reach"] == int(summary["reach"])
    assert body["totals"]["reach"] < sum(r["reach"] for r in rows)  # never the daily sum
    assert Decimal(body["totals"]["frequency"]) == Decimal(summary["frequency"]).quantize(
        Decimal("0.01")
    )
    assert Decimal(body["totals"]["frequency"]) != (
        Decimal(body["totals"]["impressions"]) / sum(r["reach"] for r in rows)
    ).quantize(Decimal("0.01"))
    # The same range at another level and with breakdowns: the same aggregate.
    ads = report(user, conn["id"], level="ad", breakdowns="age", time="total",
                 metrics="reach", **RANGE)  # fmt: skip
    assert ads["totals"]["reach"] == body["totals"]["reach"]


def test_roas_and_cpa_in_totals_come_from_the_summed_parts(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    body = report(user, conn["id"], level="campaign",
                  metrics="spend,conversions,conversion_value,cpa,roas", **RANGE)  # fmt: skip
    t = body["totals"]
    spend, value = Decimal(t["spend"]), Decimal(t["conversion_value"])
    assert Decimal(t["cpa"]) == (spend / t["conversions"]).quantize(Decimal("0.01"))
    assert Decimal(t["roas"]) == (value / spend).quantize(Decimal("0.01"))
    rows = [r for r in dicts(body) if r["roas"] is not None]
    average = sum((Decimal(r["roas"]) for r in rows), Decimal(0)) / len(rows)
    assert average.quantize(Decimal("0.01")) != Decimal(t["roas"])
    assert all(isinstance(r["spend"], str) and isinstance(r["roas"], str) for r in rows)


def test_several_accounts_never_add_money_across_currencies(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    ids = [a["id"] for a in conn["accounts"]]
    body = report(user, conn["id"], all_accounts="true", metrics="impressions,spend,reach",
                  time="total", **RANGE)  # fmt: skip
    keys = [c["key"] for c in body["columns"]]
    assert keys[:2] == ["account_id", "currency"]
    rows = dicts(body)
    assert {r["account_id"] for r in rows} == set(ids)
    by_currency = body["totals_by_currency"]
    assert set(by_currency) == {a["currency"] for a in conn["accounts"]}
    for currency, totals in by_currency.items():
        mine = [r for r in rows if r["currency"] == currency]
        assert Decimal(totals["spend"]) == sum(Decimal(r["spend"]) for r in mine)
    assert body["totals"]["spend"] is None  # mixed currencies: no money total
    assert body["totals"]["impressions"] == sum(r["impressions"] for r in rows)
    assert body["totals"]["reach"] is None
    assert body["notes"]
    two = report(user, conn["id"], account=ids[:2], metrics="spend", time="total", **RANGE)
    assert {r[0] for r in two["rows"]} == set(ids[:2])


def test_compare_gives_the_previous_period_totals_and_the_change(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    body = report(user, conn["id"], compare="previous_period",
                  metrics="impressions,spend,ctr", **RANGE)  # fmt: skip
    comp = body["comparison"]
    assert (comp["since"], comp["until"]) == ("2026-10-25", "2026-10-31")
    before = report(user, conn["id"], since="2026-10-25", until="2026-10-31",
                    metrics="impressions,spend,ctr")  # fmt: skip
    assert comp["totals"] == before["totals"]
    imp_now, imp_then = body["totals"]["impressions"], before["totals"]["impressions"]
    expected = ((Decimal(imp_now) - imp_then) / imp_then).quantize(Decimal("0.0001"))
    assert Decimal(comp["change"]["impressions"]) == expected
    year = report(user, conn["id"], compare="previous_year", metrics="clicks", **RANGE)
    assert year["comparison"]["since"] == "2025-11-01"


def test_a_range_past_today_stops_at_today_and_a_future_one_is_refused(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    far = date.today() + timedelta(days=400)
    resp = user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"since": str(far), "until": str(far), "time": "total"},
    )
    assert resp.status_code == 422
    assert "after today" in resp.json()["detail"]
    recent = date.today() - timedelta(days=3)
    body = report(user, conn["id"], since=str(recent), until=str(far - timedelta(days=390)),
                  time="total", metrics="impressions")  # fmt: skip
    assert date.fromisoformat(body["until"]) <= date.today() + timedelta(days=1)
    preset = report(user, conn["id"], preset="last_7d", metrics="clicks")
    assert len({r[0] for r in preset["rows"]}) == 7
    assert date.fromisoformat(preset["until"]) < date.today() + timedelta(days=1)


def test_every_new_shape_matches_the_documented_answer(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    everything = (
        "impressions,clicks,spend,reach,frequency,conversions,conversion_value,ctr,cpc,cpm,cpa,roas"
    )
    for params in (
        {"level": "ad", "breakdowns": "age,device", "time": "total", "compare": "previous_year"},
        {"all_accounts": "true", "level": "adset", "breakdowns": "country"},
        {"preset": "yesterday", "level": "campaign", "breakdowns": "platform,gender"},
    ):
        body = report(user, conn["id"], metrics=everything, **params,
                      **({} if "preset" in params else RANGE))  # fmt: skip
        ReportOut.model_validate(body)


def test_presets_follow_each_accounts_time_zone_with_a_fixed_clock(
    backend: Backend, user: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 23:30 UTC on 30 November 2026: already 1 December in Berlin, still 30 November in
    # New York. The backend serves from this process, so its clock can be fixed here.
    fixed = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    monkeypatch.setattr(service, "_now", lambda: fixed)
    conn = connect(user)
    zones = {a["id"]: a["time_zone"] for a in conn["accounts"]}
    berlin = next(i for i, z in zones.items() if z == "Europe/Berlin")
    new_york = next(i for i, z in zones.items() if z == "America/New_York")
    body = report(user, conn["id"], account=[berlin, new_york], preset="yesterday",
                  time="total", metrics="clicks")  # fmt: skip
    ranges = {a["id"]: (a["since"], a["until"]) for a in body["accounts"]}
    assert ranges[berlin] == ("2026-11-30", "2026-11-30")
    assert ranges[new_york] == ("2026-11-29", "2026-11-29")
    month = report(user, conn["id"], account=berlin, preset="this_month", metrics="clicks")
    assert (month["since"], month["until"]) == ("2026-12-01", "2026-12-01")
    assert {r[0] for r in month["rows"]} <= {"2026-12-01"}
    default = report(user, conn["id"], account=new_york, metrics="clicks")  # last_30d
    assert (default["since"], default["until"]) == ("2026-10-31", "2026-11-29")
