"""Demo Ads insights shaped after Meta's Insights API: levels down to the ad, breakdowns,
time_increment=all_days, default_summary with a deduplicated reach, no future rows.

Follows developers.facebook.com/docs/marketing-api/insights (level, breakdowns,
time_increment, default_summary) as the sandbox's API does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.sandbox.conftest import Sandbox

WEEK = {"since": "2026-11-01", "until": "2026-11-07"}


@pytest.fixture
def token(sandbox: Sandbox) -> str:
    access: str = sandbox.connect(user="Dana Demo")["access_token"]
    return access


def test_levels_breakdowns_and_summary(sandbox: Sandbox, token: str) -> None:
    def get(**params: str) -> dict[str, object]:
        resp = sandbox.api("/api/accounts/act_1001/insights", token, limit="5000", **params)
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    account = get(**WEEK, time_increment="all_days", default_summary="true")
    rows = account["data"]
    assert isinstance(rows, list)
    assert len(rows) == 1
    summary = account["summary"]
    assert isinstance(summary, dict)
    ads = get(**WEEK, level="ad", breakdowns="age,gender", fields="reach")
    ad_rows = ads["data"]
    assert isinstance(ad_rows, list)
    assert {"campaign_id", "adset_id", "ad_id", "age", "gender", "date"} <= set(ad_rows[0])
    # The parts add up exactly; reach does not (people are counted once per range).
    assert sum(int(r["impressions"]) for r in ad_rows) == int(summary["impressions"])
    assert sum(int(r["reach"]) for r in ad_rows) > int(summary["reach"])
    assert int(rows[0]["reach"]) == int(summary["reach"])
    daily = get(**WEEK, fields="reach")["data"]
    assert isinstance(daily, list)
    assert max(int(r["reach"]) for r in daily) <= int(summary["reach"])
    again = get(**WEEK, level="ad", breakdowns="age,gender", fields="reach")
    assert again["data"] == ad_rows  # deterministic


def test_no_rows_for_days_still_to_come_in_the_accounts_time_zone(
    sandbox: Sandbox, token: str
) -> None:
    today = datetime.fromtimestamp(sandbox.clock(), UTC).astimezone(ZoneInfo("Asia/Tokyo"))
    since = today.date() - timedelta(days=2)
    until = today.date() + timedelta(days=5)
    for extra in ({}, {"level": "adset"}):
        resp = sandbox.api("/api/accounts/act_1003/insights", token, since=str(since),
                           until=str(until), limit="5000", **extra)  # fmt: skip
        assert resp.status_code == 200, resp.text
        days = {date.fromisoformat(r["date"]) for r in resp.json()["data"]}
        assert days
        assert max(days) <= today.date()
