"""A fake Google: OAuth 2.0 (auth, token, revoke, userinfo) and the Google Ads REST API
(customers:listAccessibleCustomers, googleAds:searchStream).

Shaped after developers.google.com/google-ads/api/docs/account-management/get-account-hierarchy
("Get the account hierarchy": listAccessibleCustomers, then per customer a `customer_client`
query whose level 0 row is the customer itself and level 1 rows its direct clients) and
/docs/concepts/call-structure#cid ("login-customer-id": the manager through which a client
account is reached must be named on every call about that client).

Behaviour copied from Google's: no refresh-token rotation; a refresh token only for
access_type=offline; revoking an unknown token is `400 invalid_token`; int64 fields are JSON
strings, zero metrics are left out (proto3 JSON), conversions are doubles; searchStream answers
a JSON array of batches.

Reports (developers.google.com/google-ads/api/fields/v22/overview): the resources `customer`,
`campaign`, `ad_group`, `ad_group_ad`, and the views `age_range_view`
(ad_group_criterion.age_range.type), `gender_view` (ad_group_criterion.gender.type),
`geographic_view` (geographic_view.country_criterion_id), one row per ad group criterion;
`segments.device` on any of them; without `segments.date` in SELECT the range comes back as
one row per entity; metrics.conversions and metrics.conversions_value are doubles. None of
these resources offers a reach metric.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm

from tests.fakes.common import FakeState, form_of, install_faults, new_token, s256

API_VERSION = "v22"
# One key for every fake Google of a test run (generating RSA keys is slow).
_SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_SIGNING_KID = "fake-google-1"
ISSUER = "https://accounts.google.com"


@dataclass
class GoogleGrant:
    sub: str
    scope: str
    nonce: str | None
    active: bool = True


@dataclass
class GoogleState(FakeState):
    client_id: str = "123-abc.apps.googleusercontent.com"
    client_secret: str = "google-client-secret"
    developer_token: str = "dev-token-xyz"
    user: dict[str, str] = field(
        default_factory=lambda: {"sub": "1171", "email": "gina@example.com", "name": "Gina G"}
    )
    # customer id -> (name, currency, time zone, manager that must be named in login-customer-id)
    customers: dict[str, tuple[str, str, str, str | None]] = field(
        default_factory=lambda: {
            "1112223333": ("Shop EU", "EUR", "Europe/Paris", None),
            "4445556666": ("Shop JP", "JPY", "Asia/Tokyo", None),
            "7778889999": ("Closed shop", "USD", "America/New_York", "0000000000"),
        }
    )
    # manager id -> its direct clients (each also in `customers`, naming the manager there).
    managers: dict[str, list[str]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)  # GAQL report queries, as received
    # What listAccessibleCustomers returns; None: every customer not reached via a manager.
    accessible: list[str] | None = None

    def add_agency(self) -> None:
        """A manager (MCC) the login reaches directly, with two clients reached only through it."""
        self.customers["9990001111"] = ("Agency MCC", "USD", "America/New_York", None)
        self.customers["5550001111"] = ("Client A", "USD", "America/Chicago", "9990001111")
        self.customers["5550002222"] = ("Client B", "GBP", "Europe/London", "9990001111")
        self.managers["9990001111"] = ["5550001111", "5550002222"]
        self.accessible = ["1112223333", "9990001111"]

    def accessible_ids(self) -> list[str]:
        if self.accessible is not None:
            return list(self.accessible)
        clients = {c for cs in self.managers.values() for c in cs}
        return [c for c in self.customers if c not in clients]

    batch_size: int = 7
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    refresh_tokens: dict[str, GoogleGrant] = field(default_factory=dict)
    access_tokens: dict[str, GoogleGrant] = field(default_factory=dict)
    last_authorize: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        FakeState.__init__(self)

    def report(self, customer: str, query: str, since: date, until: date) -> list[dict[str, Any]]:
        """Rows for a GAQL report query: per day (or the range), entity, view row, device."""
        resource = re.search(r"FROM (\w+)", query)
        assert resource is not None
        res = resource.group(1)
        self.queries.append(query)
        daily = "segments.date" in query.split(" FROM ")[0]
        views = {
            "age_range_view": (
                "adGroupCriterion", "ageRange", ["AGE_RANGE_18_24", "AGE_RANGE_65_UP"]
            ),
            "gender_view": ("adGroupCriterion", "gender", ["FEMALE", "MALE"]),
            "geographic_view": ("geographicView", "countryCriterionId", ["2276", "2250"]),
        }  # fmt: skip
        devices = ["MOBILE", "DESKTOP"] if "segments.device" in query else [None]
        groups = 2 if res in ("ad_group", "ad_group_ad") or res in views else 1
        ads = 2 if res == "ad_group_ad" else 1
        spans = (
            [(since + timedelta(days=i),) * 2 for i in range((until - since).days + 1)]
            if daily
            else [(since, until)]
        )
        out: list[dict[str, Any]] = []
        for first, last in spans:
            for c in range(2) if res != "customer" else [0]:
                for g in range(groups):
                    for a in range(ads):
                        for v in views[res][2] if res in views else [None]:
                            for d in devices:
                                out.append(self._report_row(customer, res, first, last, c, g, a,
                                                            v, d, daily, views))  # fmt: skip
        return out

    def _report_row(
        self, customer: str, res: str, first: date, last: date, c: int, g: int, a: int,
        v: str | None, d: str | None, daily: bool, views: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        salt = c * 7 + g * 3 + a + len(v or "") + len(d or "")
        imp = clicks = cost = 0
        conv = value = 0.0
        day = first
        while day <= last:
            n = day.toordinal() + int(customer[-3:]) + salt
            imp += 500 + n % 400
            clicks += n % 30
            cost += (n % 9000) * 1130
            conv += (n % 5) / 2
            value += (n % 5) * 12.25
            day += timedelta(days=1)
        metrics: dict[str, Any] = {
            "impressions": str(imp), "clicks": str(clicks), "costMicros": str(cost),
            "conversions": conv, "conversionsValue": value,
        }  # fmt: skip
        metrics = {k: x for k, x in metrics.items() if x not in ("0", 0, 0.0)}
        row: dict[str, Any] = {"metrics": metrics}
        segments: dict[str, Any] = {}
        if daily:
            segments["date"] = first.isoformat()
        if d:
            segments["device"] = d
        if segments:
            row["segments"] = segments
        if res != "customer":
            row["campaign"] = {"id": str(900 + c), "name": f"Search {c}"}
        if res in ("ad_group", "ad_group_ad") or res in views:
            row["adGroup"] = {"id": f"77{c}{g}", "name": f"Group {c}.{g}"}
        if res == "ad_group_ad":
            row["adGroupAd"] = {"ad": {"id": f"88{c}{g}{a}", "name": f"Ad {c}.{g}.{a}"}}
        if v is not None:
            outer, inner, _ = views[res]
            if outer == "adGroupCriterion":
                row[outer] = {inner: {"type": v}}
            else:
                row[outer] = {inner: v}
        return row

    def rows(self, customer: str, since: date, until: date, campaign: bool) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        day = since
        seed = int(customer[-3:])
        while day <= until:
            for c in range(2) if campaign else [0]:
                n = day.toordinal() + seed + c
                metrics: dict[str, Any] = {
                    "impressions": str(500 + n % 400),
                    "clicks": str(n % 30),
                    "costMicros": str((n % 9000) * 1130),
                    "conversions": (n % 5) / 2,  # 0.0, 0.5, 1.0, ... doubles
                }
                # proto3 JSON leaves zero values out
                metrics = {k: v for k, v in metrics.items() if v not in ("0", 0, 0.0)}
                row: dict[str, Any] = {"segments": {"date": day.isoformat()}, "metrics": metrics}
                if campaign:
                    row["campaign"] = {
                        "resourceName": f"customers/{customer}/campaigns/{900 + c}",
                        "id": str(900 + c),
                        "name": f"Search {c}",
                    }
                rows.append(row)
            day += timedelta(days=1)
        return rows


def _status(code: int, status: str, error_code: dict[str, str] | None = None) -> JSONResponse:
    err: dict[str, Any] = {"code": code, "message": "fake", "status": status}
    if error_code:
        err["details"] = [
            {
                "@type": "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure",
                "errors": [{"errorCode": error_code, "message": "fake"}],
            }
        ]
    return JSONResponse({"error": err}, status_code=code)


def _customer_client(state: GoogleState, queried: str, client: str, level: int) -> dict[str, Any]:
    """A `customer_client` row as the REST API's proto3 JSON has it (camelCase, int64 strings)."""
    name, currency, tz, _ = state.customers[client]
    row: dict[str, Any] = {
        "resourceName": f"customers/{queried}/customerClients/{client}",
        "clientCustomer": f"customers/{client}",
        "level": str(level),
        "manager": client in state.managers,
        "descriptiveName": name,
        "currencyCode": currency,
        "timeZone": tz,
        "id": client,
    }
    # proto3 JSON leaves default values out: level 0 and manager false are absent.
    return {"customerClient": {k: v for k, v in row.items() if v not in ("0", False)}}


