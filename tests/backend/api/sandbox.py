"""The Demo Ads sandbox as the API tests use it: served alone, with its admin API on.

The backend's `demo` provider is the demo preset pointed at that server (every preset field can
be overridden, design rule "Provider configuration"); the admin API gives counters, fault knobs and
provider-side revocation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import DEFAULT_CLIENT_ID, SandboxConfig
from tests.backend.conftest import Backend
from tests.support import sandbox_admin
from tests.support.servers import UvicornThread


def demo_toml(sandbox_url: str, **extra: str) -> str:
    """`[providers.demo]` on the given sandbox; quick retries keep fault tests fast."""
    lines = [
        "[providers.demo]",
        'preset = "demo"',
        f'issuer = "{sandbox_url}"',
        f'authorization_endpoint = "{sandbox_url}/authorize"',
        f'token_endpoint = "{sandbox_url}/token"',
        f'revocation_endpoint = "{sandbox_url}/revoke"',
        f'jwks_uri = "{sandbox_url}/jwks"',
        f'reports = {{ adapter = "demo", base_url = "{sandbox_url}" }}',
        "retry_attempts = 3",
        "retry_base_delay_s = 0.01",
        "retry_max_delay_s = 0.05",
        "retry_after_cap_s = 0.05",
        *(f'{key} = "{value}"' for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def quiet_toml(sandbox_url: str) -> str:
    """`[providers.quiet]`: the sandbox as a generic OAuth 2.0 provider with no revocation
    endpoint configured (like a platform that only lets people remove apps on its site)."""
    return f"""
[providers.quiet]
preset = "oauth2"
display_name = "Quiet Ads"
discovery = false
authorization_endpoint = "{sandbox_url}/authorize"
token_endpoint = "{sandbox_url}/token"
client_id = "{DEFAULT_CLIENT_ID}"
client_secret = "demo-secret"
scopes = ["ads_read"]
reports = {{ adapter = "demo", base_url = "{sandbox_url}" }}
"""


def start_sandbox() -> UvicornThread:
    """A fresh Demo Ads server of its own (state, counters and knobs per test)."""
    return UvicornThread(create_sandbox_app(SandboxConfig(admin_api=True))).start()


def _admin(backend: Backend, method: str, path: str, body: Any = None) -> Any:
    resp = httpx.request(
        method,
        f"{backend.sandbox_url}/admin{path}",
        json=body,
        headers=sandbox_admin.headers_for(backend.sandbox_url),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def stats(backend: Backend) -> dict[str, int]:
    counters: dict[str, int] = _admin(backend, "GET", "/stats")[DEFAULT_CLIENT_ID]
    return counters


def token_requests(backend: Backend) -> int:
    """Every call the sandbox's token endpoint received from the backend's client."""
    return stats(backend)["token_requests"]


def refreshes(backend: Backend) -> int:
    return stats(backend)["refreshes"]


def revocations(backend: Backend) -> int:
    return stats(backend)["revocations"]


def set_faults(backend: Backend, **knobs: Any) -> dict[str, Any]:
    result: dict[str, Any] = _admin(backend, "POST", f"/clients/{DEFAULT_CLIENT_ID}/faults", knobs)
    return result


def revoke_at_sandbox(backend: Backend) -> None:
    """As if the person removed the app in their Demo Ads settings."""
    assert _admin(backend, "POST", "/grants/revoke", {"client_id": DEFAULT_CLIENT_ID})["revoked"]


@contextmanager
def revoke_fails(backend: Backend) -> Iterator[None]:
    """The next 3 token-endpoint or revocation calls answer 503 (more than one call's retries)."""
    set_faults(backend, fail_next_token=3, retry_after=0)
    try:
        yield
    finally:
        set_faults(backend, fail_next_token=0, retry_after=1)


@contextmanager
def short_access_tokens(backend: Backend, seconds: int) -> Iterator[None]:
    set_faults(backend, access_token_lifetime=seconds)
    try:
        yield
    finally:
        set_faults(backend, access_token_lifetime=3600)


@contextmanager
def api_fails(backend: Backend) -> Iterator[None]:
    """The next 3 ads-API calls answer 503 (more than one call's retries)."""
    set_faults(backend, fail_next_api=3, retry_after=0)
    try:
        yield
    finally:
        set_faults(backend, fail_next_api=0, retry_after=1)
