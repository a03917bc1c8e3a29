"""A fake Meta: Facebook Login dialog and Graph API (token exchange, debug_token, /me,
/me/adaccounts, /{act}/insights with cursor paging, DELETE /me/permissions).

Errors use Graph's shape: `{"error": {"message", "type", "code", "error_subcode"}}`; an invalid
token's reason comes back as `error_subcode` from the Graph API and as `data.error.subcode` from
debug_token (developers.facebook.com/docs/graph-api/guides/error-handling, "Authentication
Error Subcodes", and /docs/facebook-login/guides/access-tokens/debugging).
Metrics arrive as strings, as Graph sends them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.common import FakeState, form_of, install_faults, new_token, s256

VERSION = "v23.0"
LONG_LIVED_S = 5_183_944  # what Graph answers for a fresh long-lived token


@dataclass
class MetaToken:
    kind: str  # "short" | "long"
    user_id: str
    scopes: list[str]
    expires_at: int
    data_access_expires_at: int
    app_id: str
    valid: bool = True


@dataclass
class MetaState(FakeState):
    app_id: str = "1234567890"
    app_secret: str = "meta-app-secret"
    user: dict[str, str] = field(default_factory=lambda: {"id": "10150", "name": "Mia Meta"})
    accounts: list[dict[str, str]] = field(
        default_factory=lambda: [
            {
                "id": f"act_{1000 + i}",
                "account_id": str(1000 + i),
                "name": f"Account {i}",
                "currency": "EUR" if i % 2 == 0 else "JPY",
                "timezone_name": "Europe/Berlin",
            }
            for i in range(5)
        ]
    )
    campaigns: int = 3
    # Why every token stopped working (a Graph error subcode, e.g. 460 password changed).
    invalid_subcode: int | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, MetaToken] = field(default_factory=dict)

    def __post_init__(self) -> None:
        FakeState.__init__(self)

    def insights(self, act: str, since: date, until: date, level: str) -> list[dict[str, Any]]:
        """The rows Graph would return (deterministic, so tests can compute expectations)."""
        rows: list[dict[str, Any]] = []
        seed = int(act.removeprefix("act_"))
        day = since
        while day <= until:
            n = day.toordinal() + seed
            campaigns = range(self.campaigns) if level == "campaign" else [0]
            for c in campaigns:
                imp = 1000 + (n * 7 + c * 13) % 900
                clicks = (n + c) % 50
                spend_cents = (n * 31 + c * 17) % 5000
                row: dict[str, Any] = {
                    "date_start": day.isoformat(),
                    "date_stop": day.isoformat(),
                    "impressions": str(imp),
                    "clicks": str(clicks),
                    "spend": f"{spend_cents // 100}.{spend_cents % 100:02d}",
                    "actions": [
                        {"action_type": "link_click", "value": str(clicks)},
                        {"action_type": "purchase", "value": str((n + c) % 4)},
                    ],
                }
                if level == "campaign":
                    row["campaign_id"] = f"23850{c}"
                    row["campaign_name"] = f"Campaign {chr(ord('C') - c)}"
                rows.append(row)
            day += timedelta(days=1)
        return rows


def graph_error(code: int, status: int = 400, subcode: int | None = None) -> JSONResponse:
    err: dict[str, Any] = {"message": "fake", "type": "OAuthException", "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    return JSONResponse({"error": err}, status_code=status)


def _page(items: list[dict[str, Any]], request: Request, default_limit: int = 25) -> dict[str, Any]:
    limit = int(request.query_params.get("limit", default_limit))
    start = int(request.query_params.get("after", "0") or 0)
    chunk = items[start : start + limit]
    body: dict[str, Any] = {
        "data": chunk,
        "paging": {"cursors": {"before": str(start), "after": str(start + len(chunk))}},
    }
    if start + limit < len(items):
        params = dict(request.query_params)
        params["after"] = str(start + limit)
        body["paging"]["next"] = f"{request.url.replace(query=urlencode(params))}"
    return body


def invalidate(state: MetaState, subcode: int) -> None:
    """Every token stops working, for the reason `subcode` names."""
    state.invalid_subcode = subcode
    for tok in state.tokens.values():
        tok.valid = False


def create_meta_app(state: MetaState) -> FastAPI:
    app = FastAPI()
    install_faults(app, state)
    graph = APIRouter(prefix=f"/{VERSION}")

    def user_token(request: Request) -> MetaToken | None:
        auth = request.headers.get("authorization", "")
        tok = state.tokens.get(auth.removeprefix("Bearer ").removeprefix("OAuth "))
        if tok is None or not tok.valid or tok.expires_at < time.time():
            return None
        return tok

    @graph.get("/dialog/oauth")
    async def dialog(request: Request) -> Response:
        q = dict(request.query_params)
        if q.get("client_id") != state.app_id or q.get("code_challenge_method") != "S256":
            return Response("bad request", status_code=400)
        code = new_token("metacode")
        state.codes[code] = q
        back = urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}?{back}#_=_", status_code=302)

    @graph.api_route("/oauth/access_token", methods=["GET", "POST"])
    async def access_token(request: Request) -> Response:
        form = dict(request.query_params) | await form_of(request)
        if form.get("client_id") != state.app_id or form.get("client_secret") != state.app_secret:
            return graph_error(101)  # "Error validating application"
        now = int(time.time())
        if form.get("grant_type") == "fb_exchange_token":
            old = state.tokens.get(form.get("fb_exchange_token", ""))
            if old is None or not old.valid:
                return graph_error(190)
            tok = new_token("EAAlong")
            state.tokens[tok] = MetaToken(
                "long", old.user_id, old.scopes, now + LONG_LIVED_S, now + 90 * 86400, state.app_id
            )
            return JSONResponse(
                {"access_token": tok, "token_type": "bearer", "expires_in": LONG_LIVED_S}
            )
        entry = state.codes.pop(form.get("code", ""), None)
        if entry is None:
            return graph_error(100, subcode=36009)  # code already used or unknown
        if entry["redirect_uri"] != form.get("redirect_uri"):
            return graph_error(100, subcode=36008)
        if s256(form.get("code_verifier", "")) != entry["code_challenge"]:
            return graph_error(100)
        tok = new_token("EAAshort")
        scopes = entry.get("scope", "").split(",")
        state.tokens[tok] = MetaToken(
            "short", state.user["id"], scopes, now + 7200, now + 90 * 86400, state.app_id
        )
        return JSONResponse({"access_token": tok, "token_type": "bearer", "expires_in": 7200})

    @graph.get("/debug_token")
    async def debug_token(request: Request) -> Response:
        app_token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if app_token != f"{state.app_id}|{state.app_secret}":
            return graph_error(190)
        tok = state.tokens.get(request.query_params.get("input_token", ""))
        if tok is None:
            return JSONResponse(
                {"data": {"is_valid": False, "error": {"code": 190, "message": "fake"}}}
            )
        if not tok.valid and state.invalid_subcode is not None:
            why = {"code": 190, "message": "fake", "subcode": state.invalid_subcode}
            return JSONResponse({"data": {"app_id": tok.app_id, "is_valid": False, "error": why}})
        return JSONResponse(
            {
                "data": {
                    "app_id": tok.app_id,
                    "type": "USER",
                    "application": "Fake App",
                    "data_access_expires_at": tok.data_access_expires_at,
                    "expires_at": tok.expires_at,
                    "is_valid": tok.valid and tok.expires_at > time.time(),
                    "scopes": tok.scopes,
                    "user_id": tok.user_id,
                }
            }
        )

    @graph.get("/me")
    async def me(request: Request) -> Response:
        if user_token(request) is None:
            return graph_error(190, subcode=460)
        return JSONResponse(dict(state.user))

    @graph.get("/me/adaccounts")
    async def adaccounts(request: Request) -> Response:
        if user_token(request) is None:
            return graph_error(190)
        return JSONResponse(_page(state.accounts, request))

    @graph.delete("/me/permissions")
    async def permissions(request: Request) -> Response:
        tok = user_token(request)
        if tok is None:
            return graph_error(190)
        for other in state.tokens.values():
            if other.user_id == tok.user_id and other.app_id == tok.app_id:
                other.valid = False
        return JSONResponse({"success": True})

    @graph.get("/{act}/insights")
    async def insights(act: str, request: Request) -> Response:
        if user_token(request) is None:
            return graph_error(190, subcode=state.invalid_subcode)
        if act not in {a["id"] for a in state.accounts}:
            return graph_error(100, subcode=33)
        q = request.query_params
        if q.get("time_increment") != "1":
            return graph_error(100)
        time_range = json.loads(q.get("time_range", "{}"))
        rows = state.insights(
            act,
            date.fromisoformat(time_range["since"]),
            date.fromisoformat(time_range["until"]),
            q.get("level", "account"),
        )
        wanted = set(q.get("fields", "").split(",")) | {"date_start", "date_stop"}
        rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
        return JSONResponse(_page(rows, request))

    app.include_router(graph)
    return app
