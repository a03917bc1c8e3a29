"""Google Ads API (REST) report adapter: listAccessibleCustomers and googleAds:searchStream.

Every call carries the `developer-token` header and, for an account reached through a manager
(MCC), `login-customer-id`: the manager through which that account was found, kept with the
account (a configured `login_customer_id` is the default for accounts reached directly).
The OAuth side is the generic oauth2 provider with the `google_ads` preset
(access_type=offline, prompt=consent, iss in callbacks).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
    RawReport,
    RawRow,
    ReportQuery,
)
from backend.providers.http import HttpContext, bearer, json_of, request_with_retries
from backend.providers.reports.adapter import Me, ReportAdapter, to_decimal, to_int
from backend.providers.reports.google_gaql import (
    NO_REACH,
    dimension_value,
    merge_rows,
    report_gaql,
)
from backend.secret import Secret

MICROS = Decimal(1_000_000)

# Level 0 is the customer itself, level 1 its direct clients (none unless it is a manager).
CUSTOMER_CLIENTS = (
    "SELECT customer_client.client_customer, customer_client.level, customer_client.manager, "
    "customer_client.descriptive_name, customer_client.currency_code, "
    "customer_client.time_zone, customer_client.id "
    "FROM customer_client WHERE customer_client.level <= 1"
)


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
    if "REQUESTED_METRICS_FOR_MANAGER" in codes:
        return ProviderRequestError(
            f"This {provider} account is a manager account, which has no metrics of its own; "
            "pick one of its client accounts."
        )
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
    levels = ("account", "campaign", "adset", "ad")
    breakdowns = ("age", "gender", "country", "device")  # no "platform": see google_gaql.py
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

    def _headers(self, token: Secret, login_customer_id: str | None) -> dict[str, str]:
        headers = bearer(token)
        headers["developer-token"] = self._developer_token.reveal()
        login = login_customer_id or self._login_customer_id
        if login:
            headers["login-customer-id"] = _digits(login)
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        token: Secret,
        action: str,
        json: Any = None,
        *,
        login_customer_id: str | None = None,
    ) -> Any:
        response = await request_with_retries(
            self._ctx.client,
            method,
            f"{self._root}{path}",
            provider=self._ctx.provider,
            action=action,
            policy=self._ctx.policy,
            json=json,
            headers=self._headers(token, login_customer_id),
        )
        if response.status_code != 200:
            raise google_ads_error(response, self._ctx.provider, action)
        body = json_of(response, self._ctx.provider, action)
        if _error_body(response):  # an error after some batches: the stream was cut short
            raise google_ads_error(response, self._ctx.provider, action)
        return body

    async def search_stream(
        self,
        customer_id: str,
        gaql: str,
        token: Secret,
        action: str,
        *,
        login_customer_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """All result rows of a GAQL query; searchStream sends them as an array of batches."""
        digits = _digits(customer_id)
        body = await self._call(
            "POST",
            f"/customers/{digits}/googleAds:searchStream",
            token,
            action,
            {"query": gaql},
            login_customer_id=login_customer_id,
        )
        batches = body if isinstance(body, list) else [body]
        rows = [row for batch in batches for row in (batch.get("results") or [])]
        # searchStream sends everything in one answer: the caps apply to what arrived.
        self._ctx.check_size(len(batches), len(rows), report=gaql is not CUSTOMER_CLIENTS)
        return rows

    async def me(self, access_token: Secret) -> Me | None:
        return None  # Google Ads has no "me"; identity comes from the OIDC id_token

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        """Every account the login reaches: the accessible ones, and under each accessible
        manager its direct clients, each with the login-customer-id that reaches it.

        developers.google.com/google-ads/api/docs/account-management/get-account-hierarchy:
        listAccessibleCustomers, then a `customer_client` query per customer (level 0 is the
        customer itself, level 1 its direct clients).
        """
        body = await self._call(
            "GET", "/customers:listAccessibleCustomers", access_token, "list the ad accounts"
        )
        found: dict[str, AdAccount] = {}
        for resource in body.get("resourceNames") or []:
            customer_id = str(resource).rsplit("/", 1)[-1]
            # A directly accessible customer is its own login (or the configured manager's).
            login = self._login_customer_id or customer_id
            try:
                rows = await self.search_stream(
                    customer_id,
                    CUSTOMER_CLIENTS,
                    access_token,
                    "read an ad account's details",
                    login_customer_id=login,
                )
            except CustomerNotReadable:
                continue  # closed, or reachable only through a manager we were not told of
            for row in rows:
                account = _client_account(row, customer_id, self._login_customer_id)
                if account is None:
                    continue
                known = found.get(account.id)
                # Reached directly wins over reached through a manager: no header needed.
                if known is None or (known.parent_id and account.parent_id is None):
                    found[account.id] = account
        return list(found.values())

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        return (await self.fetch_report_data(access_token, query)).rows

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        gaql = report_gaql(query)  # refuses what Google cannot answer, before any call
        rows = await self.search_stream(
            query.account_id,
            gaql,
            access_token,
            "read the report",
            login_customer_id=query.login_customer_id,
        )
        try:
            raw = merge_rows([_row(row, query) for row in rows])
        except (KeyError, ValueError, TypeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent report rows we could not read; try again shortly."
            ) from None
        notes = []
        if {"reach", "frequency"} & set(query.metrics):
            notes.append(NO_REACH)
        return RawReport(raw, None, notes)


def _digits(customer_id: str) -> str:
    # Google shows ids as 123-456-7890; paths and headers want the digits alone.
    return "".join(ch for ch in customer_id if ch.isdigit())


def _client_account(
    row: dict[str, Any], queried: str, configured_login: str | None
) -> AdAccount | None:
    """One `customer_client` row as an account: level 0 is the queried customer itself."""
    c = row.get("customerClient") or {}
    client_id = str(c.get("id") or str(c.get("clientCustomer") or "").rsplit("/", 1)[-1])
    if not client_id:
        return None
    direct = to_int(c.get("level")) == 0
    return AdAccount(
        id=client_id,
        name=str(c.get("descriptiveName") or client_id),
        currency=str(c.get("currencyCode") or "USD").upper(),
        time_zone=str(c.get("timeZone") or "UTC"),
        parent_id=None if direct else queried,
        is_manager=bool(c.get("manager")),
        # Reached through the queried manager: every call about it names that manager.
        login_customer_id=configured_login if direct else queried,
    )


def _row(row: dict[str, Any], query: ReportQuery) -> RawRow:
    # proto3 JSON: int64 arrives as a string, zero values may be left out altogether.
    metrics = row.get("metrics") or {}
    segments = row.get("segments") or {}
    level = query.level
    c = row.get("campaign") or {}
    g = row.get("adGroup") or {}
    ad = (row.get("adGroupAd") or {}).get("ad") or {}
    lower = level in ("adset", "ad")
    return RawRow(
        date=date.fromisoformat(str(segments["date"])) if query.time == "daily" else query.since,
        campaign_id=str(c["id"]) if level != "account" else None,
        campaign_name=str(c.get("name") or "") if level != "account" else None,
        impressions=to_int(metrics.get("impressions")),
        clicks=to_int(metrics.get("clicks")),
        spend=to_decimal(metrics.get("costMicros")) / MICROS,
        conversions=to_int(metrics.get("conversions")),
        adset_id=str(g["id"]) if lower else None,
        adset_name=str(g.get("name") or "") if lower else None,
        ad_id=str(ad["id"]) if level == "ad" else None,
        ad_name=str(ad.get("name") or "") if level == "ad" else None,
        dims={b: dimension_value(b, row) for b in query.breakdowns},
        reach=None,  # Google Ads has no reach in these views (NO_REACH)
        conversion_value=to_decimal(metrics.get("conversionsValue")),
        conversions_exact=to_decimal(metrics.get("conversions")),
    )
