"""The Demo Ads reporting API: who am I, my ad accounts, daily insights with cursor paging."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from backend.sandbox import data, hierarchy, report_rows
from backend.sandbox.config import ClientConfig, UserConfig
from backend.sandbox.core import NO_STORE, Sandbox, sandbox_of
from backend.sandbox.store import digest

router = APIRouter(prefix="/api")
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class ApiError(Exception):
    """An API refusal: HTTP status, a machine code and plain words."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message

    def response(self) -> JSONResponse:
        headers = dict(NO_STORE)
        if self.status == 401:  # RFC 6750 §3
            headers["WWW-Authenticate"] = f'Bearer realm="Demo Ads", error="{self.error}"'
        body = {"error": self.error, "error_description": self.message}
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class Caller:
    sandbox: Sandbox
    client: ClientConfig
    user: UserConfig
    scopes: list[str]


def _caller(request: Request) -> Caller:
    """Check the bearer access token (RFC 6750 §2.1): present, live, grant still valid."""
    sandbox = sandbox_of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer " or not header[7:].strip():
        raise ApiError(401, "invalid_token", "Send an access token: Authorization: Bearer ….")
    store, at = sandbox.store, sandbox.now()
    with store.lock:
        access = store.access.get(digest(header[7:].strip()))
        grant = store.grants.get(access.grant_id) if access else None
        if access is None or grant is None or access.revoked or grant.revoked:
            raise ApiError(401, "invalid_token", "This access token is not valid or was revoked.")
        if at >= access.expires_at:
            raise ApiError(401, "invalid_token", "This access token has expired.")
        if sandbox.grant_expired(grant, at):
            raise ApiError(401, "invalid_token", "This grant has expired.")
        store.count(grant.client_id, "api_calls")
    client = sandbox.config.client(grant.client_id)
    user = sandbox.config.user(grant.user_id)
    if client is None or user is None:
        raise ApiError(401, "invalid_token", "The app or person behind this token is gone.")
    return Caller(sandbox, client, user, grant.scopes)


async def caller(request: Request) -> Caller:
    who = _caller(request)
    if not await who.sandbox.hold(who.client, "api", who.user.id, request):
        raise InjectedFault(JSONResponse({}, status_code=408))  # nobody is listening any more
    fault = await who.sandbox.faults(who.client, "api")
    if fault is not None:
        raise InjectedFault(fault)
    return who


class InjectedFault(Exception):
    """A 429 or 503 the admin API queued for this client (see Sandbox.faults)."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__("injected fault")
        self.response = response


CallerDep = Annotated[Caller, Depends(caller)]


@router.get("/me")
def me(who: CallerDep) -> JSONResponse:
    user = who.user
    return JSONResponse({"id": user.id, "name": user.name, "email": user.email}, headers=NO_STORE)


@router.get("/accounts")
def accounts(who: CallerDep) -> JSONResponse:
    items = [
        {"id": a.id, "name": a.name, "currency": a.currency, "time_zone": a.time_zone}
        for a in data.accounts_for(who.user.id, benchmark=who.sandbox.config.benchmark_account)
    ]
    return JSONResponse({"data": items}, headers=NO_STORE)


def _date(name: str, value: str | None) -> date:
    if not value:
        raise ApiError(400, "invalid_request", f"{name} is required (YYYY-MM-DD).")
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "invalid_request", f"{name} must be a date like 2026-11-01.") from None


def _fingerprint(account: str, since: date, until: date, level: str, extra: str = "") -> str:
    text = f"{account}|{since}|{until}|{level}{extra}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cursor(offset: int, fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _offset(cursor: str, fingerprint: str) -> int:
    """Decode an `after` cursor; it must belong to this same query."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        offset = doc["o"]
        if doc["q"] != fingerprint or not isinstance(offset, int) or offset < 0:
            raise ValueError(cursor)
        return offset
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ApiError(
            400, "invalid_request", "This paging cursor is not for this report."
        ) from None


