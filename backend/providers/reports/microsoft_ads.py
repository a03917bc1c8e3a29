"""Microsoft Advertising API v13 report adapter, over the REST/JSON endpoints.

The official BingAds Python SDK (github.com/BingAds/BingAds-Python-SDK, 13.0.28,
`openapi_client/api/customer_management_service_api.py` and `reporting_service_api.py`) calls:
- Customer Management: `POST {clientcenter}/CustomerManagement/v13/User/Query` (GetUser; a null
  UserId is the signed-in user) and `POST …/Accounts/Search` (SearchAccounts, predicate
  UserId Equals, paged by PageInfo {Index, Size});
- Reporting: `POST {reporting}/Reporting/v13/GenerateReport/Submit` → ReportRequestId,
  `POST …/GenerateReport/Poll` until Status is Success (or Error), then GET the
  ReportDownloadUrl: a zip holding one CSV (no URL at all when there is no data).
Headers (`bingads/service_client.py::create_rest_headers`): Authorization Bearer,
DeveloperToken, and for account-scoped calls CustomerId and CustomerAccountId.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile
from datetime import date, datetime
from typing import Any

import httpx

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
from backend.providers.http import HttpContext, json_of, request_with_retries
from backend.providers.reports.adapter import Me, ReportAdapter, to_decimal, to_int
from backend.secret import Secret

# AdApiError codes (learn.microsoft.com/advertising/guides/operation-error-codes).
TOKEN_CODES = frozenset({105, 109})  # InvalidCredentials, AuthenticationTokenExpired
RATE_CODES = frozenset({117, 207})  # CallRateExceeded, ConcurrentRequestOverLimit
# The TimeZone enum of the Customer Management service, for the zones most accounts use;
# others fall back to UTC (reports then state their days in the account's own zone anyway).
TIME_ZONES = {
    "PacificTimeUSCanadaTijuana": "America/Los_Angeles",
    "MountainTimeUSCanada": "America/Denver",
    "CentralTimeUSCanada": "America/Chicago",
    "EasternTimeUSCanada": "America/New_York",
    "GreenwichMeanTimeDublinEdinburghLisbonLondon": "Europe/London",
    "AmsterdamBerlinBernRomeStockholmVienna": "Europe/Berlin",
    "BrusselsCopenhagenMadridParis": "Europe/Paris",
    "OsakaSapporoTokyo": "Asia/Tokyo",
    "CanberraMelbourneSydney": "Australia/Sydney",
    "BeijingChongqingHongKongUrumqi": "Asia/Shanghai",
    "ChennaiKolkataMumbaiNewDelhi": "Asia/Kolkata",
    "Coordinated_Universal_Time": "UTC",
}


def microsoft_error(response: httpx.Response, provider: str, action: str) -> ProviderError:
    """An AdApiFaultDetail / ApiFault body (`{"Errors": [{"Code", "ErrorCode"}]}`) in words."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    errors = body.get("Errors") or body.get("OperationErrors") if isinstance(body, dict) else []
    codes = {to_int(e.get("Code")) for e in errors or [] if isinstance(e, dict)}
    names = [str(e.get("ErrorCode")) for e in errors or [] if isinstance(e, dict)]
    named = f" ({', '.join(n for n in names if n and n != 'None')})" if names else ""
    if any("DeveloperToken" in n for n in names):
        return ProviderRequestError(
            f"{provider} refused this backend's developer token{named} — check "
            "reports.developer_token_env in the backend configuration."
        )
    if codes & TOKEN_CODES or response.status_code == 401:
        return AccessTokenRejected(f"{provider} refused the access token{named}.")
    if codes & RATE_CODES or response.status_code == 429:
        return RateLimited(f"{provider} is rate-limiting this app; try again in a minute.")
    if response.status_code >= 500 or 0 in codes:
        return ProviderUnavailable(f"{provider} had a temporary problem; try again shortly.")
    return ProviderRequestError(f"{provider} refused to {action}{named}.")


