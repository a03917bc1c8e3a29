"""GET /v1/connections/{id}/reports: the normalised ads report of one connection."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.auth.deps import current_principal
from backend.deps import app_state
from backend.reports.gone import until_gone
from backend.reports.params import MAX_VALUES, QUERY, params_from_query
from backend.reports.schemas import ReportOut
from backend.reports.service import build_report

router = APIRouter(prefix="/v1/connections", tags=["reports"])


def _documented(name: str, kind: str, longest: int) -> dict[str, Any]:
    """The OpenAPI entry of one query parameter (QUERY), as FastAPI would write it from a
    signature: `list[str] | None`, `bool = False` or `str | None` with its length limits
    (tests/backend/reports/test_params.py compares them)."""
    title = name.replace("_", " ").title()
    if kind == "flag":
        flag = {"type": "boolean", "default": False, "title": title}
        return {"name": name, "in": "query", "required": False, "schema": flag}
    value: dict[str, Any] = (
        {"type": "array", "items": {"type": "string"}, "maxItems": MAX_VALUES}
        if kind == "list"
        else {"type": "string", "maxLength": longest}
    )
    return {"name": name, "in": "query", "required": False,
            "schema": {"anyOf": [value, {"type": "null"}], "title": title}}  # fmt: skip


# The query string is read by params_from_query rather than declared in the signature:
# FastAPI's per-parameter validation of ten optional parameters cost more CPU than the
# report's database read (bench/backend_overhead.py). OpenAPI still documents each one.
@router.get(
    "/{connection_id}/reports",
    response_model=ReportOut,
    openapi_extra={"parameters": [_documented(*q) for q in QUERY]},
)
async def get_report(request: Request, connection_id: str) -> JSONResponse:
    """`account (repeatable) | all_accounts, since+until | preset (default last_30d), level,
    breakdowns, time (daily|total), metrics, compare` -> the normalized report (plain JSON)."""
    # Called, not declared as a dependency: one solved per request showed in the profile.
    user = await current_principal(request)
    state = app_state(request)
    query = request.query_params
    params = params_from_query(query, query.getlist)
    body = await until_gone(request, build_report(state, user.user_id, connection_id, params))
    if body is None:
        # Nobody reads this: nginx's "client closed request" (the log says what happened).
        return JSONResponse({}, status_code=499)
    # Returned as a Response: FastAPI skips validating and encoding every row (ReportOut only
    # documents the body; tests/security/test_api_schema.py checks answers against it).
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
