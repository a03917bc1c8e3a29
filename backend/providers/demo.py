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

from backend.providers.adapter import (
    HttpContext,
    Me,
    ReportAdapter,
    to_decimal,
    to_int,
)
from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RawRow,
    ReportQuery,
)
from backend.secret import Secret


class DemoAdapter(ReportAdapter):
    name = "demo"

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
        path = f"/api/accounts/{quote(query.account_id, safe='')}/insights"
        params = {
            "since": query.since.isoformat(),
            "until": query.until.isoformat(),
            "level": query.level,
            "limit": str(self._page_size),
        }
        rows: list[RawRow] = []
        seen: set[str] = set()
        while True:
            body = await self._get(path, access_token, "read the report", params)
            try:
                rows.extend(_row(item, query.level) for item in body.get("data", []))
            except (KeyError, ValueError, TypeError):
                raise ProviderUnavailable(
                    f"{self._ctx.provider} sent report rows we could not read; try again shortly."
                ) from None
            cursor = (body.get("paging") or {}).get("next_cursor")
            if not cursor:
                return rows
            if cursor in seen:  # a provider that loops its cursor must not hang us
                raise ProviderUnavailable(
                    f"{self._ctx.provider} kept sending the same page of the report."
                )
            seen.add(cursor)
            params = {**params, "after": str(cursor)}


def _description(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    text = body.get("error_description") if isinstance(body, dict) else None
    return text[:200] if isinstance(text, str) else ""


def _row(item: dict[str, Any], level: str) -> RawRow:
    campaign = level == "campaign"
    return RawRow(
        date=date.fromisoformat(str(item["date"])),
        campaign_id=str(item.get("campaign_id") or "") if campaign else None,
        campaign_name=str(item.get("campaign_name") or "") if campaign else None,
        impressions=to_int(item.get("impressions")),
        clicks=to_int(item.get("clicks")),
        spend=to_decimal(item.get("spend")),
        conversions=to_int(item.get("conversions")),
    )
