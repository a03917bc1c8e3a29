"""A fake Microsoft: identity platform OAuth 2.0 (/common/oauth2/v2.0/authorize and /token) and
the Microsoft Advertising API v13 REST endpoints the official SDK calls.

Shaped after:
- learn.microsoft.com/advertising/guides/authentication-oauth-identity-platform and
  learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow: scope
  `https://ads.microsoft.com/msads.manage offline_access`, PKCE S256, refresh tokens that
  rotate on every use and lapse after 90 days unused (AADSTS700082); no RFC 7009 revocation
  endpoint exists, so this fake has none (users remove the app from their account's consents,
  modelled by `remove_app`, after which a refresh fails with AADSTS65001 / invalid_grant);
- the BingAds Python SDK 13.0.28 (`openapi_client/api/customer_management_service_api.py`,
  `reporting_service_api.py`, `bingads/service_client.py::create_rest_headers`):
  POST /CustomerManagement/v13/User/Query, /CustomerManagement/v13/Accounts/Search,
  /Reporting/v13/GenerateReport/Submit and /Poll, JSON bodies in PascalCase, headers
  Authorization, DeveloperToken, CustomerId, CustomerAccountId; errors as AdApiFaultDetail
  (`{"TrackingId", "Type", "Errors": [{"Code", "ErrorCode", "Message"}]}`); a finished report is
  a zip holding one CSV, fetched from ReportDownloadUrl without our credentials.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.common import FakeState, form_of, install_faults, new_token, s256

SCOPE = "https://ads.microsoft.com/msads.manage offline_access"


@dataclass
class MsGrant:
    user_id: str
    scope: str
    active: bool = True


@dataclass
class MicrosoftState(FakeState):
    client_id: str = "0f6b5c2e-ms-ads-app"
    client_secret: str = "microsoft-client-secret"
    developer_token: str = "BBD37VB98"
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "Id": "141337",
            "CustomerId": "251001",
            "UserName": "mira@example.com",
            "Name": {"FirstName": "Mira", "LastName": "M"},
        }
    )
    # account id -> (name, currency, Microsoft TimeZone enum, parent customer id)
    accounts: dict[str, tuple[str, str, str, str]] = field(
        default_factory=lambda: {
            "180100": ("Search US", "USD", "EasternTimeUSCanada", "251001"),
            "180200": ("Search DE", "EUR", "AmsterdamBerlinBernRomeStockholmVienna", "251002"),
        }
    )
    polls_before_done: int = 2
    quiet: set[str] = field(default_factory=set)  # accounts with no activity to report
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, MsGrant] = field(default_factory=dict)
    access_tokens: dict[str, MsGrant] = field(default_factory=dict)
    # report request id -> (polls left, csv text or None for "no data")
    jobs: dict[str, list[Any]] = field(default_factory=dict)
    downloads: dict[str, bytes] = field(default_factory=dict)
    base_url: str = ""

    def __post_init__(self) -> None:
        FakeState.__init__(self)

    def remove_app(self) -> None:
        """The user withdraws consent at account.live.com/consent/Manage."""
        for grant in [*self.refresh_tokens.values(), *self.access_tokens.values()]:
            grant.active = False

    def report_rows(
        self, account: str, since: date, until: date, campaign: bool
    ) -> list[dict[str, str]]:
        rows: list[dict[str, str]] = []
        day = since if account not in self.quiet else until + timedelta(days=1)
        while day <= until:
            for c in (1, 2) if campaign else (0,):
                n = day.toordinal() + int(account[-3:]) + c
                row = {"TimePeriod": day.isoformat(), "AccountId": account}
                if campaign:
                    row |= {"CampaignId": str(7000 + c), "CampaignName": f"Brand {c}"}
                row |= {
                    "Impressions": str(1000 + n % 900),
                    "Clicks": str(n % 40),
                    "Spend": f"{(n % 3000) / 100:.2f}",
                    "Conversions": f"{n % 4}.00",
                }
                rows.append(row)
            day += timedelta(days=1)
        return rows


def _fault(status: int, code: int, error_code: str) -> JSONResponse:
    body = {
        "TrackingId": str(uuid.uuid4()),
        "Type": "AdApiFaultDetail",
        "Errors": [{"Code": code, "ErrorCode": error_code, "Message": "fake", "Detail": None}],
    }
    return JSONResponse(body, status_code=status)


def _zip_csv(rows: list[dict[str, str]], columns: list[str]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, quoting=csv.QUOTE_ALL)
    writer.writeheader()
    writer.writerows(rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        # The service writes a UTF-8 byte-order mark before the header.
        archive.writestr("report.csv", "\ufeff" + text.getvalue())
    return out.getvalue()


def create_microsoft_app(state: MicrosoftState) -> FastAPI:
    app = FastAPI()
    install_faults(app, state)

    @app.get("/common/oauth2/v2.0/authorize")
    async def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        if (
            q.get("client_id") != state.client_id
            or q.get("code_challenge_method") != "S256"
            or "https://ads.microsoft.com/msads.manage" not in q.get("scope", "").split()
        ):
            return Response("AADSTS900144: invalid request", status_code=400)
        code = new_token("M.C5")
        state.codes[code] = q
        back = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", status_code=302)

    def tokens(grant: MsGrant) -> JSONResponse:
        access, refresh = new_token("EwB"), new_token("M.R3")
        state.access_tokens[access] = grant
        state.refresh_tokens[refresh] = grant
        return JSONResponse(
            {
                "token_type": "Bearer",
                "scope": grant.scope,
                "expires_in": 3600,
                "ext_expires_in": 3600,
                "access_token": access,
                "refresh_token": refresh,
            }
        )

    def aad_error(error: str, description: str) -> JSONResponse:
        return JSONResponse({"error": error, "error_description": description}, status_code=400)

    @app.post("/common/oauth2/v2.0/token")
    async def token(request: Request) -> Response:
        form = await form_of(request)
        if (form.get("client_id"), form.get("client_secret")) != (
            state.client_id,
            state.client_secret,
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret"},
                status_code=401,
            )
        if form.get("grant_type") == "authorization_code":
            entry = state.codes.pop(form.get("code", ""), None)
            if entry is None or s256(form.get("code_verifier", "")) != entry["code_challenge"]:
                return aad_error(
                    "invalid_grant", "AADSTS54005: OAuth2 Authorization code was already redeemed."
                )
            if entry["redirect_uri"] != form.get("redirect_uri"):
                return aad_error("invalid_grant", "AADSTS50148: redirect_uri mismatch.")
            return tokens(MsGrant(str(state.user["Id"]), entry["scope"]))
        if form.get("grant_type") == "refresh_token":
            grant = state.refresh_tokens.pop(form.get("refresh_token", ""), None)  # rotates
            if grant is None:
                return aad_error(
                    "invalid_grant",
                    "AADSTS700082: The refresh token has expired due to inactivity. The token "
                    "was issued on 2026-01-01 and was inactive for 90.00:00:00.",
                )
            if not grant.active:
                return aad_error(
                    "invalid_grant",
                    "AADSTS65001: The user or administrator has not consented to use the "
                    "application.",
                )
            return tokens(grant)
        return aad_error("unsupported_grant_type", "AADSTS70003: unsupported grant type.")

    def check(request: Request, *, account_scoped: bool) -> Response | MsGrant:
        tok = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = state.access_tokens.get(tok)
        if grant is None or not grant.active:
            return _fault(401, 109, "AuthenticationTokenExpired")
        if request.headers.get("developertoken") != state.developer_token:
            return _fault(401, 105, "InvalidCredentials")
        if account_scoped:
            account = request.headers.get("customeraccountid", "")
            known = state.accounts.get(account)
            if known is None or request.headers.get("customerid") != known[3]:
                return _fault(400, 106, "UserIsNotAuthorized")
        return grant

    @app.post("/CustomerManagement/v13/User/Query")
    async def get_user(request: Request) -> Response:
        grant = check(request, account_scoped=False)
        if isinstance(grant, Response):
            return grant
        if (await request.json()).get("UserId") is not None:
            return _fault(400, 106, "UserIsNotAuthorized")
        roles = [
            {"RoleId": 41, "CustomerId": c, "AccountIds": None, "LinkedAccountIds": None}
            for c in sorted({a[3] for a in state.accounts.values()})
        ]
        return JSONResponse({"User": dict(state.user), "CustomerRoles": roles})

    @app.post("/CustomerManagement/v13/Accounts/Search")
    async def search_accounts(request: Request) -> Response:
        grant = check(request, account_scoped=False)
        if isinstance(grant, Response):
            return grant
        body = await request.json()
        predicates = body.get("Predicates") or []
        if predicates != [{"Field": "UserId", "Operator": "Equals", "Value": grant.user_id}]:
            return _fault(400, 1001, "InvalidPredicate")
        page = body.get("PageInfo") or {}
        size, index = int(page.get("Size", 100)), int(page.get("Index", 0))
        ids = list(state.accounts)[index * size : (index + 1) * size]
        accounts = [
            {
                "Id": a,
                "Name": state.accounts[a][0],
                "Number": f"F{a}",
                "CurrencyCode": state.accounts[a][1],
                "TimeZone": state.accounts[a][2],
                "ParentCustomerId": state.accounts[a][3],
                "AccountLifeCycleStatus": "Active",
                "Language": "English",
            }
            for a in ids
        ]
        return JSONResponse({"Accounts": accounts})

    @app.post("/Reporting/v13/GenerateReport/Submit")
    async def submit(request: Request) -> Response:
        grant = check(request, account_scoped=True)
        if isinstance(grant, Response):
            return grant
        req = (await request.json()).get("ReportRequest") or {}
        account = request.headers["customeraccountid"]
        kind = req.get("Type")
        if (
            kind not in ("AccountPerformanceReportRequest", "CampaignPerformanceReportRequest")
            or req.get("Format") != "Csv"
            or req.get("Aggregation") != "Daily"
            or (req.get("Scope") or {}).get("AccountIds") != [account]  # int64 as strings
        ):
            return _fault(400, 2001, "InvalidReportRequest")
        start, end = req["Time"]["CustomDateRangeStart"], req["Time"]["CustomDateRangeEnd"]
        since = date(start["Year"], start["Month"], start["Day"])
        until = date(end["Year"], end["Month"], end["Day"])
        rows = state.report_rows(account, since, until, kind.startswith("Campaign"))
        job = str(uuid.uuid4())
        data = _zip_csv(rows, list(req["Columns"])) if rows else None
        state.jobs[job] = [state.polls_before_done, data]
        return JSONResponse({"ReportRequestId": job})

    @app.post("/Reporting/v13/GenerateReport/Poll")
    async def poll(request: Request) -> Response:
        grant = check(request, account_scoped=True)
        if isinstance(grant, Response):
            return grant
        job = state.jobs.get((await request.json()).get("ReportRequestId", ""))
        if job is None:
            return _fault(400, 2100, "InvalidReportRequestId")
        if job[0] > 0:
            job[0] -= 1
            return JSONResponse({"ReportRequestStatus": {"Status": "Pending"}})
        if job[1] is None:  # no data: success without a download URL
            return JSONResponse({"ReportRequestStatus": {"Status": "Success"}})
        name = str(uuid.uuid4())
        state.downloads[name] = job[1]
        url = f"{state.base_url}/blob/{name}.zip?sv=2025&sig=fake"
        return JSONResponse(
            {"ReportRequestStatus": {"Status": "Success", "ReportDownloadUrl": url}}
        )

    @app.get("/blob/{name}.zip")
    async def download(name: str, request: Request) -> Response:
        data = state.downloads.get(name)
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/x-zip-compressed")

    return app
