"""Admin API for tests and demos: fault knobs, provider-side revocation, expiry, counters.

Only routed when `admin_api` is on; otherwise every path here is a plain 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from backend.sandbox.config import Faults
from backend.sandbox.core import NO_STORE, sandbox_of
from backend.sandbox.store import COUNTERS

router = APIRouter(prefix="/admin")


class RevokeFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = None
    client_id: str | None = None


def _json(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


@router.post("/clients/{client_id}/faults")
async def set_faults(request: Request, client_id: str) -> JSONResponse:
    """Merge the given knobs into the client's faults; returns the knobs now in force."""
    sandbox = sandbox_of(request)
    client = sandbox.config.client(client_id)
    if client is None:
        return _json({"error": "not_found", "error_description": "No such client."}, 404)
    try:
        changes = await request.json()
        with sandbox.store.lock:
            merged = client.faults.model_dump() | dict(changes)
            client.faults = Faults.model_validate(merged)
    except (ValueError, TypeError, ValidationError) as exc:
        detail = "Send a JSON object of fault knobs: " + ", ".join(Faults.model_fields)
        if isinstance(exc, ValidationError):
            detail = f"Fault knobs not accepted: {exc.errors()[0]['msg']} ({detail})"
        return _json({"error": "invalid_request", "error_description": detail}, 400)
    return _json(client.faults.model_dump())


@router.post("/grants/revoke")
async def revoke_grants(request: Request) -> JSONResponse:
    """Revoke grants as if the person removed the app at the provider (all when no filter)."""
    sandbox = sandbox_of(request)
    raw = await request.body()
    try:
        which = RevokeFilter.model_validate_json(raw) if raw.strip() else RevokeFilter()
    except ValidationError:
        return _json(
            {"error": "invalid_request", "error_description": "Send {user_id?, client_id?}."}, 400
        )
    count = 0
    with sandbox.store.lock:
        for grant in sandbox.store.grants.values():
            if grant.revoked:
                continue
            if which.user_id not in (None, grant.user_id):
                continue
            if which.client_id not in (None, grant.client_id):
                continue
            sandbox.store.revoke_grant(grant)
            count += 1
        sandbox.store.save()
    return _json({"revoked": count})


@router.post("/tokens/expire")
def expire_tokens(request: Request) -> JSONResponse:
    """Every access token issued so far expires now (refresh tokens are untouched)."""
    sandbox = sandbox_of(request)
    at = sandbox.now()
    with sandbox.store.lock:
        live = [a for a in sandbox.store.access.values() if a.expires_at > at]
        for access in live:
            access.expires_at = at
        sandbox.store.save()
    return _json({"expired": len(live)})


@router.get("/stats")
def stats(request: Request) -> JSONResponse:
    """Counters per client id: {client_id: {codes_issued, refreshes, …}}."""
    sandbox = sandbox_of(request)
    with sandbox.store.lock:
        out = {c.client_id: dict.fromkeys(COUNTERS, 0) for c in sandbox.config.clients}
        for client_id, row in sandbox.store.counters.items():
            out.setdefault(client_id, dict.fromkeys(COUNTERS, 0)).update(row)
    return _json(out)


@router.get("/grants")
def grants(request: Request) -> JSONResponse:
    """Grants without any token: who granted which client what, and whether it still stands."""
    sandbox = sandbox_of(request)
    at = sandbox.now()
    with sandbox.store.lock:
        items = [
            {
                "id": g.id,
                "client_id": g.client_id,
                "user_id": g.user_id,
                "scopes": g.scopes,
                "created_at": g.created_at,
                "active": not g.revoked and not sandbox.grant_expired(g, at),
                "refreshes": len(g.spent),
            }
            for g in sandbox.store.grants.values()
        ]
    return _json({"data": items})


@router.post("/reset")
def reset(request: Request) -> JSONResponse:
    """Forget every grant, code, token and counter; restore the configured fault knobs."""
    sandbox_of(request).reset()
    return _json({"reset": True})
