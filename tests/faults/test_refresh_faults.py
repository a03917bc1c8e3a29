"""Refresh under faults, through the real API, a real sandbox and a real lossy TCP proxy.

Rules: design rule "Token refresh rules" — a refresh is never re-sent after it may have reached the
provider; `invalid_grant` → needs_reconnect, never retried in a loop; 5xx / network errors get
bounded retries; 429 honours Retry-After; the token is kept through transient faults.
RFC 9700 §4.14.2 — a provider revokes the grant when a rotated-out refresh token comes back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.backend.api.conftest import ApiBackend, ApiFactory, complete, consent, start_flow
from tests.backend.api.sandbox import set_faults, stats
from tests.backend.conftest import SignedIn, sign_in
from tests.faults.lossy_proxy import LossyProxy
from tests.support import sandbox_admin


@pytest.fixture(scope="module")
def proxy(sandbox_url: str) -> Iterator[LossyProxy]:
    p = LossyProxy(sandbox_url)
    yield p
    p.close()


@pytest.fixture(scope="module")
def lossy_backend(api_factory: ApiFactory, sandbox_url: str, proxy: LossyProxy) -> ApiBackend:
    """Provider `lossy`: Demo Ads whose token endpoint is reached through the proxy."""
    return api_factory(
        extra_toml=f"""
[providers.lossy]
preset = "demo"
display_name = "Lossy Demo"
issuer = "{sandbox_url}"
authorization_endpoint = "{sandbox_url}/authorize"
token_endpoint = "{proxy.url}/token"
revocation_endpoint = "{sandbox_url}/revoke"
reports = {{ adapter = "demo", base_url = "{sandbox_url}" }}
retry_attempts = 3
retry_base_delay_s = 0.01
retry_max_delay_s = 0.05
retry_after_cap_s = 0.05
"""
    )


def expire_access_tokens(sandbox_url: str) -> None:
    resp = httpx.post(
        f"{sandbox_url}/admin/tokens/expire",
        headers=sandbox_admin.headers_for(sandbox_url),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def report(user: SignedIn, conn: dict[str, Any]) -> httpx.Response:
    return user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"account": conn["accounts"][0]["id"], "since": "2026-11-01", "until": "2026-11-02"},
    )


def test_refresh_response_lost_after_rotation_ends_needs_reconnect_once(
    lossy_backend: ApiBackend, proxy: LossyProxy, sandbox_url: str
) -> None:
    """The provider rotated but its answer was lost: the refresh is not re-sent (503 now);
    the next use presents the old token, the provider ends the grant, and the connection
    needs reconnecting — after that no call reaches the token endpoint again."""
    user = sign_in(lossy_backend)
    flow = start_flow(user, "lossy")
    resp = complete(user, flow, consent(flow))
    assert resp.status_code == 200, resp.text
    conn = resp.json()
    before = stats(lossy_backend)

    proxy.drop_refresh_responses = 1
    expire_access_tokens(sandbox_url)
    lost = report(user, conn)
    assert proxy.dropped == 1
    assert lost.status_code == 503, lost.text
    assert lost.json()["code"] == "provider_unavailable"
    mid = stats(lossy_backend)
    assert mid["refreshes"] == before["refreshes"] + 1  # rotated once at the provider
    assert mid["token_requests"] == before["token_requests"] + 1  # and never re-sent

    second = report(user, conn)
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "needs_reconnect"
    after = stats(lossy_backend)
    assert after["reused_refresh_tokens"] == before["reused_refresh_tokens"] + 1
    assert after["token_requests"] == mid["token_requests"] + 1

    for _ in range(3):  # no retry loop: answered from the stored status
        assert report(user, conn).status_code == 409
    status = user.client.get(f"/v1/connections/{conn['id']}").json()
    assert status["status"] == "needs_reconnect"
    assert status["status_reason"]
    assert stats(lossy_backend)["token_requests"] == after["token_requests"]


@pytest.mark.parametrize(
    ("knobs", "code"),
    [
        ({"fail_next_token": 10, "retry_after": 0}, "provider_unavailable"),
        ({"rate_limit_next": 10, "retry_after": 0}, "rate_limited"),
    ],
    ids=["5xx-storm", "429-storm"],
)
def test_refresh_storm_keeps_the_token_with_bounded_calls(
    backend: ApiBackend, user: SignedIn, knobs: dict[str, int], code: str
) -> None:
    """5xx and 429 storms on the token endpoint: each request makes at most `retry_attempts`
    (3) provider calls, answers a problem with Retry-After, keeps the refresh token, and the
    connection works again when the provider does."""
    flow = start_flow(user)
    conn = complete(user, flow, consent(flow)).json()
    expire_access_tokens(backend.sandbox_url)
    set_faults(backend, **knobs)
    try:
        before = stats(backend)["token_requests"]
        for _ in range(3):
            resp = report(user, conn)
            assert resp.status_code in (429, 503), resp.text
            assert resp.json()["code"] == code
            assert "retry-after" in resp.headers
        assert stats(backend)["token_requests"] - before <= 3 * 3
    finally:
        set_faults(backend, fail_next_token=0, rate_limit_next=0, retry_after=1)
    assert report(user, conn).status_code == 200
    assert user.client.get(f"/v1/connections/{conn['id']}").json()["status"] == "connected"
