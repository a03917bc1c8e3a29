"""GET /v1/connections/{id}/reports: the normalised ads report of one connection."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from backend.auth.deps import CurrentUser
from backend.deps import StateDep
from backend.reports.schemas import ReportOut
from backend.reports.service import build_report, parse_params

router = APIRouter(prefix="/v1/connections", tags=["reports"])

_Text = Annotated[str | None, Query(max_length=200)]


@router.get("/{connection_id}/reports", response_model=ReportOut)
async def get_report(
    connection_id: str,
    user: CurrentUser,
    state: StateDep,
    account: _Text = None,
    since: _Text = None,
    until: _Text = None,
    level: _Text = None,
    metrics: Annotated[str | None, Query(max_length=500)] = None,
) -> JSONResponse:
    """`account, since, until, level, metrics` -> rows, totals and columns (plain JSON)."""
    params = parse_params(account=account, since=since, until=until, level=level, metrics=metrics)
    body = await build_report(state, user.user_id, connection_id, params)
    # Returned as a Response: FastAPI skips validating and encoding every row (ReportOut only
    # documents the body; tests/security/test_api_schema.py checks answers against it).
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
