"""`GET /v1/providers` and `GET /healthz`."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from backend import __version__
from backend.auth.deps import CurrentUser
from backend.deps import StateDep
from backend.providers.schemas import ProviderOut

router = APIRouter()


@router.get("/v1/providers", tags=["providers"], response_model=list[ProviderOut])
async def list_providers(state: StateDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Providers enabled on this backend."""
    return [
        {
            "id": p.id,
            "display_name": p.display_name,
            "kind": p.kind,
            "scopes": list(p.scopes),
            "redirect": p.redirect_mode,
        }
        for p in state.providers.values()
    ]


class Health(BaseModel):
    """What `/healthz` answers, healthy or not (not a problem: monitors read it as is)."""

    status: str
    database: str
    version: str


@router.get(
    "/healthz",
    tags=["health"],
    response_model=Health,
    responses={503: {"description": "The database is unreachable", "model": Health}},
)
async def healthz(state: StateDep) -> JSONResponse:
    """Liveness and database reachability."""

    def _ping() -> None:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        with anyio.fail_after(5):
            await anyio.to_thread.run_sync(_ping)
    except Exception:
        return JSONResponse(
            {"status": "degraded", "database": "unreachable", "version": __version__},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "version": __version__})
