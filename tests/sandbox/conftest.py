"""Fixtures for the Demo Ads tests: a real sandbox on loopback, a clock tests can move, and a
client that plays the code flow the way a relying party does."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from tests.support import sandbox_admin
from tests.support.browser import play_consent, tls_context
from tests.support.servers import serve

CLIENT_ID, CLIENT_SECRET = "demo-desktop", "demo-secret"
AUTH = (CLIENT_ID, CLIENT_SECRET)
REDIRECT = "http://127.0.0.1:53682/callback"


class Clock:
    """Wall-clock time plus however far a test has moved it forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class Sandbox:
    """A running sandbox and a relying party's view of it."""

    url: str
    clock: Clock
    config: SandboxConfig
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=20, verify=tls_context())

    def authorize_url(self, **overrides: str | None) -> str:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": REDIRECT,
            "state": "state-" + secrets.token_urlsafe(8),
            "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256",
            "scope": "ads_read",
        }
        params.update(overrides)
        present = {k: v for k, v in params.items() if v is not None}
        return f"{self.url}/authorize?{urlencode(present)}"

    def code(self, user: str | None = None, **overrides: str | None) -> tuple[str, str]:
        """Consent as `user`; returns (code, verifier)."""
        verifier, challenge = pkce_pair()
        url = self.authorize_url(code_challenge=challenge, **overrides)
        back = query_of(play_consent(url, user=user))
        return back["code"], verifier

    def redeem(self, code: str, verifier: str, redirect_uri: str = REDIRECT) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return self.http.post("/token", data=data, auth=AUTH)

    def connect(self, user: str | None = None) -> dict[str, Any]:
        """The whole code flow; returns the token response."""
        resp = self.redeem(*self.code(user))
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def refresh(self, refresh_token: str) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return self.http.post("/token", data=data, auth=AUTH)

    def revoke(self, token: str, **extra: str) -> httpx.Response:
        return self.http.post("/revoke", data={"token": token, **extra}, auth=AUTH)

    def api(self, path: str, access_token: str, **params: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {access_token}"}
        return self.http.get(path, params=params, headers=headers)

    @property
    def admin_headers(self) -> dict[str, str]:
        """What an admin call needs: this start's token (see backend/sandbox/admin.py)."""
        return sandbox_admin.headers_for(self.url)

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        if body is None:
            resp = self.http.get(f"/admin{path}", headers=self.admin_headers)
        else:
            resp = self.http.post(f"/admin{path}", json=body, headers=self.admin_headers)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def stats(self) -> dict[str, int]:
        counters: dict[str, int] = self.admin("/stats")[CLIENT_ID]
        return counters


def start(config: SandboxConfig, clock: Clock | None = None) -> Iterator[Sandbox]:
    clock = clock or Clock()
    with serve(create_sandbox_app(config, clock=clock)) as server:
        box = Sandbox(server.url, clock, config)
        try:
            yield box
        finally:
            box.http.close()


@pytest.fixture(scope="session")
def _shared_sandbox() -> Iterator[Sandbox]:
    yield from start(SandboxConfig(admin_api=True, benchmark_account=True))  # act_1099 tests


@pytest.fixture
def sandbox(_shared_sandbox: Sandbox) -> Sandbox:
    """One server for the session, wiped before each test through the admin API (state,
    counters, fault knobs) with its clock put back."""
    _shared_sandbox.clock.offset = 0.0
    _shared_sandbox.admin("/reset", {})
    return _shared_sandbox