class MicrosoftAdsAdapter(ReportAdapter):
    name = "microsoft_ads"

    def __init__(
        self,
        ctx: HttpContext,
        *,
        base_url: str,
        customer_base_url: str,
        developer_token: Secret,
        poll_interval_s: float = 2.0,
        poll_timeout_s: float = 120.0,
    ) -> None:
        self._ctx = ctx
        self._reporting = base_url.rstrip("/")
        self._customer = customer_base_url.rstrip("/")
        self._developer_token = developer_token
        self._poll_interval_s = poll_interval_s
        self._poll_timeout_s = poll_timeout_s

    async def _post(
        self,
        url: str,
        token: Secret,
        action: str,
        body: dict[str, Any],
        *,
        account: tuple[str, str] | None = None,
        idempotent: bool = True,
    ) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {token.reveal()}",
            "Accept": "application/json",
            "DeveloperToken": self._developer_token.reveal(),
        }
        if account is not None:
            headers["CustomerId"], headers["CustomerAccountId"] = account
        response = await request_with_retries(
            self._ctx.client,
            "POST",
            url,
            provider=self._ctx.provider,
            action=action,
            policy=self._ctx.policy,
            idempotent=idempotent,
            json=body,
            headers=headers,
        )
        if response.status_code != 200:
            raise microsoft_error(response, self._ctx.provider, action)
        answer = json_of(response, self._ctx.provider, action)
        return answer if isinstance(answer, dict) else {}

    async def _user(self, token: Secret) -> dict[str, Any]:
        body = await self._post(
            f"{self._customer}/CustomerManagement/v13/User/Query",
            token,
            "read who signed in",
            {"UserId": None},  # null: the user the access token belongs to
        )
        user = body.get("User")
        if not isinstance(user, dict) or not user.get("Id"):
            raise ProviderUnavailable(f"{self._ctx.provider} did not say who signed in.")
        return user

    async def me(self, access_token: Secret) -> Me | None:
        user = await self._user(access_token)
        name = user.get("Name") or {}
        full = " ".join(str(name.get(k) or "") for k in ("FirstName", "LastName")).strip()
        return Me(subject=str(user["Id"]), display_name=str(user.get("UserName") or full))

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        user = await self._user(access_token)
        accounts: list[AdAccount] = []
        index = 0
        while True:
            body = await self._post(
                f"{self._customer}/CustomerManagement/v13/Accounts/Search",
                access_token,
                "list the ad accounts",
                {
                    "Predicates": [
                        {"Field": "UserId", "Operator": "Equals", "Value": str(user["Id"])}
                    ],
                    "Ordering": None,
                    "PageInfo": {"Index": index, "Size": 1000},
                },
            )
            page = [a for a in body.get("Accounts") or [] if isinstance(a, dict)]
            accounts.extend(_account(a) for a in page)
            if len(page) < 1000:
                return accounts
            index += 1
            self._ctx.check_size(index + 1, len(accounts), report=False)

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        if not query.parent_id:
            raise ProviderRequestError(
                f"{self._ctx.provider} needs the account's customer id; check the connection "
                "again so its accounts are read afresh."
            )
        account = (query.parent_id, query.account_id)
        request_id = await self._submit(access_token, query, account)
        url = await self._poll(access_token, request_id, account)
        if url is None:
            return []  # Success without a download URL: no data in the range
        rows = _rows(await self._download(url), query.level == "campaign")
        self._ctx.check_size(1, len(rows))  # one file: the row cap applies to what arrived
        return rows

    async def _submit(self, token: Secret, query: ReportQuery, account: tuple[str, str]) -> str:
        campaign = query.level == "campaign"
        columns = ["TimePeriod", "AccountId"]
        if campaign:
            columns += ["CampaignId", "CampaignName"]
        columns += ["Impressions", "Clicks", "Spend", "Conversions"]
        kind = "CampaignPerformanceReportRequest" if campaign else "AccountPerformanceReportRequest"
        body = await self._post(
            f"{self._reporting}/Reporting/v13/GenerateReport/Submit",
            token,
            "ask for the report",
            {
                "ReportRequest": {
                    "Type": kind,
                    "ReportName": "Connected Accounts report",
                    "Format": "Csv",
                    "FormatVersion": "2.0",
                    "ReturnOnlyCompleteData": False,
                    "ExcludeReportHeader": True,
                    "ExcludeReportFooter": True,
                    "ExcludeColumnHeaders": False,
                    "Aggregation": "Daily",
                    "Columns": columns,
                    # int64 ids travel as JSON strings (the SDK's AccountReportScope).
                    "Scope": {"AccountIds": [query.account_id]},
                    # No ReportTimeZone: days are the account's own (the service's default).
                    "Time": {
                        "CustomDateRangeStart": _date_json(query.since),
                        "CustomDateRangeEnd": _date_json(query.until),
                    },
                }
            },
            account=account,
            idempotent=False,  # each submission starts a report job
        )
        request_id = body.get("ReportRequestId")
        if not request_id:
            raise ProviderUnavailable(f"{self._ctx.provider} did not start the report job.")
        return str(request_id)

    async def _poll(self, token: Secret, request_id: str, account: tuple[str, str]) -> str | None:
        deadline = time.monotonic() + self._poll_timeout_s
        delay = self._poll_interval_s / 4
        while True:
            body = await self._post(
                f"{self._reporting}/Reporting/v13/GenerateReport/Poll",
                token,
                "check on the report",
                {"ReportRequestId": request_id},
                account=account,
            )
            status = body.get("ReportRequestStatus") or {}
            state = str(status.get("Status") or "")
            if state == "Success":
                url = status.get("ReportDownloadUrl")
                return str(url) if url else None
            if state == "Error":
                raise ProviderRequestError(
                    f"{self._ctx.provider} could not build this report; try a shorter range."
                )
            if time.monotonic() + delay > deadline:
                raise ProviderUnavailable(
                    f"{self._ctx.provider} is still building the report; try again in a minute.",
                    retry_after=60,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._poll_interval_s)

    async def _download(self, url: str) -> str:
        # A pre-signed URL on another host: our bearer token must not travel there.
        response = await request_with_retries(
            self._ctx.client,
            "GET",
            url,
            provider=self._ctx.provider,
            action="download the report",
            policy=self._ctx.policy,
        )
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"{self._ctx.provider} did not hand over the finished report; try again shortly."
            )
        try:
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                name = next(n for n in archive.namelist() if n.lower().endswith(".csv"))
                return archive.read(name).decode("utf-8-sig")
        except (zipfile.BadZipFile, StopIteration, UnicodeDecodeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent a report file we could not read; try again shortly."
            ) from None