@router.get("/accounts/{account_id}/insights")
def insights(request: Request, account_id: str, who: CallerDep) -> Response:
    # CPU seconds this thread spends on the page, reported as Server-Timing (W3C): a load-proof
    # measure of the sandbox's own cost, for benchmarks and the speed test.
    started = time.thread_time()
    q = request.query_params
    mine = data.accounts_for(who.user.id, benchmark=who.sandbox.config.benchmark_account)
    account = next((a for a in mine if a.id == account_id), None)
    if account is None:
        raise ApiError(404, "not_found", "No ad account with that id for this person.")
    since, until = _date("since", q.get("since")), _date("until", q.get("until"))
    if since > until:
        raise ApiError(400, "invalid_request", "since must not be after until.")
    limit_days = who.sandbox.config.max_report_days
    if (until - since).days + 1 > limit_days:
        raise ApiError(400, "invalid_request", f"Ask for at most {limit_days} days at a time.")
    level = q.get("level", "account")
    if level not in hierarchy.LEVELS:
        raise ApiError(400, "invalid_request", "level must be account, campaign, adset or ad.")
    breakdowns = [b.strip() for b in q.get("breakdowns", "").split(",") if b.strip()]
    for name in breakdowns:
        if name != "country" and name not in hierarchy.BREAKDOWN_VALUES:
            offered = ", ".join(["country", *hierarchy.BREAKDOWN_VALUES])
            raise ApiError(400, "invalid_request", f"breakdowns must be among {offered}.")
    increment = q.get("time_increment", "1")
    if increment not in ("1", "all_days"):
        raise ApiError(400, "invalid_request", "time_increment must be 1 or all_days.")
    summary = q.get("default_summary", "false") == "true"
    fields = set(q.get("fields", "").split(","))
    # Today where the account is (Meta reports by the account's time zone): no future rows.
    today = datetime.fromtimestamp(who.sandbox.now(), UTC).astimezone(ZoneInfo(account.time_zone))
    until = min(until, today.date())
    general = (
        level in ("adset", "ad") or breakdowns or increment == "all_days" or summary
        or bool(fields & {"reach", "frequency", "conversion_value"})
    )  # fmt: skip
    try:
        limit = int(q.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise ApiError(400, "invalid_request", "limit must be a whole number.") from None
    if limit < 1:
        raise ApiError(400, "invalid_request", "limit must be at least 1.")
    limit = min(limit, MAX_LIMIT)
    extra = f"|{','.join(breakdowns)}|{increment}|{summary}|{general}"
    fingerprint = _fingerprint(account.id, since, until, level, extra)
    after = q.get("after")
    start = _offset(after, fingerprint) if after else 0
    seed = who.sandbox.config.seed
    tail = ""
    if since > until:  # the whole range is in the future there: nothing happened yet
        total, rows = 0, []
    elif general:
        found, aggregate = hierarchy.report(
            seed, account, since, until, level, breakdowns, increment == "1"
        )
        total = len(found)
        rows = [json.dumps(r, ensure_ascii=False) for r in found[start : start + limit]]
        if summary:
            tail = f',"summary":{json.dumps(aggregate, ensure_ascii=False)}'
    else:
        total = report_rows.row_count(account, since, until, level)
        rows = report_rows.rows_json(seed, account, since, level, start, min(total, start + limit))
    stop = min(total, start + limit)
    next_cursor = _cursor(stop, fingerprint) if stop < total else None
    # The rows are already JSON text (report_rows.py); assemble the body around them.
    body = (
        f'{{"data":[{",".join(rows)}],"paging":{{"next_cursor":{json.dumps(next_cursor)}}}{tail}}}'
    )
    cpu_ms = (time.thread_time() - started) * 1000
    headers = {**NO_STORE, "Server-Timing": f"cpu;dur={cpu_ms:.1f}"}
    return Response(body.encode(), media_type="application/json", headers=headers)
