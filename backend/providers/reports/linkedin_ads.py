"""LinkedIn Marketing API report adapter: adAccountUsers, adAccounts, adCampaigns, adAnalytics.

Documents followed (learn.microsoft.com/linkedin/marketing/…):
- integrations/ads/account-structure/create-and-manage-account-users: `GET /rest/adAccountUsers
  ?q=authenticatedUser` lists the ad accounts the member has a role on (`account` is a
  `urn:li:sponsoredAccount:{id}` URN, `user` the member's `urn:li:person:{id}`).
- integrations/ads/account-structure/create-and-manage-accounts: `GET /rest/adAccounts/{id}`
  (name, currency; LinkedIn keeps no time zone on an ad account: reporting days are UTC).
- integrations/ads-reporting/ads-reporting: `GET /rest/adAnalytics?q=analytics&pivot=…
  &timeGranularity=DAILY&dateRange=(start:(…),end:(…))&accounts=List(…)&fields=…`; no paging.
- versioning: every call carries `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version:
  2.0.0` (Rest.li 2.0 query syntax: parentheses and commas stay literal, URNs are encoded).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    InvalidGrant,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RawRow,
    ReportQuery,
)
from backend.providers.http import HttpContext, json_of, request_with_retries
from backend.providers.reports.adapter import Me, ReportAdapter, to_decimal, to_int
from backend.secret import Secret

ACCOUNT_URN = "urn:li:sponsoredAccount:"
CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
# Conversions: LinkedIn's Insight-Tag conversions (the adAnalytics metric of that name).
FIELDS = "dateRange,pivotValues,impressions,clicks,costInLocalCurrency,externalWebsiteConversions"
PAGE = 100


def linkedin_error(response: httpx.Response, provider: str, action: str) -> ProviderError:
    """LinkedIn's error body (`{"status", "serviceErrorCode", "code", "message"}`) in words."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    code = str(body.get("code") or "") if isinstance(body, dict) else ""
    status = response.status_code
    if code == "REVOKED_ACCESS_TOKEN":
        return InvalidGrant(
            f"{provider} says access was removed.",
            reason="You removed this app's access in your LinkedIn settings; reconnect to "
            "allow access again.",
        )
    if status == 401:
        return AccessTokenRejected(f"{provider} refused the access token.")
    if status == 403:
        return ProviderRequestError(
            f"{provider} says this grant may not {action} — reconnect and allow reading your "
            "ad accounts and their reports (r_ads, r_ads_reporting), or ask the account's admin "
            "for a role on it."
        )
    if status == 426:
        return ProviderRequestError(
            f"{provider} no longer serves the API version this backend asks for — set "
            "reports.api_version to a current LinkedIn-Version (YYYYMM) in the configuration."
        )
    if status >= 500:
        return ProviderUnavailable(f"{provider} had a temporary problem; try again shortly.")
    return ProviderRequestError(f"{provider} refused to {action} (HTTP {status}).")


def _urn_id(urn: Any, prefix: str) -> str:
    text = str(urn or "")
    return text[len(prefix) :] if text.startswith(prefix) else text.rsplit(":", 1)[-1]


def _date_of(value: dict[str, Any]) -> date:
    return date(int(value["year"]), int(value["month"]), int(value["day"]))


def _restli_date(day: date) -> str:
    return f"(year:{day.year},month:{day.month},day:{day.day})"