def create_google_app(state: GoogleState) -> FastAPI:
    app = FastAPI()
    install_faults(app, state)

    def grant_of(request: Request) -> GoogleGrant | None:
        tok = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = state.access_tokens.get(tok)
        return grant if grant is not None and grant.active else None

    @app.get("/oauth2/v3/certs")
    async def certs() -> Response:
        # Google's JWKS (its discovery document's jwks_uri); RS256 like Google's own keys.
        jwk = json.loads(RSAAlgorithm.to_jwk(_SIGNING_KEY.public_key()))
        return JSONResponse({"keys": [{**jwk, "kid": _SIGNING_KID, "use": "sig", "alg": "RS256"}]})

    @app.get("/o/oauth2/v2/auth")
    async def auth(request: Request) -> Response:
        q = dict(request.query_params)
        state.last_authorize = q
        if q.get("client_id") != state.client_id or q.get("code_challenge_method") != "S256":
            return Response("Error 400: invalid_request", status_code=400)
        code = new_token("4/0google")
        state.codes[code] = q
        back = {"state": q.get("state", ""), "code": code, "scope": q.get("scope", "")}
        back["iss"] = ISSUER  # sent although not advertised (RFC 9207 §2.4 lets clients compare)
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", status_code=302)

    def tokens(grant: GoogleGrant, *, refresh: str | None) -> JSONResponse:
        access = new_token("ya29")
        state.access_tokens[access] = grant
        claims = {
            "iss": ISSUER,
            "aud": state.client_id,
            "sub": grant.sub,
            "email": state.user["email"],
            "email_verified": True,
            "iat": int(time.time()),
            "exp": int(time.time()) + 3600,
            **({"nonce": grant.nonce} if grant.nonce else {}),
        }
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": 3599,
            "scope": grant.scope,
            "token_type": "Bearer",
            "id_token": jwt.encode(
                claims, _SIGNING_KEY, algorithm="RS256", headers={"kid": _SIGNING_KID}
            ),
        }
        if refresh:
            body["refresh_token"] = refresh
        return JSONResponse(body)

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await form_of(request)
        if form.get("client_id") != state.client_id or form.get("client_secret") != (
            state.client_secret
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        if form.get("grant_type") == "authorization_code":
            entry = state.codes.pop(form.get("code", ""), None)
            if entry is None or s256(form.get("code_verifier", "")) != entry["code_challenge"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            if entry["redirect_uri"] != form.get("redirect_uri"):
                return JSONResponse({"error": "redirect_uri_mismatch"}, status_code=400)
            grant = GoogleGrant(state.user["sub"], entry["scope"], entry.get("nonce"))
            refresh = None
            if entry.get("access_type") == "offline":
                refresh = new_token("1//0google")
                state.refresh_tokens[refresh] = grant
            return tokens(grant, refresh=refresh)
        if form.get("grant_type") == "refresh_token":
            known = state.refresh_tokens.get(form.get("refresh_token", ""))
            if known is None or not known.active:
                return JSONResponse(
                    {
                        "error": "invalid_grant",
                        "error_description": "Token has been expired or revoked.",
                    },
                    status_code=400,
                )
            return tokens(known, refresh=None)  # Google does not rotate
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    @app.post("/revoke")
    async def revoke(request: Request) -> Response:
        form = await form_of(request)
        tok = form.get("token", "")
        grant = state.refresh_tokens.get(tok) or state.access_tokens.get(tok)
        if grant is None or not grant.active:
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Token expired or revoked"},
                status_code=400,
            )
        grant.active = False
        return JSONResponse({})

    @app.get("/v1/userinfo")
    async def userinfo(request: Request) -> Response:
        grant = grant_of(request)
        if grant is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(dict(state.user))

    def ads_check(request: Request, customer: str | None) -> Response | None:
        if grant_of(request) is None:
            return _status(401, "UNAUTHENTICATED", {"authenticationError": "OAUTH_TOKEN_INVALID"})
        if request.headers.get("developer-token") != state.developer_token:
            return _status(
                403, "PERMISSION_DENIED", {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"}
            )
        if customer is not None:
            if customer not in state.customers:
                return _status(
                    403, "PERMISSION_DENIED", {"authorizationError": "USER_PERMISSION_DENIED"}
                )
            manager = state.customers[customer][3]
            if manager and request.headers.get("login-customer-id") != manager:
                return _status(
                    403, "PERMISSION_DENIED", {"authorizationError": "USER_PERMISSION_DENIED"}
                )
        return None

    @app.get(f"/{API_VERSION}/customers:listAccessibleCustomers")
    async def accessible(request: Request) -> Response:
        problem = ads_check(request, None)
        if problem is not None:
            return problem
        return JSONResponse({"resourceNames": [f"customers/{c}" for c in state.accessible_ids()]})

    @app.post(f"/{API_VERSION}/customers/{{customer}}/googleAds:searchStream")
    async def search_stream(customer: str, request: Request) -> Response:
        problem = ads_check(request, customer)
        if problem is not None:
            return problem
        query = (await request.json())["query"]
        resource = re.search(r"FROM (\w+)", query)
        if resource is None:
            return _status(400, "INVALID_ARGUMENT", {"queryError": "UNEXPECTED_END_OF_QUERY"})
        name, currency, tz, _ = state.customers[customer]
        metrics_query = "metrics." in query
        if metrics_query and customer in state.managers:
            return _status(400, "INVALID_ARGUMENT", {"queryError": "REQUESTED_METRICS_FOR_MANAGER"})
        results: list[dict[str, Any]]
        if resource.group(1) == "customer_client":
            clients = state.managers.get(customer, [])
            results = [
                _customer_client(state, customer, customer, 0),
                *(_customer_client(state, customer, c, 1) for c in clients),
            ]
        elif resource.group(1) == "customer" and "metrics." not in query:
            results = [
                {
                    "customer": {
                        "resourceName": f"customers/{customer}",
                        "id": customer,
                        "descriptiveName": name,
                        "currencyCode": currency,
                        "timeZone": tz,
                    }
                }
            ]
        else:
            between = re.search(r"BETWEEN '(\d{4}-\d\d-\d\d)' AND '(\d{4}-\d\d-\d\d)'", query)
            if between is None:
                return _status(400, "INVALID_ARGUMENT", {"queryError": "MISSING_DATE_RANGE"})
            since, until = (
                date.fromisoformat(between.group(1)),
                date.fromisoformat(between.group(2)),
            )
            res = resource.group(1)
            head = query.split(" FROM ")[0]
            if res in ("customer", "campaign") and "segments.date" in head and "device" not in head:
                state.queries.append(query)  # the classic daily report
                results = state.rows(customer, since, until, res == "campaign")
            else:
                results = state.report(customer, query, since, until)
        size = state.batch_size
        batches = [
            {"results": results[i : i + size], "fieldMask": "fake", "requestId": "req"}
            for i in range(0, len(results), size)
        ] or [{"fieldMask": "fake", "requestId": "req"}]
        return JSONResponse(batches)

    return app
