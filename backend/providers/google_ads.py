"""Google Ads API (REST) report adapter: listAccessibleCustomers and googleAds:searchStream.

Every call carries the `developer-token` header and, when configured, `login-customer-id`
(the manager account through which access is granted). The OAuth side is the generic oauth2
provider with the `google_ads` preset (access_type=offline, prompt=consent, iss in callbacks).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from backend.providers.adapter import (
    HttpContext,
    Me,
    ReportAdapter,
    bearer,
    json_of,
    to_decimal,
    to_int,
)
from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
    RawRow,
    ReportQuery,
)
from backend.providers.http import request_with_retries
from backend.secret import Secret

MICROS = Decimal(1_000_000)


class CustomerNotReadable(ProviderRequestError):
    """This one customer is closed or not reachable with this grant; others may be."""


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    if isinstance(body, list):  # searchStream wraps errors in its array of batches
        body = next((b for b in body if isinstance(b, dict) and "error" in b), {})
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _failure_codes(err: dict[str, Any]) -> list[str]:
    """The GoogleAdsFailure enum names (e.g. DEVELOPER_TOKEN_NOT_APPROVED); safe to show."""
    codes: list[str] = []
    for detail in err.get("details") or []:
        for failure in detail.get("errors") or []:
            codes.extend(str(v) for v in (failure.get("errorCode") or {}).values())
    return codes


def google_ads_error(response: httpx.Response, provider: str, action: str) -> ProviderError:
    """google.rpc.Status (`{"error": {"code", "status", "details"}}`) in plain words."""
    err = _error_body(response)
    status = str(err.get("status") or "")
    codes = _failure_codes(err)
    named = f" ({', '.join(codes)})" if codes else ""
    if status == "UNAUTHENTICATED" or response.status_code == 401:
        return AccessTokenRejected(f"{provider} refused the access token{named}.")
    if status == "RESOURCE_EXHAUSTED" or response.status_code == 429:
        return RateLimited(
            f"{provider} says this app used up its API quota for now{named}; try again later."
        )
    if status in ("UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED") or response.status_code >= 500:
        return ProviderUnavailable(f"{provider} had a temporary problem; try again shortly.")
    if any(c.startswith("DEVELOPER_TOKEN") for c in codes):
        return ProviderRequestError(
            f"{provider} refused this backend's developer token{named} — check "
            "developer_token_env in the backend configuration."
        )
    if status == "PERMISSION_DENIED":
        return CustomerNotReadable(
            f"{provider} says this grant may not {action}{named}; if access comes through a "
            "manager account, set login_customer_id in the backend configuration."
        )
    return ProviderRequestError(f"{provider} refused to {action}{named}.")


class GoogleAdsAdapter(ReportAdapter):
    name = "google_ads"

    def __init__(
        self,
        ctx: HttpContext,
        *,
        base_url: str,
        api_version: str,
        developer_token: Secret,
        login_customer_id: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._root = f"{base_url.rstrip('/')}/{api_version}"
        self._developer_token = developer_token
        self._login_customer_id = login_customer_id

    def _headers(self, token: Secret) -> dict[str, str]:
        headers = bearer(token)
        headers["developer-token"] = self._developer_token.reveal()
        if self._login_customer_id:
            headers["login-customer-id"] = self._login_customer_id
        return headers

    async def _call(
        self, method: str, path: str, token: Secret, action: str, json: Any = None
    ) -> Any:
        response = await request_with_retries(
            self._ctx.client,
            method,
            f"{self._root}{path}",
            provider=self._ctx.provider,
            action=action,
            policy=self._ctx.policy,
            json=json,
            headers=self._headers(token),
        )
        if response.status_code != 200:
            raise google_ads_error(response, self._ctx.provider, action)
        body = json_of(response, self._ctx.provider, action)
        if _error_body(response):  # an error after some batches: the stream was cut short
            raise google_ads_error(response, self._ctx.provider, action)
        return body

    async def search_stream(
        self, customer_id: str, gaql: str, token: Secret, action: str
    ) -> list[dict[str, Any]]:
        """All result rows of a GAQL query; searchStream sends them as an array of batches."""
        digits = "".join(ch for ch in customer_id if ch.isdigit())
        body = await self._call(
            "POST", f"/customers/{digits}/googleAds:searchStream", token, action, {"query": gaql}
        )
        batches = body if isinstance(body, list) else [body]
        return [row for batch in batches for row in (batch.get("results") or [])]

    async def me(self, access_token: Secret) -> Me | None:
        return None  # Google Ads has no "me"; identity comes from the OIDC id_token

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        body = await self._call(
            "GET", "/customers:listAccessibleCustomers", access_token, "list the ad accounts"
        )
        accounts: list[AdAccount] = []
        for resource in body.get("resourceNames") or []:
            customer_id = str(resource).rsplit("/", 1)[-1]
            try:
                rows = await self.search_stream(
                    customer_id,
                    "SELECT customer.id, customer.descriptive_name, customer.currency_code, "
                    "customer.time_zone FROM customer LIMIT 1",
                    access_token,
                    "read an ad account's details",
                )
            except CustomerNotReadable:
                continue  # closed, or reachable only through a manager we were not told of
            for row in rows:
                c = row.get("customer") or {}
                accounts.append(
                    AdAccount(
                        id=str(c.get("id") or customer_id),
                        name=str(c.get("descriptiveName") or customer_id),
                        currency=str(c.get("currencyCode") or "USD").upper(),
                        time_zone=str(c.get("timeZone") or "UTC"),
                    )
                )
        return accounts

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        campaign = query.level == "campaign"
        select = ["segments.date"]
        if campaign:
            select += ["campaign.id", "campaign.name"]
        select += [
            "metrics.impressions",
            "metrics.clicks",
            "metrics.cost_micros",
            "metrics.conversions",
        ]
        # Only fixed field names and ISO dates go into the query: nothing user-typed.
        resource = "campaign" if campaign else "customer"
        since, until = query.since.isoformat(), query.until.isoformat()
        gaql = " ".join(
            [
                f"SELECT {', '.join(select)} FROM {resource}",  # noqa: S608 - GAQL, fixed names
                f"WHERE segments.date BETWEEN '{since}' AND '{until}'",
                "ORDER BY segments.date",
            ]
        )
        rows = await self.search_stream(query.account_id, gaql, access_token, "read the report")
        try:
            return [_row(row, campaign) for row in rows]
        except (KeyError, ValueError, TypeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent report rows we could not read; try again shortly."
            ) from None


def _row(row: dict[str, Any], campaign: bool) -> RawRow:
    # proto3 JSON: int64 arrives as a string, zero values may be left out altogether.
    metrics = row.get("metrics") or {}
    c = row.get("campaign") or {}
    return RawRow(
        date=date.fromisoformat(str(row["segments"]["date"])),
        campaign_id=str(c["id"]) if campaign else None,
        campaign_name=str(c.get("name") or "") if campaign else None,
        impressions=to_int(metrics.get("impressions")),
        clicks=to_int(metrics.get("clicks")),
        spend=to_decimal(metrics.get("costMicros")) / MICROS,
        conversions=to_int(metrics.get("conversions")),
    )
