"""The running sandbox (config + state) and helpers shared by its endpoints."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import JSONResponse

from backend.sandbox.config import ClientConfig, Faults, SandboxConfig
from backend.sandbox.id_token import SigningKey
from backend.sandbox.store import Access, Grant, Store, digest, new_token

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# A held request goes on by itself after this long (a test that forgets to release it).
HOLD_MAX_S = 120.0


class Sandbox:
    """One Demo Ads instance: its configuration, its state, and the token mint."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.now = clock  # injectable so tests can move time instead of sleeping
        self.store = Store(config.state_file, clock)
        self.signing_key = SigningKey()  # id_tokens; published at /jwks
        self._initial_faults = {c.client_id: c.faults.model_copy() for c in config.clients}

    def reset(self) -> None:
        """Forget all grants, codes, tokens and counters; put the fault knobs back."""
        with self.store.lock:
            self.store.reset()
            for client in self.config.clients:
                initial = self._initial_faults.get(client.client_id)
                client.faults = initial.model_copy() if initial else Faults()

    def grant_expired(self, grant: Grant, now: float) -> bool:
        client = self.config.client(grant.client_id)
        lifetime = client.faults.grant_lifetime if client else None
        return lifetime is not None and now >= grant.created_at + lifetime

    def mint(self, grant: Grant, scopes: list[str], now: float) -> dict[str, Any]:
        """Issue an access token and a fresh refresh token for `grant` (caller holds the lock).

        Rotation (RFC 9700 §4.14.2): the previous refresh token becomes spent, and presenting
        a spent one later revokes the grant.
        """
        client = self.config.client(grant.client_id)
        lifetime = client.faults.access_token_lifetime if client else 3600
        access = new_token("demo_at_")
        refresh = new_token("demo_rt_")
        self.store.access[digest(access)] = Access(grant.id, grant.client_id, now + lifetime)
        if grant.refresh is not None:
            grant.spent.append(grant.refresh)
        grant.refresh = digest(refresh)
        self.store.refresh_index[grant.refresh] = grant.id
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "scope": " ".join(scopes),
        }
        grant_lifetime = client.faults.grant_lifetime if client else None
        if grant_lifetime is not None:
            # As LinkedIn and Microsoft do: how long the refresh token (the grant) has left.
            left = grant.created_at + grant_lifetime - now
            body["refresh_token_expires_in"] = max(0, int(left))
        return body

    def new_grant(self, client_id: str, user_id: str, scopes: list[str], now: float) -> Grant:
        grant = Grant(uuid.uuid4().hex, client_id, user_id, list(scopes), now)
        self.store.grants[grant.id] = grant
        return grant

    async def hold(
        self, client: ClientConfig, kind: Literal["token", "api"], user_id: str | None,
        request: Request,
    ) -> bool:  # fmt: skip
        """Wait while the `hold` knob stalls this kind of call; False if the client went away
        meanwhile (the request is then dropped unprocessed and counted as abandoned)."""

        def held() -> bool:
            knobs = client.faults
            wanted = not knobs.hold_users or user_id in knobs.hold_users
            return kind in knobs.hold and wanted

        if not held():
            return True
        with self.store.lock:
            self.store.count(client.client_id, "held_requests")
        deadline = time.monotonic() + HOLD_MAX_S
        while held() and time.monotonic() < deadline:
            if await request.is_disconnected():
                with self.store.lock:
                    self.store.count(client.client_id, "abandoned_requests")
                return False
            await asyncio.sleep(0.02)
        return True

    async def faults(
        self, client: ClientConfig, kind: Literal["token", "revoke", "api"]
    ) -> JSONResponse | None:
        """Apply the client's latency, then a 429 or 503 if one is queued for this kind of call."""
        knobs = client.faults
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        with self.store.lock:
            if kind == "api" and knobs.rate_limit_next > 0:
                knobs.rate_limit_next -= 1
                return _fault(429, "rate_limited", "Too many requests; slow down.", knobs)
            if kind == "api" and knobs.fail_next_api > 0:
                knobs.fail_next_api -= 1
                return _fault(503, "temporarily_unavailable", "Demo Ads is down.", knobs)
            if kind != "api" and knobs.fail_next_token > 0:
                knobs.fail_next_token -= 1
                return _fault(503, "temporarily_unavailable", "Demo Ads is down.", knobs)
        return None


def _fault(status: int, error: str, text: str, knobs: Faults) -> JSONResponse:
    headers = {**NO_STORE, "Retry-After": str(knobs.retry_after)}
    body = {"error": error, "error_description": text}
    return JSONResponse(body, status_code=status, headers=headers)


async def form_items(request: Request) -> list[tuple[str, str]]:
    """An application/x-www-form-urlencoded body (RFC 6749 §3.2, §4.1.3) as ordered pairs.

    Parsed here rather than with Starlette's form parser, which needs python-multipart.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return []
    body = await request.body()
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return []


def sandbox_of(request: Request) -> Sandbox:
    sandbox: Sandbox = request.app.state.sandbox
    return sandbox


def base_url(request: Request) -> str:
    """This sandbox's own URL from the request (scheme, host, mount path); no trailing slash.

    Mounted under the backend at /sandbox, Starlette puts the mount path in `root_path`
    (`request.base_url` would name the outer app instead).
    """
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}{root}"


def oauth_error(
    status: int, error: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """RFC 6749 §5.2 error body, never cached."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )
