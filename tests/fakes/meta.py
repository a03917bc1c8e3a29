"""A fake Meta: Facebook Login dialog and Graph API (token exchange, debug_token, /me,
/me/adaccounts, /{act}/insights with cursor paging, DELETE /me/permissions).

Errors use Graph's shape: `{"error": {"message", "type", "code", "error_subcode"}}`; an invalid
token's reason comes back as `error_subcode` from the Graph API and as `data.error.subcode` from
debug_token (developers.facebook.com/docs/graph-api/guides/error-handling, "Authentication
Error Subcodes", and /docs/facebook-login/guides/access-tokens/debugging).
Metrics arrive as strings, as Graph sends them.

Insights follow developers.facebook.com/docs/marketing-api/insights (and the AdsInsights /
AdReportRun field names of facebook-python-business-sdk): `level` account|campaign|adset|ad,
`breakdowns` (age, gender, country, publisher_platform, device_platform), `time_increment` 1 or
all_days, `default_summary=true` (a `summary` object with Meta's own deduplicated reach),
`actions`/`action_values` lists of {action_type, value}, and asynchronous report runs:
POST /act_{id}/insights -> {report_run_id}; GET /{report_run_id} -> async_status,
async_percent_completion; GET /{report_run_id}/insights. A synchronous call bigger than
`max_sync_rows` (or any, with `too_big_code` set) fails with error_subcode 1487534.
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
    # Synchronous insights answering more rows than this fail with subcode 1487534.
    max_sync_rows: int = 1_000_000
    too_big_code: int | None = None  # 100 or 1: every synchronous insights call is "too big"
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Report runs stay "Job Running" (10% more per poll, up to 90): a run nobody waits for.
    hold_runs: bool = False
    insight_params: list[dict[str, str]] = field(default_factory=list)
    # Why every token stopped working (a Graph error subcode, e.g. 460 password changed).
    invalid_subcode: int | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    tokens: dict[str, MetaToken] = field(default_factory=dict)

    def __post_init__(self) -> None:
        FakeState.__init__(self)

    def insights(
        self,
        act: str,
        since: date,
        until: date,
        level: str,
        breakdowns: tuple[str, ...] = (),
        daily: bool = True,
    ) -> list[dict[str, Any]]:
        """The rows Graph would return (deterministic, so tests can compute expectations)."""
        days = [since + timedelta(days=i) for i in range((until - since).days + 1)]
        cells: list[dict[str, str]] = [{}]
        for b in breakdowns:
            cells = [{**c, b: v} for c in cells for v in BREAKDOWN_VALUES[b]]
        entities = self._entities(level)
        out: list[dict[str, Any]] = []
        for entity in entities:
            for cell in cells:
                spans = [(d, d) for d in days] if daily else [(since, until)]
                for first, last in spans:
                    parts = [self._day(act, d, entity, cell) for d in days if first <= d <= last]
                    row = _sum_rows(parts)
                    row.update(date_start=first.isoformat(), date_stop=last.isoformat())
                    row.update(entity)
                    row.update(cell)
                    # Reach of the span: deduplicated, less than the days' sum when > 1 day.
                    reach = sum(p["_reach"] for p in parts)
                    row["reach"] = str(reach * 2 // 3 if len(parts) > 1 else reach)
                    row["frequency"] = f"{int(row['impressions']) / max(1, int(row['reach'])):.6f}"
                    out.append(row)
        return out

    def summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """default_summary: sums, but reach deduplicated by Meta (never the rows' sum)."""
        total = _sum_rows(rows)
        reach = sum(int(r["reach"]) for r in rows) // 2
        total["reach"] = str(reach)
        total["frequency"] = f"{int(total['impressions']) / max(1, reach):.6f}"
        return total

    def _entities(self, level: str) -> list[dict[str, str]]:
        if level == "account":
            return [{}]
        out = []
        for c in range(self.campaigns):
            camp = {"campaign_id": f"23850{c}", "campaign_name": f"Campaign {chr(ord('C') - c)}"}
            if level == "campaign":
                out.append(camp)
                continue
            for a in range(2):
                adset = {**camp, "adset_id": f"23851{c}{a}", "adset_name": f"Ad set {c}.{a}"}
                if level == "adset":
                    out.append(adset)
                    continue
                for d in range(2):
                    out.append({**adset, "ad_id": f"23852{c}{a}{d}", "ad_name": f"Ad {c}.{a}.{d}"})
        return out

    def _day(
        self, act: str, day: date, entity: dict[str, str], cell: dict[str, str]
    ) -> dict[str, Any]:
        seed = int(act.removeprefix("act_"))
        n = day.toordinal() + seed
        c = sum(ord(ch) for ch in "".join(entity.values()) + "".join(cell.values())) % 97
        imp = 1000 + (n * 7 + c * 13) % 900
        clicks = (n + c) % 50
        spend_cents = (n * 31 + c * 17) % 5000
        purchases = (n + c) % 4
        return {
            "impressions": imp,
            "clicks": clicks,
            "spend": spend_cents,
            "_reach": imp * 3 // 4,
            "actions": {"link_click": clicks, "purchase": purchases,
                        "offsite_conversion.fb_pixel_purchase": purchases},
            "action_values": {"purchase": purchases * 2550,
                              "offsite_conversion.fb_pixel_purchase": purchases * 2550},
        }  # fmt: skip


BREAKDOWN_VALUES = {
    "age": ("18-24", "25-34", "35-44"),
    "gender": ("female", "male"),
    "country": ("DE", "FR"),
    "publisher_platform": ("facebook", "instagram"),
    "device_platform": ("mobile_app", "desktop"),
}


def _sum_rows(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Graph's string metrics from integer parts (day parts, or already rendered rows)."""

    def num(p: dict[str, Any], key: str) -> int:
        v = p[key]
        return round(float(v) * 100) if key == "spend" and isinstance(v, str) else int(v)

    imp = sum(num(p, "impressions") for p in parts)
    clicks = sum(num(p, "clicks") for p in parts)
    cents = sum(num(p, "spend") for p in parts)
    actions: dict[str, int] = {}
    values: dict[str, int] = {}
    for p in parts:
        for kind, target in (("actions", actions), ("action_values", values)):
            entries = p[kind]
            scale = 100 if kind == "action_values" else 1
            pairs = entries.items() if isinstance(entries, dict) else (
                (e["action_type"], round(float(e["value"]) * scale)) for e in entries
            )  # fmt: skip
            for k, v in pairs:
                target[k] = target.get(k, 0) + int(v)
    return {
        "impressions": str(imp),
        "clicks": str(clicks),
        "spend": f"{cents // 100}.{cents % 100:02d}",
        "actions": [{"action_type": k, "value": str(v)} for k, v in actions.items()],
        "action_values": [
            {"action_type": k, "value": f"{v // 100}.{v % 100:02d}"} for k, v in values.items()
        ],
    }


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

    def _answer(act: str, q: dict[str, str]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        state.insight_params.append(dict(q))
        time_range = json.loads(q.get("time_range", "{}"))
        breakdowns = tuple(b for b in q.get("breakdowns", "").split(",") if b)
        rows = state.insights(
            act,
            date.fromisoformat(time_range["since"]),
            date.fromisoformat(time_range["until"]),
            q.get("level", "account"),
            breakdowns,
            daily=q.get("time_increment") == "1",
        )
        summary = state.summary(rows)
        wanted = set(q.get("fields", "").split(",")) | {"date_start", "date_stop", *breakdowns}
        rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
        return rows, {k: v for k, v in summary.items() if k in wanted}

    def _bad_insights(act: str, q: dict[str, str]) -> JSONResponse | None:
        if act not in {a["id"] for a in state.accounts}:
            return graph_error(100, subcode=33)
        if q.get("time_increment") not in ("1", "all_days"):
            return graph_error(100)
        if q.get("level", "account") not in ("account", "campaign", "adset", "ad"):
            return graph_error(100)
        for b in (b for b in q.get("breakdowns", "").split(",") if b):
            if b not in BREAKDOWN_VALUES:
                return graph_error(100)
        return None

    @graph.get("/{act}/insights")
    async def insights(act: str, request: Request) -> Response:
        if act in state.runs:  # GET /{report_run_id}/insights shares this path's shape
            return run_insights(act, request)
        if user_token(request) is None:
            return graph_error(190, subcode=state.invalid_subcode)
        q = dict(request.query_params)
        bad = _bad_insights(act, q)
        if bad is not None:
            return bad
        rows, summary = _answer(act, q)
        if state.too_big_code is not None or len(rows) > state.max_sync_rows:
            code = state.too_big_code or 100
            # "Please reduce the amount of data you're asking for, then retry your request"
            return graph_error(code, status=500 if code == 1 else 400, subcode=1487534)
        body = _page(rows, request)
        if q.get("default_summary") == "true":
            body["summary"] = summary
        return JSONResponse(body)

    @graph.post("/{act}/insights")
    async def start_run(act: str, request: Request) -> Response:
        if user_token(request) is None:
            return graph_error(190, subcode=state.invalid_subcode)
        q = await form_of(request)
        bad = _bad_insights(act, q)
        if bad is not None:
            return bad
        rows, summary = _answer(act, q)
        run_id = str(6_000_000_000 + len(state.runs))
        state.runs[run_id] = {"rows": rows, "summary": summary, "polls": 0}
        return JSONResponse({"report_run_id": run_id})

    @graph.get("/{run_id}")
    async def run_status(run_id: str, request: Request) -> Response:
        run = state.runs.get(run_id)
        if user_token(request) is None or run is None:
            return graph_error(100 if run is None else 190)
        run["polls"] += 1
        steps = [("Job Not Started", 0), ("Job Running", 50), ("Job Completed", 100)]
        status, pct = steps[min(run["polls"] - 1, 2)]
        if state.hold_runs:
            status, pct = "Job Running", min(90, 10 * run["polls"])
        return JSONResponse({"id": run_id, "async_status": status, "async_percent_completion": pct})

    def run_insights(run_id: str, request: Request) -> Response:
        run = state.runs.get(run_id)
        if user_token(request) is None or run is None:
            return graph_error(100 if run is None else 190)
        if run["polls"] < 3:
            return graph_error(100)  # results before "Job Completed"
        body = _page(run["rows"], request)
        if request.query_params.get("default_summary") == "true":
            body["summary"] = run["summary"]
        return JSONResponse(body)

    app.include_router(graph)
    return app