def _date_json(day: date) -> dict[str, int]:
    return {"Year": day.year, "Month": day.month, "Day": day.day}


def _account(data: dict[str, Any]) -> AdAccount:
    parent = data.get("ParentCustomerId")
    return AdAccount(
        id=str(data["Id"]),
        name=str(data.get("Name") or data.get("Number") or data["Id"]),
        currency=str(data.get("CurrencyCode") or "USD").upper(),
        time_zone=TIME_ZONES.get(str(data.get("TimeZone") or ""), "UTC"),
        parent_id=str(parent) if parent else None,  # the CustomerId header of its reports
    )


def _day(text: str) -> date:
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        return datetime.strptime(text, "%m/%d/%Y").date()  # the older CSV date format


def _rows(text: str, campaign: bool) -> list[RawRow]:
    reader = csv.DictReader(io.StringIO(text))
    rows: list[RawRow] = []
    try:
        for record in reader:
            if not record.get("TimePeriod"):
                continue
            rows.append(
                RawRow(
                    date=_day(record["TimePeriod"]),
                    campaign_id=str(record.get("CampaignId") or "") if campaign else None,
                    campaign_name=str(record.get("CampaignName") or "") if campaign else None,
                    impressions=to_int(record.get("Impressions", "").replace(",", "")),
                    clicks=to_int(record.get("Clicks", "").replace(",", "")),
                    spend=to_decimal(record.get("Spend", "").replace(",", "")),
                    conversions=to_int(record.get("Conversions", "").replace(",", "")),
                )
            )
    except (KeyError, ValueError, TypeError):
        raise ProviderUnavailable(
            "Microsoft Advertising sent report rows we could not read; try again shortly."
        ) from None
    return sorted(rows, key=lambda r: (r.date, r.campaign_id or ""))
