"""Meta Marketing API (Graph API) report adapter: /me, /me/adaccounts, /{act_id}/insights."""

from __future__ import annotations

import json
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
    AdAccount,
    InvalidGrant,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
    RawRow,
    ReportQuery,
)
from backend.providers.reasons import meta_reason
from backend.secret import Secret

# Graph API error codes (developers.facebook.com/docs/graph-api/guides/error-handling and
# /docs/marketing-api/error-reference): throttling, transient, token and permission errors.
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80000, 80001, 80002, 80003, 80004, 80014})
TRANSIENT_CODES = frozenset({1, 2})
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({3, 10}) | frozenset(range(200, 300))


def _buc_retry_after(response: httpx.Response) -> float | None:
    """Seconds until access returns, from X-Business-Use-Case-Usage (given in minutes)."""
    raw = response.headers.get("X-Business-Use-Case-Usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        minutes = [
            float(entry.get("estimated_time_to_regain_access") or 0)
            for entries in usage.values()
            for entry in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    longest = max(minutes, default=0.0)
    return longest * 60 if longest > 0 else None


def graph_error(response: httpx.Response, provider: str, action: str) -> ProviderError:
    """A Graph API error body (`{"error": {"code", "error_subcode", ...}}`) in plain words.

    Meta's `message` text is left out on purpose: it is free text we do not control.
    """
    try:
        err = response.json().get("error") or {}
        code = int(err.get("code") or 0)
    except (ValueError, AttributeError, TypeError):
        err, code = {}, 0
    if code in TOKEN_CODES:
        # A Meta user token is the grant itself (there is no refresh token to fall back on),
        # so a rejected token means reconnecting, not refreshing.
        return InvalidGrant(
            f"{provider} says this grant was revoked or has expired — reconnect to keep "
            "reports flowing.",
            reason=meta_reason(err.get("error_subcode")),
        )
    if code in RATE_LIMIT_CODES:
        retry_after = _buc_retry_after(response)
        return RateLimited(
            f"{provider} is rate-limiting this app's report requests; try again in a few minutes.",
            retry_after,
        )
    if code in TRANSIENT_CODES or response.status_code >= 500:
        return ProviderUnavailable(f"{provider} had a temporary problem; try again shortly.")
    if code in PERMISSION_CODES:
        return ProviderRequestError(
            f"{provider} says this grant lacks the permission to {action} — reconnect and "
            "allow access to your ad accounts (ads_read)."
        )
    if code == 100:
        return ProviderRequestError(
            f"{provider} refused to {action}: it says the request is invalid (error 100). "
            "A shorter date range or another ad account may work."
        )
    label = f"error {code}" if code else f"HTTP {response.status_code}"
    return ProviderRequestError(f"{provider} refused to {action} ({label}).")


class MetaInsightsAdapter(ReportAdapter):
    name = "meta_insights"

    def __init__(
        self,
        ctx: HttpContext,
        *,
        base_url: str,
        conversion_action_types: list[str],
        page_size: int = 500,
    ) -> None:
        self._ctx = ctx
        self.base_url = base_url.rstrip("/")
        self._conversion_types = frozenset(conversion_action_types)
        self._page_size = page_size

    async def get(
        self, path: str, token: Secret, action: str, params: dict[str, str] | None = None
    ) -> Any:
        return await self._ctx.get_json(
            f"{self.base_url}{path}",
            token,
            action,
            error=lambda response, act: graph_error(response, self._ctx.provider, act),
            params=params,
        )

    async def _all_pages(
        self, path: str, token: Secret, action: str, params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """Follow cursor paging to the end.

        We rebuild each page from `cursors.after` instead of fetching `paging.next` verbatim:
        `next` is an absolute URL from the response, and our bearer token must only ever go to
        the configured Graph host.
        """
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        params = {**params, "limit": str(self._page_size)}
        while True:
            body = await self.get(path, token, action, params)
            items.extend(body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return items
            if after in seen:
                raise ProviderUnavailable(f"{self._ctx.provider} kept sending the same page.")
            seen.add(after)
            params = {**params, "after": str(after)}

    async def me(self, access_token: Secret) -> Me | None:
        body = await self.get("/me", access_token, "read who signed in", {"fields": "id,name"})
        return Me(subject=str(body["id"]), display_name=str(body.get("name") or body["id"]))

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        items = await self._all_pages(
            "/me/adaccounts",
            access_token,
            "list the ad accounts",
            {"fields": "id,account_id,name,currency,timezone_name"},
        )
        return [
            AdAccount(
                id=str(a.get("id") or f"act_{a['account_id']}"),
                name=str(a.get("name") or a.get("account_id") or a.get("id")),
                currency=str(a.get("currency") or "USD").upper(),
                time_zone=str(a.get("timezone_name") or "UTC"),
            )
            for a in items
        ]

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        act = query.account_id if query.account_id.startswith("act_") else f"act_{query.account_id}"
        fields = ["impressions", "clicks", "spend", "actions"]
        if query.level == "campaign":
            fields = ["campaign_id", "campaign_name", *fields]
        params = {
            "level": query.level,
            "time_increment": "1",  # one row per day
            "time_range": json.dumps(
                {"since": query.since.isoformat(), "until": query.until.isoformat()}
            ),
            "fields": ",".join(fields),
        }
        items = await self._all_pages(
            f"/{quote(act, safe='')}/insights", access_token, "read the report", params
        )
        try:
            return [self._row(item, query.level) for item in items]
        except (KeyError, ValueError, TypeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent report rows we could not read; try again shortly."
            ) from None

    def _row(self, item: dict[str, Any], level: str) -> RawRow:
        conversions = sum(
            to_int(a.get("value"))
            for a in item.get("actions") or []
            if a.get("action_type") in self._conversion_types
        )
        campaign = level == "campaign"
        return RawRow(
            date=date.fromisoformat(str(item["date_start"])),
            campaign_id=str(item["campaign_id"]) if campaign else None,
            campaign_name=str(item.get("campaign_name") or "") if campaign else None,
            impressions=to_int(item.get("impressions")),
            clicks=to_int(item.get("clicks")),
            spend=to_decimal(item.get("spend")),
            conversions=conversions,
        )
