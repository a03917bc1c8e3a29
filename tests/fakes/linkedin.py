"""A fake LinkedIn: OAuth 2.0 (www.linkedin.com/oauth/v2/authorization, /accessToken) and the
Marketing API (/rest/adAccountUsers, /rest/adAccounts/{id}, /rest/adAccounts/{id}/adCampaigns,
/rest/adAnalytics).

Shaped after LinkedIn's documents on learn.microsoft.com/linkedin/:
- shared/authentication/authorization-code-flow and programmatic-refresh-tokens: the token
  response carries `expires_in` (60 days) and `refresh_token_expires_in` (365 days, counted
  from the first sign-in: a refresh returns the same refresh token with what is left of it);
- marketing/integrations/ads/account-structure/create-and-manage-account-users ("Find Ad
  Account Users by Authenticated User": q=authenticatedUser, elements with account/role/user);
- marketing/integrations/ads/account-structure/create-and-manage-accounts (GET adAccounts/{id});
- marketing/integrations/ads-reporting/ads-reporting (q=analytics, pivot, timeGranularity,
  Rest.li 2.0 dateRange, accounts=List(urn), fields; no pagination);
- marketing/versioning: calls without `LinkedIn-Version` fail (400 here), and the Rest.li
  protocol header `X-Restli-Protocol-Version: 2.0.0` is required for the 2.0 query syntax.
LinkedIn documents no token revocation endpoint for third-party apps, so this fake has none:
members remove apps at linkedin.com/psettings/permitted-services (`remove_app` models that).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.common import FakeState, form_of, install_faults, new_token

ACCESS_S = 60 * 86_400
REFRESH_S = 365 * 86_400


@dataclass
class LinkedInGrant:
    member: str
    scope: str
    created_at: float
    active: bool = True


@dataclass
class LinkedInState(FakeState):
    client_id: str = "86linkedinapp"
    client_secret: str = "linkedin-client-secret"
    member: str = "urn:li:person:qZXYVbTSmz"
    # account id -> (name, currency, campaigns {id: name})
    accounts: dict[str, tuple[str, str, dict[str, str]]] = field(
        default_factory=lambda: {
            "502840441": ("Acme B2B", "USD", {"1001": "Decision makers", "1002": "Retarget"}),
            "502840442": ("Acme DACH", "EUR", {"2001": "DACH launch"}),
        }
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, LinkedInGrant] = field(default_factory=dict)
    access_tokens: dict[str, LinkedInGrant] = field(default_factory=dict)
    clock: float = 0.0  # seconds added to time.time(), so tests can move time

    def __post_init__(self) -> None:
        FakeState.__init__(self)

    def now(self) -> float:
        return time.time() + self.clock

    def remove_app(self) -> None:
        """The member removes the app at linkedin.com/psettings/permitted-services."""
        for grant in [*self.refresh_tokens.values(), *self.access_tokens.values()]:
            grant.active = False

    def analytics(
        self, account: str, since: date, until: date, campaign: bool
    ) -> list[dict[str, Any]]:
        elements: list[dict[str, Any]] = []
        _, _, campaigns = self.accounts[account]
        day = since
        while day <= until:
            for cid in campaigns if campaign else [account]:
                n = day.toordinal() + int(cid[-2:])
                if n % 7 == 0:
                    day_item = None  # no activity: LinkedIn leaves the element out
                else:
                    ymd = {"year": day.year, "month": day.month, "day": day.day}
                    day_item = {
                        "dateRange": {"start": ymd, "end": ymd},
                        "pivotValues": [
                            f"urn:li:sponsoredCampaign:{cid}"
                            if campaign
                            else f"urn:li:sponsoredAccount:{cid}"
                        ],
                        "impressions": 300 + n % 200,
                        "clicks": n % 17,
                        "costInLocalCurrency": f"{(n % 5000) / 100:.2f}",
                        "externalWebsiteConversions": n % 3,
                    }
                if day_item is not None:
                    elements.append(day_item)
            day += timedelta(days=1)
        return elements


def _error(status: int, code: str, service_code: int) -> JSONResponse:
    body = {"status": status, "serviceErrorCode": service_code, "code": code, "message": "fake"}
    return JSONResponse(body, status_code=status)


def _restli_date(text: str) -> date:
    found = re.fullmatch(r"\(year:(\d+),month:(\d+),day:(\d+)\)", text)
    if found is None:
        raise ValueError(text)
    return date(int(found.group(1)), int(found.group(2)), int(found.group(3)))


def create_linkedin_app(state: LinkedInState) -> FastAPI:
    app = FastAPI()
    install_faults(app, state)

    @app.get("/oauth/v2/authorization")
    async def authorization(request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("client_id") != state.client_id or q.get("response_type") != "code":
            return Response("invalid request", status_code=400)
        code = new_token("AQT")
        state.codes[code] = q
        back = {"code": code, "state": q.get("state", "")}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", status_code=302)

    def tokens(grant: LinkedInGrant, refresh: str) -> JSONResponse:
        access = new_token("AQV")
        state.access_tokens[access] = grant
        left = int(grant.created_at + REFRESH_S - state.now())
        return JSONResponse(
            {
                "access_token": access,
                "expires_in": ACCESS_S,
                "refresh_token": refresh,
                "refresh_token_expires_in": left,
                "scope": grant.scope.replace(" ", ","),  # LinkedIn lists scopes with commas
            }
        )

    @app.post("/oauth/v2/accessToken")
    async def access_token(request: Request) -> Response:
        form = await form_of(request)
        if (form.get("client_id"), form.get("client_secret")) != (
            state.client_id,
            state.client_secret,
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status_code=401,
            )
        if form.get("grant_type") == "authorization_code":
            entry = state.codes.pop(form.get("code", ""), None)
            if entry is None or entry["redirect_uri"] != form.get("redirect_uri"):
                return JSONResponse(
                    {
                        "error": "invalid_request",
                        "error_description": "Unable to retrieve access token: appid/redirect "
                        "uri/code verifier does not match authorization code. Or authorization "
                        "code expired.",
                    },
                    status_code=400,
                )
            grant = LinkedInGrant(state.member, entry.get("scope", ""), state.now())
            refresh = new_token("AQW")
            state.refresh_tokens[refresh] = grant
            return tokens(grant, refresh)
        if form.get("grant_type") == "refresh_token":
            presented = form.get("refresh_token", "")
            grant = state.refresh_tokens.get(presented)
            expired = grant is not None and state.now() >= grant.created_at + REFRESH_S
            if grant is None or not grant.active or expired:
                return JSONResponse(
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant or refresh "
                        "token is invalid, expired or revoked.",
                    },
                    status_code=400,
                )
            return tokens(grant, presented)  # the same refresh token, its TTL running down
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def check(request: Request) -> Response | LinkedInGrant:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = state.access_tokens.get(token)
        if grant is None:
            return _error(401, "INVALID_ACCESS_TOKEN", 65600)
        if not grant.active:
            return _error(401, "REVOKED_ACCESS_TOKEN", 65601)
        if not re.fullmatch(r"\d{6}", request.headers.get("linkedin-version", "")):
            return _error(400, "VERSION_MISSING", 100)
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return _error(400, "ILLEGAL_ARGUMENT", 100)
        if "r_ads" not in grant.scope.split():
            return _error(403, "ACCESS_DENIED", 100)
        return grant

    @app.get("/rest/adAccountUsers")
    async def account_users(request: Request) -> Response:
        grant = check(request)
        if isinstance(grant, Response):
            return grant
        if request.query_params.get("q") != "authenticatedUser":
            return _error(400, "ILLEGAL_ARGUMENT", 100)
        start = int(request.query_params.get("start", "0"))
        count = int(request.query_params.get("count", "10"))
        ids = list(state.accounts)
        elements = [
            {
                "account": f"urn:li:sponsoredAccount:{a}",
                "role": "ACCOUNT_BILLING_ADMIN",
                "user": grant.member,
                "changeAuditStamps": {"created": {"time": 0}, "lastModified": {"time": 0}},
            }
            for a in ids[start : start + count]
        ]
        return JSONResponse(
            {"elements": elements, "paging": {"start": start, "count": count, "total": len(ids)}}
        )

    @app.get("/rest/adAccounts/{account}")
    async def ad_account(account: str, request: Request) -> Response:
        grant = check(request)
        if isinstance(grant, Response):
            return grant
        if account not in state.accounts:
            return _error(404, "NOT_FOUND", 100)
        name, currency, _ = state.accounts[account]
        return JSONResponse(
            {
                "id": int(account),
                "name": name,
                "currency": currency,
                "status": "ACTIVE",
                "type": "BUSINESS",
                "reference": "urn:li:organization:2414183",
                "test": False,
            }
        )

    @app.get("/rest/adAccounts/{account}/adCampaigns")
    async def campaigns(account: str, request: Request) -> Response:
        grant = check(request)
        if isinstance(grant, Response):
            return grant
        _, _, named = state.accounts[account]
        elements = [
            {"id": int(cid), "name": name, "account": f"urn:li:sponsoredAccount:{account}"}
            for cid, name in named.items()
        ]
        return JSONResponse({"elements": elements, "metadata": {"nextPageToken": None}})

    @app.get("/rest/adAnalytics")
    async def analytics(request: Request) -> Response:
        grant = check(request)
        if isinstance(grant, Response):
            return grant
        if "r_ads_reporting" not in grant.scope.split():
            return _error(403, "ACCESS_DENIED", 100)
        raw = request.url.query  # Rest.li 2.0: parentheses and commas arrive literal
        params = dict(part.split("=", 1) for part in raw.split("&") if "=" in part)
        found = re.fullmatch(r"\(start:(\(.+?\)),end:(\(.+?\))\)", params.get("dateRange", ""))
        accounts = re.fullmatch(r"List\((.+)\)", params.get("accounts", ""))
        if (
            params.get("q") != "analytics"
            or params.get("timeGranularity") != "DAILY"
            or params.get("pivot") not in ("ACCOUNT", "CAMPAIGN")
            or found is None
            or accounts is None
            or "costInLocalCurrency" not in params.get("fields", "")
        ):
            return _error(400, "ILLEGAL_ARGUMENT", 100)
        account = unquote(accounts.group(1)).rsplit(":", 1)[-1]
        if account not in state.accounts:
            return _error(403, "ACCESS_DENIED", 100)
        since, until = _restli_date(found.group(1)), _restli_date(found.group(2))
        elements = state.analytics(account, since, until, params["pivot"] == "CAMPAIGN")
        return JSONResponse(
            {"elements": elements, "paging": {"start": 0, "count": 10, "links": []}}
        )

    return app