class LinkedInAdsAdapter(ReportAdapter):
    name = "linkedin_ads"

    def __init__(self, ctx: HttpContext, *, base_url: str, api_version: str) -> None:
        self._ctx = ctx
        self._base = base_url.rstrip("/")
        self._version = api_version

    async def _get(self, path_and_query: str, token: Secret, action: str) -> Any:
        # The query is built here in Rest.li 2.0 syntax; httpx's own params would encode the
        # parentheses and commas LinkedIn needs literal.
        response = await request_with_retries(
            self._ctx.client,
            "GET",
            f"{self._base}{path_and_query}",
            provider=self._ctx.provider,
            action=action,
            policy=self._ctx.policy,
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "Accept": "application/json",
                "LinkedIn-Version": self._version,
                "X-Restli-Protocol-Version": "2.0.0",
            },
        )
        if response.status_code != 200:
            raise linkedin_error(response, self._ctx.provider, action)
        body = json_of(response, self._ctx.provider, action)
        return body if isinstance(body, dict) else {}

    async def _account_users(self, token: Secret) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = []
        start = 0
        while True:
            body = await self._get(
                f"/adAccountUsers?q=authenticatedUser&start={start}&count={PAGE}",
                token,
                "list the ad accounts",
            )
            elements = [e for e in body.get("elements") or [] if isinstance(e, dict)]
            users.extend(elements)
            total = (body.get("paging") or {}).get("total")
            start += len(elements)
            if not elements or len(elements) < PAGE or (total is not None and start >= total):
                return users
            self._ctx.check_size(-(-start // PAGE) + 1, len(users), report=False)

    async def me(self, access_token: Secret) -> Me | None:
        users = await self._account_users(access_token)
        member = next((str(u["user"]) for u in users if u.get("user")), None)
        if member is None:
            raise ProviderRequestError(
                f"This {self._ctx.provider} member has no role on any ad account; ask the "
                "account's admin to add you in Campaign Manager, then connect again."
            )
        return Me(subject=member, display_name=f"{self._ctx.provider} member")

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        accounts: list[AdAccount] = []
        seen: set[str] = set()
        for user in await self._account_users(access_token):
            account_id = _urn_id(user.get("account"), ACCOUNT_URN)
            if not account_id.isdigit() or account_id in seen:
                continue
            seen.add(account_id)
            details = await self._get(
                f"/adAccounts/{account_id}", access_token, "read an ad account's details"
            )
            accounts.append(
                AdAccount(
                    id=account_id,
                    name=str(details.get("name") or account_id),
                    currency=str(details.get("currency") or "USD").upper(),
                    time_zone="UTC",  # LinkedIn reports days in UTC
                )
            )
        return accounts

    async def _campaign_names(self, token: Secret, account_id: str) -> dict[str, str]:
        names: dict[str, str] = {}
        page_token = ""
        pages = 0
        while True:
            pages += 1
            self._ctx.check_size(pages, len(names), report=False)
            more = f"&pageToken={quote(page_token, safe='')}" if page_token else ""
            body = await self._get(
                f"/adAccounts/{account_id}/adCampaigns?q=search&pageSize=1000{more}",
                token,
                "read the campaign names",
            )
            for campaign in body.get("elements") or []:
                names[str(campaign.get("id"))] = str(campaign.get("name") or campaign.get("id"))
            page_token = str((body.get("metadata") or {}).get("nextPageToken") or "")
            if not page_token:
                return names

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        if not query.account_id.isdigit():
            raise ProviderRequestError(f"'{query.account_id[:40]}' is not a LinkedIn ad account.")
        campaign = query.level == "campaign"
        account = quote(f"{ACCOUNT_URN}{query.account_id}", safe="")
        path = (
            "/adAnalytics?q=analytics"
            f"&pivot={'CAMPAIGN' if campaign else 'ACCOUNT'}&timeGranularity=DAILY"
            f"&dateRange=(start:{_restli_date(query.since)},end:{_restli_date(query.until)})"
            f"&accounts=List({account})&fields={FIELDS}"
        )
        body = await self._get(path, access_token, "read the report")
        self._ctx.check_size(1, len(body.get("elements") or []))  # no paging: one answer
        names = await self._campaign_names(access_token, query.account_id) if campaign else {}
        try:
            rows = [_row(e, campaign, names) for e in body.get("elements") or []]
        except (KeyError, ValueError, TypeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent report rows we could not read; try again shortly."
            ) from None
        return sorted(rows, key=lambda r: (r.date, r.campaign_id or ""))


def _row(element: dict[str, Any], campaign: bool, names: dict[str, str]) -> RawRow:
    campaign_id = None
    if campaign:
        pivots = element.get("pivotValues") or [""]
        campaign_id = _urn_id(pivots[0], CAMPAIGN_URN)
    return RawRow(
        date=_date_of(element["dateRange"]["start"]),
        campaign_id=campaign_id,
        campaign_name=names.get(campaign_id, campaign_id) if campaign_id else None,
        impressions=to_int(element.get("impressions")),
        clicks=to_int(element.get("clicks")),
        spend=to_decimal(element.get("costInLocalCurrency")),
        conversions=to_int(element.get("externalWebsiteConversions")),
    )
