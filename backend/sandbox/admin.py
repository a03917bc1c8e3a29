"""Admin API for tests and demos: fault knobs, provider-side revocation, expiry, counters.

Only routed when `admin_api` is on; otherwise every path here is a plain 404.

It changes a provider's state, so a web page the user happens to visit must not reach it.
Every request needs (see `guard`):
- `Authorization: Bearer <admin token>`: a random token made at each start
  (`create_sandbox_app`) and handed only to whoever started the sandbox, through a 0600 file
  (`write_token_file`). A page cannot read that file, and a custom header is never part of a
  "simple" cross-origin request, so a no-cors `fetch` or a form post cannot carry it.
- a `Host` naming loopback (or one of `admin_hosts`): a DNS-rebound name is refused.
- `Content-Type: application/json` on every POST: the content types a form or a no-cors
  fetch may send (text/plain, form-urlencoded, multipart) are refused with 415.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError

from backend.sandbox.api import ApiError
from backend.sandbox.config import Faults
from backend.sandbox.core import NO_STORE, sandbox_of
from backend.sandbox.store import COUNTERS

# Where a backend that mounts Demo Ads with its admin API writes the token (in its data folder).
TOKEN_FILE_NAME = "sandbox-admin-token"  # noqa: S105 (a file name, not a secret)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def new_admin_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def write_token_file(path: Path, token: str) -> None:
    """Write `token` to `path`, readable by this OS user only (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(token + "\n")
    os.replace(tmp, path)


def read_token_file(path: Path) -> str:
    """The admin token a running sandbox wrote to `path` (a file, or a backend data folder)."""
    if path.is_dir():
        path = path / TOKEN_FILE_NAME
    return path.read_text(encoding="ascii").strip()


def admin_headers(token: str) -> dict[str, str]:
    """Headers every admin request needs besides a loopback Host."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8765 (RFC 3986 §3.2.2)
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def guard(request: Request) -> None:
    """Refuse anything but a same-user client that holds the token (see the module doc)."""
    config = sandbox_of(request).config
    hosts = request.headers.getlist("host")
    allowed = LOOPBACK_HOSTS | {h.lower() for h in config.admin_hosts}
    if len(hosts) != 1 or _host_name(hosts[0]) not in allowed:
        raise ApiError(403, "forbidden", "The admin API answers only on a loopback address.")
    if request.method not in ("GET", "HEAD"):
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise ApiError(415, "invalid_request", "Send the admin API JSON (application/json).")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = config.admin_token
    if (
        expected is None
        or scheme.lower() != "bearer"
        or not secrets.compare_digest(given.strip().encode(), expected.encode())
    ):
        raise ApiError(401, "invalid_token", "The admin API needs its admin token.")


router = APIRouter(prefix="/admin", dependencies=[Depends(guard)])


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
