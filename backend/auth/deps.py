"""`CurrentUser`: the signed-in device behind a request's Bearer access token (RFC 6750)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.expiry import SIGNED_OUT, DeviceLifetime, refusal, revoked_message
from backend.auth.tokens import LEEWAY_S, AccessClaims, TokenRejected, verify_access_token
from backend.db.models import Device, utcnow
from backend.deps import StateDep, app_state
from backend.errors import Unauthorized

# How long a "this device is still signed in" answer is reused. A sign-out through this
# process takes effect at once; one through another process within this many seconds.
DEVICE_STATUS_TTL_S = 2.0
_MAX_CACHED = 10_000

M = TypeVar("M")


@dataclass(frozen=True)
class Principal:
    user_id: str
    device_id: str
    expires_at: int = 0
    """When the access token presented expires (Unix time): a long-lived event stream ends
    then, and its client comes back with a renewed token."""


@dataclass(frozen=True)
class _Status:
    user_id: str
    # Why the device may no longer act (signed out, expired), in plain words; None: it may.
    refusal: str | None
    checked_at: float


class DeviceStatusCache:
    """Per-app memo of device → (owner, signed out?), so most requests skip the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Status] = {}

    def get(self, device_id: str) -> _Status | None:
        entry = self._entries.get(device_id)
        if entry is None:
            return None
        # A sign-out or expiry is final, so that answer never goes stale.
        if entry.refusal or time.monotonic() - entry.checked_at < DEVICE_STATUS_TTL_S:
            return entry
        return None

    def put(self, device_id: str, user_id: str, refusal: str | None) -> _Status:
        entry = _Status(user_id, refusal, time.monotonic())
        with self._lock:
            if len(self._entries) >= _MAX_CACHED:
                self._entries.clear()
            self._entries[device_id] = entry
        return entry

    def signed_out(self, device_id: str, user_id: str, reason: str = SIGNED_OUT) -> None:
        self.put(device_id, user_id, revoked_message(reason))


class VerifiedTokens:
    """Per-app memo of access tokens whose signature and claims checked out, keyed by the
    token's SHA-256 (the token itself is never kept), until they expire.

    A desktop sends the same token with every request for its lifetime; its ES256 check is the
    costliest step of a warm report request (bench/backend_overhead.py). The answer cannot
    change: the key is fixed for the process, and sign-outs are checked per request apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[bytes, AccessClaims] = {}

    def get(self, token: str) -> AccessClaims | None:
        claims = self._entries.get(_digest(token))
        # Expired as PyJWT would say, with the same leeway.
        if claims is None or claims.expires_at <= time.time() - LEEWAY_S:
            return None
        return claims

    def put(self, token: str, claims: AccessClaims) -> None:
        with self._lock:
            if len(self._entries) >= _MAX_CACHED:
                self._entries.clear()
            self._entries[_digest(token)] = claims


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _per_app(request: Request, name: str, make: Callable[[], M]) -> M:
    """The app's one `make()` result under `name`, made on first use."""
    app_state = request.app.state
    memo: M | None = getattr(app_state, name, None)
    if memo is None:
        memo = make()
        setattr(app_state, name, memo)
    return memo


def verified_tokens(request: Request) -> VerifiedTokens:
    return _per_app(request, "auth_verified_tokens", VerifiedTokens)


def device_status_cache(request: Request) -> DeviceStatusCache:
    return _per_app(request, "auth_device_status", DeviceStatusCache)


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("Sign in first: this request carries no access token.")
    scheme, _, token = header.partition(" ")
    # RFC 7235 §2.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Sign in first: send the access token as 'Authorization: Bearer …'.")
    return token.strip()


def _load_status(
    session: Session, device_id: str, lifetime: DeviceLifetime
) -> tuple[str, str | None] | None:
    row = session.execute(
        select(
            Device.user_id,
            Device.created_at,
            Device.last_seen_at,
            Device.revoked_at,
            Device.revoked_reason,
        ).where(Device.id == device_id)
    ).one_or_none()
    return None if row is None else (row.user_id, refusal(row, lifetime, utcnow()))


async def current_principal(request: Request) -> Principal:
    """The user and device of a valid access token of a device that is still signed in.

    (The state is read from the app rather than as a sub-dependency: each one FastAPI solves
    per request shows in bench/backend_overhead.py.)"""
    state = app_state(request)
    token = _bearer_token(request)
    verified = verified_tokens(request)
    claims = verified.get(token)
    if claims is None:
        try:
            claims = verify_access_token(state.signing_key, token)
        except TokenRejected as exc:
            raise Unauthorized(f"{exc} Sign in again.") from None
        verified.put(token, claims)
    cache = device_status_cache(request)
    status = cache.get(claims.device_id)
    if status is None:
        lifetime = DeviceLifetime.of(state.settings)
        loaded = await state.run_db(lambda s: _load_status(s, claims.device_id, lifetime))
        if loaded is None:
            raise Unauthorized("This device is not known to the backend. Sign in again.")
        status = cache.put(claims.device_id, *loaded)
    if status.user_id != claims.user_id:
        raise Unauthorized("The access token is not valid. Sign in again.")
    if status.refusal is not None:
        raise Unauthorized(status.refusal)
    return Principal(
        user_id=claims.user_id, device_id=claims.device_id, expires_at=claims.expires_at
    )


async def still_signed_in(request: Request, state: StateDep, principal: Principal) -> bool:
    """False once the principal's device was signed out or expired (checked again for open
    event streams, which outlive the request that authenticated them)."""
    cache = device_status_cache(request)
    status = cache.get(principal.device_id)
    if status is None:
        lifetime = DeviceLifetime.of(state.settings)
        loaded = await state.run_db(lambda s: _load_status(s, principal.device_id, lifetime))
        if loaded is None:
            return False
        status = cache.put(principal.device_id, *loaded)
    return status.user_id == principal.user_id and status.refusal is None


CurrentUser = Annotated[Principal, Depends(current_principal)]
