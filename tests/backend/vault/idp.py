"""A small real OAuth 2.0 token server + ads API for refresh tests, served by uvicorn.

It behaves like the strict providers the vault must survive: refresh tokens rotate on every
use, and presenting an old one revokes the whole grant (RFC 9700 §4.14.2, oidc-provider).
Knobs and counters are plain methods: the test owns the server's thread.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse


@dataclass
class Grant:
    refresh_token: str
    old_refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class Stats:
    token_requests: int = 0
    refreshes: int = 0  # successful refresh_token grants
    reused_refresh_tokens: int = 0  # an already-rotated refresh token came back
    api_calls: int = 0


class MiniIdp:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.grants: dict[str, Grant] = {}
        self._by_refresh: dict[str, str] = {}
        self._access: dict[str, tuple[str, float]] = {}  # token -> (grant id, expires at)
        self.access_lifetime_s = 3600
        self.faults: deque[tuple[int, int | None]] = deque()
        self.token_delay_s = 0.0
        self.stats = Stats()
        self.app = self._build()

    # -- knobs -------------------------------------------------------------------------------

    def new_grant(self) -> tuple[str, dict[str, Any]]:
        """(grant id, a token response as a code redemption would return it)."""
        with self._lock:
            gid = secrets.token_hex(4)
            rt = "rt-" + secrets.token_urlsafe(16)
            self.grants[gid] = Grant(rt)
            self._by_refresh[rt] = gid
            return gid, self._issue(gid)

    def revoke_grant(self, gid: str) -> None:
        with self._lock:
            self.grants[gid].revoked = True

    def drop_access_tokens(self) -> None:
        """Every access token is refused from now on (as after a password change)."""
        with self._lock:
            self._access.clear()

    def current_refresh_token(self, gid: str) -> str:
        return self.grants[gid].refresh_token

    def fail_next(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        with self._lock:
            self.faults.extend([(status, retry_after)] * times)

    # -- server ------------------------------------------------------------------------------

    def _issue(self, gid: str) -> dict[str, Any]:
        at = "at-" + secrets.token_urlsafe(16)
        self._access[at] = (gid, time.time() + self.access_lifetime_s)
        return {
            "access_token": at,
            "token_type": "Bearer",
            "expires_in": self.access_lifetime_s,
            "refresh_token": self.grants[gid].refresh_token,
            "scope": "ads_read",
        }

    def _refresh(self, presented: str) -> JSONResponse:
        with self._lock:
            self.stats.token_requests += 1
            if self.faults:
                status, retry_after = self.faults.popleft()
                headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
                return JSONResponse({"error": "server_error"}, status, headers=headers)
            gid = self._by_refresh.get(presented)
            grant = self.grants.get(gid) if gid else None
            if grant is None or grant.revoked:
                return JSONResponse({"error": "invalid_grant"}, 400)
            if presented != grant.refresh_token:
                # Reuse of a rotated token: assume theft and kill the whole grant.
                self.stats.reused_refresh_tokens += 1
                grant.revoked = True
                return JSONResponse({"error": "invalid_grant"}, 400)
            grant.old_refresh_tokens.add(presented)
            grant.refresh_token = "rt-" + secrets.token_urlsafe(16)
            self._by_refresh[grant.refresh_token] = gid  # type: ignore[index]
            self.stats.refreshes += 1
            return JSONResponse(self._issue(gid), headers={"Cache-Control": "no-store"})  # type: ignore[arg-type]

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.post("/token")
        async def token(request: Request) -> JSONResponse:
            form = parse_qs((await request.body()).decode())
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            if form.get("grant_type") != ["refresh_token"]:
                return JSONResponse({"error": "unsupported_grant_type"}, 400)
            return self._refresh(form.get("refresh_token", [""])[0])

        @app.get("/api/accounts")
        async def accounts(authorization: str = Header(default="")) -> JSONResponse:
            with self._lock:
                self.stats.api_calls += 1
                token = authorization.removeprefix("Bearer ")
                entry = self._access.get(token)
                ok = entry is not None and entry[1] > time.time()
                ok = ok and not self.grants[entry[0]].revoked  # type: ignore[index]
            if not ok:
                return JSONResponse({"error": "invalid_token"}, 401)
            account = {"id": "act_1", "name": "Main", "currency": "EUR", "time_zone": "UTC"}
            return JSONResponse({"data": [account]})

        return app
