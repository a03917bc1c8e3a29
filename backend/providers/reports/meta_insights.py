"""Meta Marketing API (Graph API) report adapter: /me, /me/adaccounts, /{act_id}/insights."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from backend.providers.base import (
    AdAccount,
    InvalidGrant,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
    RawReport,
    RawRow,
    RawSummary,
    ReportQuery,
)
from backend.providers.http import HttpContext, bearer, json_of, request_with_retries
from backend.providers.reasons import meta_reason
from backend.providers.reports.adapter import Me, ReportAdapter, to_decimal, to_int
from backend.providers.reports.meta_async import (
    DONE,
    FAILED,
    TOO_MUCH_DATA_SUBCODE,
    TooMuchData,
    estimated_rows,
)
from backend.reports import progress
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
        subcode = int(err.get("error_subcode") or 0)
    except (ValueError, AttributeError, TypeError):
        err, code, subcode = {}, 0, 0
    if subcode == TOO_MUCH_DATA_SUBCODE:  # whatever the code (100 or 1): ask asynchronously
        return TooMuchData(f"{provider} found the report too big to answer at once.")
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


# The report's breakdown names -> Insights `breakdowns` values.
BREAKDOWN_PARAM = {
    "age": "age",
    "gender": "gender",
    "country": "country",
    "platform": "publisher_platform",
    "device": "device_platform",
}
_ENTITY_FIELDS = {
    "account": [],
    "campaign": ["campaign_id", "campaign_name"],
    "adset": ["campaign_id", "campaign_name", "adset_id", "adset_name"],
    "ad": ["campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id", "ad_name"],
}
DEFAULT_CONVERSION_ACTION = "offsite_conversion.fb_pixel_purchase"


def too_much_data(response: httpx.Response) -> bool:
    """Error subcode 1487534 (it comes with code 1 and HTTP 500 too): not worth a retry."""
    try:
        err = response.json().get("error") or {}
        return int(err.get("error_subcode") or 0) == TOO_MUCH_DATA_SUBCODE
    except (ValueError, AttributeError, TypeError):
        return False


class MetaInsightsAdapter(ReportAdapter):
    name = "meta_insights"
    levels = ("account", "campaign", "adset", "ad")
    breakdowns = tuple(BREAKDOWN_PARAM)

    def __init__(
        self,
        ctx: HttpContext,
        *,
        base_url: str,
        conversion_action_types: list[str],
        page_size: int = 500,
        attribution_windows: list[str] | None = None,
        async_rows: int = 20_000,
        poll_interval_s: float = 2.0,
        poll_timeout_s: float = 300.0,
    ) -> None:
        self._ctx = ctx
        self.base_url = base_url.rstrip("/")
        # One action type: `actions` lists overlapping types (purchase and the pixel's
        # offsite_conversion.fb_pixel_purchase count the same sale), so summing several
        # would count a sale twice.
        self._conversion_types = frozenset(conversion_action_types[:1])
        self._page_size = page_size
        self._windows = attribution_windows
        self._async_rows = async_rows
        self._poll_interval_s = poll_interval_s
        self._poll_timeout_s = poll_timeout_s

    async def get(
        self, path: str, token: Secret, action: str, params: dict[str, str] | None = None
    ) -> Any:
        return await self._ctx.get_json(
            f"{self.base_url}{path}",
            token,
            action,
            error=lambda response, act: graph_error(response, self._ctx.provider, act),
            params=params,
            final=too_much_data,
        )

    async def _all_pages(
        self,
        path: str,
        token: Secret,
        action: str,
        params: dict[str, str],
        summary: list[dict[str, Any]] | None = None,
        *,
        report: bool = True,
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
            if summary is not None and not summary and isinstance(body.get("summary"), dict):
                summary.append(body["summary"])  # default_summary: the same on every page
            self._ctx.check_size(len(seen) + 1, len(items), report=report)
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
            report=False,
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
        return (await self.fetch_report_data(access_token, query)).rows

    def _params(self, query: ReportQuery) -> dict[str, str]:
        fields = [*_ENTITY_FIELDS[query.level], "impressions", "clicks", "spend", "actions"]
        if {"conversion_value", "roas"} & set(query.metrics):
            fields.append("action_values")
        if {"reach", "frequency"} & set(query.metrics):
            fields += ["reach", "frequency"]
        params = {
            "level": query.level,
            # One row per day, or one for the whole range (Insights `time_increment`).
            "time_increment": "1" if query.time == "daily" else "all_days",
            "time_range": json.dumps(
                {"since": query.since.isoformat(), "until": query.until.isoformat()}
            ),
            "fields": ",".join(fields),
        }
        if query.breakdowns:
            params["breakdowns"] = ",".join(BREAKDOWN_PARAM[b] for b in query.breakdowns)
        if query.summary:
            # The aggregate of the whole answer: reach deduplicated by Meta, never our sum.
            params["default_summary"] = "true"
        if self._windows:
            params["action_attribution_windows"] = json.dumps(self._windows)
        return params

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        act = query.account_id if query.account_id.startswith("act_") else f"act_{query.account_id}"
        path = f"/{quote(act, safe='')}/insights"
        params = self._params(query)
        summary: list[dict[str, Any]] = []
        if estimated_rows(query) > self._async_rows:
            items = await self._run_async(path, access_token, params, summary)
        else:
            try:
                items = await self._all_pages(
                    path, access_token, "read the report", params, summary
                )
            except TooMuchData:
                summary.clear()
                items = await self._run_async(path, access_token, params, summary)
        try:
            rows = [self._row(item, query) for item in items]
            total = _summary(summary[0]) if summary else None
        except (KeyError, ValueError, TypeError):
            raise ProviderUnavailable(
                f"{self._ctx.provider} sent report rows we could not read; try again shortly."
            ) from None
        return RawReport(rows, total)

    async def _run_async(
        self, path: str, token: Secret, params: dict[str, str], summary: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """POST the job, poll its AdReportRun until done, then page its insights."""
        action = "start the report"
        response = await request_with_retries(
            self._ctx.client, "POST", f"{self.base_url}{path}", provider=self._ctx.provider,
            action=action, policy=self._ctx.policy, idempotent=False, data=params,
            headers=bearer(token),
        )  # fmt: skip
        if response.status_code != 200:
            raise graph_error(response, self._ctx.provider, action)
        run_id = str(json_of(response, self._ctx.provider, action).get("report_run_id") or "")
        if not run_id.isdigit():
            raise ProviderUnavailable(f"{self._ctx.provider} did not start the report; try again.")
        deadline = time.monotonic() + self._poll_timeout_s
        last: tuple[str, Any] | None = None
        # Meta documents no way to cancel a report run: a caller that goes away (the
        # request is cancelled) simply stops this loop, and the run is left to expire.
        while True:
            run = await self.get(
                f"/{run_id}", token, "check on the report",
                {"fields": "async_status,async_percent_completion"},
            )  # fmt: skip
            status = str(run.get("async_status") or "")
            percent = run.get("async_percent_completion") or 0
            if status in progress.META_STATUS and (status, percent) != last:
                # The window's progress bar (GET /v1/events `report_progress`).
                await progress.report(percent, progress.META_STATUS[status])
                last = (status, percent)
            if status == DONE:
                break
            if status in FAILED:
                raise ProviderUnavailable(
                    f"{self._ctx.provider} could not finish the report ({status.lower()}); "
                    "try again, or ask for a shorter range or fewer breakdowns."
                )
            if time.monotonic() > deadline:
                raise ProviderUnavailable(
                    f"{self._ctx.provider} is still preparing the report "
                    f"({run.get('async_percent_completion', 0)}% done); try again in a while."
                )
            await anyio.sleep(self._poll_interval_s)
        extra = {"default_summary": "true"} if "default_summary" in params else {}
        return await self._all_pages(
            f"/{run_id}/insights", token, "read the report", extra, summary
        )

    def _count(self, entries: Any) -> list[Any]:
        return [
            a.get("value")
            for a in entries or []
            if isinstance(a, dict) and a.get("action_type") in self._conversion_types
        ]

    def _row(self, item: dict[str, Any], query: ReportQuery) -> RawRow:
        level = query.level
        deep = level != "account"
        lower = level in ("adset", "ad")
        reach = item.get("reach")
        return RawRow(
            date=date.fromisoformat(str(item["date_start"])),
            campaign_id=str(item["campaign_id"]) if deep else None,
            campaign_name=str(item.get("campaign_name") or "") if deep else None,
            impressions=to_int(item.get("impressions")),
            clicks=to_int(item.get("clicks")),
            spend=to_decimal(item.get("spend")),
            conversions=sum(to_int(v) for v in self._count(item.get("actions"))),
            adset_id=str(item["adset_id"]) if lower else None,
            adset_name=str(item.get("adset_name") or "") if lower else None,
            ad_id=str(item["ad_id"]) if level == "ad" else None,
            ad_name=str(item.get("ad_name") or "") if level == "ad" else None,
            dims={b: str(item.get(BREAKDOWN_PARAM[b]) or "") for b in query.breakdowns},
            reach=to_int(reach) if reach not in (None, "") else None,
            conversion_value=sum(
                (to_decimal(v) for v in self._count(item.get("action_values"))), to_decimal(0)
            ),
        )


def _summary(item: dict[str, Any]) -> RawSummary:
    reach, freq = item.get("reach"), item.get("frequency")
    return RawSummary(
        reach=to_int(reach) if reach not in (None, "") else None,
        frequency=to_decimal(freq) if freq not in (None, "") else None,
    )
