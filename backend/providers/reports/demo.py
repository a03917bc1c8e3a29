"""Demo Ads (backend/sandbox/): an oauth2 provider whose report adapter reads the sandbox API.

API (docs/ARCHITECTURE.md "Demo Ads sandbox"): `/api/me`, `/api/accounts`,
`/api/accounts/{id}/insights?since&until&level&limit&after` with `paging.next_cursor`;
metrics arrive as strings, Meta-style.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RawReport,
    RawRow,
    RawSummary,
    ReportQuery,
)
from backend.providers.http import HttpContext
from backend.providers.reports.adapter import Me, ReportAdapter, to_decimal, to_int
from backend.secret import Secret

# The report's breakdown names -> the sandbox's (Meta's Insights names).
BREAKDOWN_PARAM = {
    "age": "age",
    "gender": "gender",
    "country": "country",
    "platform": "publisher_platform",
    "device": "device_platform",
}
# Metrics only the fuller (Meta-shaped) answer carries.
_EXTRA_FIELDS = "reach,frequency,conversion_value"


class DemoAdapter(ReportAdapter):
    name = "demo"
    levels = ("account", "campaign", "adset", "ad")
    breakdowns = tuple(BREAKDOWN_PARAM)

    def __init__(self, ctx: HttpContext, *, base_url: str, page_size: int = 500) -> None:
        self._ctx = ctx
        self._base = base_url.rstrip("/")
        self._page_size = page_size

    async def _get(
        self, path: str, token: Secret, action: str, params: dict[str, str] | None = None
    ) -> Any:
        return await self._ctx.get_json(
            f"{self._base}{path}", token, action, error=self._error, params=params
        )

    def _error(self, response: httpx.Response, action: str) -> ProviderError:
        name = self._ctx.provider
        if response.status_code == 401:
            return AccessTokenRejected(
                f"{name} refused the access token when we tried to {action}."
            )
        if response.status_code == 403:
            return ProviderRequestError(f"{name} says this grant may not {action}.")
        if response.status_code == 404:
            return ProviderRequestError(f"{name} does not know that ad account for this grant.")
        words = _description(response)
        if words:
            # The sandbox is ours and words its refusals for people; other text stays out.
            return ProviderRequestError(f"{name} refused to {action}: {words}")
        return ProviderRequestError(f"{name} refused to {action} (HTTP {response.status_code}).")

    async def me(self, access_token: Secret) -> Me | None:
        body = await self._get("/api/me", access_token, "read who signed in")
        name = body.get("name") or body.get("email") or str(body.get("id", ""))
        return Me(subject=str(body["id"]), display_name=str(name))

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        body = await self._get("/api/accounts", access_token, "list the ad accounts")
        return [
            AdAccount(
                id=str(a["id"]),
                name=str(a.get("name") or a["id"]),
                currency=str(a.get("currency") or "USD").upper(),
                time_zone=str(a.get("time_zone") or "UTC"),
            )
            for a in body.get("data", [])
        ]

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        return (await self.fetch_report_data(access_token, query)).rows

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        path = f"/api/accounts/{quote(query.account_id, safe='')}/insights"
        params = {
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "level": query.level,
            "limit": str(self._page_size),
        }
        if query.breakdowns:
            params["breakdowns"] = ",".join(BREAKDOWN_PARAM[b] for b in query.breakdowns)
        if query.time == "total":
            params["time_increment"] = "all_days"
        if query.summary:
            params["default_summary"] = "true"
        if set(query.metrics) & {"reach", "frequency", "conversion_value", "roas"}:
            params["fields"] = _EXTRA_FIELDS
        rows: list[RawRow] = []
        summary: RawSummary | None = None
        seen: set[str] = set()
        while True:
            self._ctx.check_size(len(seen) + 1, len(rows))
            body = await self._get(path, access_token, "read the report", params)
            try:
                rows.extend(_row(item, query) for item in body.get("data", []))
                if isinstance(body.get("summary"), dict):
                    summary = summary_of(body["summary"])
            except (KeyError, ValueError, TypeError):
                raise ProviderUnavailable(
                    f"{self._ctx.provider} sent report rows we could not read; try again shortly."
                ) from None
            cursor = (body.get("paging") or {}).get("next_cursor")
            self._ctx.check_size(len(seen) + 1, len(rows))
            if not cursor:
                return RawReport(rows, summary)
            if cursor in seen:  # a provider that loops its cursor must not hang us
                raise ProviderUnavailable(
                    f"{self._ctx.provider} kept sending the same page of the report."
                )
            seen.add(cursor)
            params = {**params, "after": str(cursor)}


def summary_of(item: dict[str, Any]) -> RawSummary:
    """Reach and frequency of the provider's own aggregate (absent: unknown, never a sum)."""
    reach = item.get("reach")
    freq = item.get("frequency")
    return RawSummary(
        reach=to_int(reach) if reach not in (None, "") else None,
        frequency=to_decimal(freq) if freq not in (None, "") else None,
    )


def _description(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("error_description") if isinstance(body, dict) else None
    return text[:200] if isinstance(text, str) else ""


def _row(item: dict[str, Any], query: ReportQuery) -> RawRow:
    level = query.level
    deep = level in ("campaign", "adset", "ad")
    reach = item.get("reach")
    day = item.get("date") or item.get("date_start")
    return RawRow(
        date=date.fromisoformat(str(day)) if query.time == "daily" else query.since,
        campaign_id=str(item.get("campaign_id") or "") if deep else None,
        campaign_name=str(item.get("campaign_name") or "") if deep else None,
        impressions=to_int(item.get("impressions")),
        clicks=to_int(item.get("clicks")),
        spend=to_decimal(item.get("spend")),
        conversions=to_int(item.get("conversions")),
        adset_id=str(item.get("adset_id") or "") if level in ("adset", "ad") else None,
        adset_name=str(item.get("adset_name") or "") if level in ("adset", "ad") else None,
        ad_id=str(item.get("ad_id") or "") if level == "ad" else None,
        ad_name=str(item.get("ad_name") or "") if level == "ad" else None,
        dims={b: str(item.get(BREAKDOWN_PARAM[b]) or "") for b in query.breakdowns},
        reach=to_int(reach) if reach not in (None, "") else None,
        conversion_value=to_decimal(item.get("conversion_value")),
    )
