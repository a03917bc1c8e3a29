"""GET /v1/connections/{id}/reports: the normalised ads report of one connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backend.auth.deps import CurrentUser
from backend.deps import StateDep
from backend.errors import InvalidRequest
from backend.reports.gone import until_gone
from backend.reports.params import parse_params
from backend.reports.schemas import ReportOut
from backend.reports.service import build_report

router = APIRouter(prefix="/v1/connections", tags=["reports"])

_Text = Annotated[str | None, Query(max_length=200)]


@router.get("/{connection_id}/reports", response_model=ReportOut)
async def get_report(
    request: Request,
    connection_id: str,
    user: CurrentUser,
    state: StateDep,
    account: Annotated[list[str] | None, Query(max_length=200)] = None,
    all_accounts: bool = False,
    since: _Text = None,
    until: _Text = None,
    preset: _Text = None,
    level: _Text = None,
    breakdowns: Annotated[list[str] | None, Query(max_length=200)] = None,
    time: _Text = None,
    metrics: Annotated[str | None, Query(max_length=500)] = None,
    compare: _Text = None,
) -> JSONResponse:
    """`account (repeatable) | all_accounts, since+until | preset (default last_30d), level,
    breakdowns, time (daily|total), metrics, compare` -> the normalized report (plain JSON)."""
    if account is not None and len(account) > 50:
        raise InvalidRequest("Ask for at most 50 ad accounts at a time.")
    params = parse_params(
        account=account, all_accounts=all_accounts, since=since, until=until, preset=preset,
        level=level, breakdowns=breakdowns, time=time, metrics=metrics, compare=compare,
    )  # fmt: skip
    body = await until_gone(request, build_report(state, user.user_id, connection_id, params))
    if body is None:
        # Nobody reads this: nginx's "client closed request" (the log says what happened).
        return JSONResponse({}, status_code=499)
    # Returned as a Response: FastAPI skips validating and encoding every row (ReportOut only
    # documents the body; tests/security/test_api_schema.py checks answers against it).
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
