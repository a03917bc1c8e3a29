"""Disconnect under provider faults, through the real API and a real Demo Ads sandbox.

Rules: design rule "Revocation" — RFC 7009 §2.2: 200 for an already-invalid token is success; on
503 or a timeout the token still exists at the provider: "revocation pending", the ciphertext
kept only to retry revocation (never used for reports), and it can be forgotten.
"""

from __future__ import annotations

from typing import Any

from tests.backend.api.conftest import ApiBackend, ApiFactory, complete, consent, start_flow
from tests.backend.api.sandbox import revoke_at_sandbox, set_faults, stats
from tests.backend.conftest import SignedIn, sign_in


def connect(user: SignedIn, provider: str = "demo") -> dict[str, Any]:
    flow = start_flow(user, provider)
    resp = complete(user, flow, consent(flow))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_already_invalid_token_at_the_provider_counts_as_revoked(
    backend: ApiBackend, user: SignedIn
) -> None:
    """RFC 7009 §2.2: the person removed the app at the provider first; the revocation call
    answers 200 and the disconnect is complete, not pending."""
    conn = connect(user)
    revoke_at_sandbox(backend)
    resp = user.client.delete(f"/v1/connections/{conn['id']}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["revocation_pending"] is False
    assert "refresh_token" in body["revoked"]
    assert user.client.get("/v1/connections").json() == []


def test_revocation_timeout_is_pending_never_serves_reports_and_can_be_forgotten(
    api_factory: ApiFactory, sandbox_url: str
) -> None:
    """A provider slower than the backend's timeout: pending, no report uses the kept
    ciphertext (no ads-API call reaches the provider), and `forget` ends it."""
    backend = api_factory(
        extra_toml=f"""
[providers.slow]
preset = "demo"
display_name = "Slow Demo"
issuer = "{sandbox_url}"
authorization_endpoint = "{sandbox_url}/authorize"
token_endpoint = "{sandbox_url}/token"
revocation_endpoint = "{sandbox_url}/revoke"
reports = {{ adapter = "demo", base_url = "{sandbox_url}" }}
timeout_s = 0.3
retry_attempts = 1
"""
    )
    user = sign_in(backend)
    conn = connect(user, "slow")
    set_faults(backend, latency_ms=1500)
    try:
        resp = user.client.delete(f"/v1/connections/{conn['id']}")
    finally:
        set_faults(backend, latency_ms=0)
    assert resp.status_code == 200, resp.text
    assert resp.json()["revocation_pending"] is True
    api_calls = stats(backend)["api_calls"]
    report = user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"account": conn["accounts"][0]["id"], "since": "2026-11-01", "until": "2026-11-02"},
    )
    assert report.status_code in (404, 409), report.text
    assert stats(backend)["api_calls"] == api_calls
    # Forget it anyway (the user was told to revoke on the provider's site).
    set_faults(backend, latency_ms=1500)
    try:
        forgot = user.client.delete(f"/v1/connections/{conn['id']}", params={"forget": "true"})
    finally:
        set_faults(backend, latency_ms=0)
    assert forgot.status_code == 200, forgot.text
    assert forgot.json()["revocation_pending"] is False
    assert "site" in forgot.json()["message"]
    listed = user.client.get("/v1/connections").json()
    assert conn["id"] not in [c["id"] for c in listed]
