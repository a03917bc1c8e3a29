"""The admin API: fault knobs, provider-side revocation, forced expiry, counters, reset."""

from __future__ import annotations

import time

import pytest

from backend.sandbox.config import Faults, SandboxConfig
from tests.sandbox.conftest import CLIENT_ID, Sandbox, start

FAULTS = f"/clients/{CLIENT_ID}/faults"


def test_admin_api_is_404_unless_enabled() -> None:
    for box in start(SandboxConfig()):
        assert box.http.get("/admin/stats").status_code == 404
        assert box.http.post(f"/admin{FAULTS}", json={"fail_next_token": 1}).status_code == 404
        assert box.http.post("/admin/reset").status_code == 404


def test_fail_next_token_answers_503_that_many_times(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    knobs = sandbox.admin(FAULTS, {"fail_next_token": 2, "retry_after": 7})
    assert knobs["fail_next_token"] == 2
    for _ in range(2):
        resp = sandbox.refresh(tokens["refresh_token"])
        assert resp.status_code == 503
        assert resp.headers["retry-after"] == "7"
        assert resp.json()["error"] == "temporarily_unavailable"
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 200  # token was not spent
    stats = sandbox.stats()
    assert stats["token_requests"] == 4  # the redemption and three refresh attempts
    assert stats["refreshes"] == 1


def test_fail_next_token_also_fails_revocation(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    sandbox.admin(FAULTS, {"fail_next_token": 1})
    assert sandbox.revoke(tokens["refresh_token"]).status_code == 503
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 200  # still granted
    assert sandbox.stats()["revocations"] == 0


def test_fail_next_api_answers_503_then_recovers(sandbox: Sandbox) -> None:
    access = sandbox.connect()["access_token"]
    sandbox.admin(FAULTS, {"fail_next_api": 1})
    assert sandbox.api("/api/me", access).status_code == 503
    assert sandbox.api("/api/me", access).status_code == 200


def test_rate_limit_next_answers_429_with_retry_after(sandbox: Sandbox) -> None:
    access = sandbox.connect()["access_token"]
    sandbox.admin(FAULTS, {"rate_limit_next": 2, "retry_after": 30})
    for _ in range(2):
        resp = sandbox.api("/api/accounts", access)
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "30"
    assert sandbox.api("/api/accounts", access).status_code == 200
    assert sandbox.stats()["api_calls"] == 3


def test_latency_slows_token_and_api_calls(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    sandbox.admin(FAULTS, {"latency_ms": 300})
    started = time.monotonic()
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 200
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 200
    assert time.monotonic() - started >= 0.6


def test_access_token_lifetime_is_adjustable(sandbox: Sandbox) -> None:
    sandbox.admin(FAULTS, {"access_token_lifetime": 30})
    tokens = sandbox.connect()
    assert tokens["expires_in"] == 30
    sandbox.clock.advance(31)
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 401
    assert sandbox.refresh(tokens["refresh_token"]).json()["expires_in"] == 30


def test_expired_grant_cannot_be_refreshed(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    sandbox.admin(FAULTS, {"grant_lifetime": 100})
    sandbox.clock.advance(101)
    resp = sandbox.refresh(tokens["refresh_token"])
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"
    assert "expired" in resp.json()["error_description"]
    assert sandbox.stats()["refresh_failures"] == 1


def test_bad_knobs_are_refused_in_plain_words(sandbox: Sandbox) -> None:
    headers = sandbox.admin_headers
    resp = sandbox.http.post(f"/admin{FAULTS}", json={"latency_ms": -1}, headers=headers)
    assert resp.status_code == 400
    assert resp.json()["error_description"]
    unknown = sandbox.http.post(f"/admin{FAULTS}", json={"explode": True}, headers=headers)
    assert unknown.status_code == 400
    nobody = sandbox.http.post("/admin/clients/nobody/faults", json={}, headers=headers)
    assert nobody.status_code == 404


def test_provider_side_removal_revokes_only_that_persons_grants(sandbox: Sandbox) -> None:
    dana = sandbox.connect(user="Dana Demo")
    sam = sandbox.connect(user="Sam Sample")
    assert sandbox.admin("/grants/revoke", {"user_id": "user-1001"}) == {"revoked": 1}
    assert sandbox.refresh(dana["refresh_token"]).json()["error"] == "invalid_grant"
    assert sandbox.api("/api/me", dana["access_token"]).status_code == 401
    assert sandbox.refresh(sam["refresh_token"]).status_code == 200
    grants = sandbox.admin("/grants")["data"]
    assert sorted((g["user_id"], g["active"]) for g in grants) == [
        ("user-1001", False),
        ("user-1002", True),
    ]


def test_revoking_grants_by_client(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    assert sandbox.admin("/grants/revoke", {"client_id": CLIENT_ID}) == {"revoked": 1}
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 400


def test_expire_tokens_makes_access_tokens_expire_but_refresh_still_works(
    sandbox: Sandbox,
) -> None:
    tokens = sandbox.connect()
    assert sandbox.admin("/tokens/expire", {}) == {"expired": 1}
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 401
    fresh = sandbox.refresh(tokens["refresh_token"]).json()
    assert sandbox.api("/api/me", fresh["access_token"]).status_code == 200


def test_stats_count_each_kind_of_call(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    for _ in range(3):
        tokens = sandbox.refresh(tokens["refresh_token"]).json()
    sandbox.api("/api/me", tokens["access_token"])
    sandbox.revoke(tokens["refresh_token"])
    sandbox.refresh(tokens["refresh_token"])
    assert sandbox.stats() == {
        "codes_issued": 1,
        "codes_redeemed": 1,
        "token_requests": 5,
        "refreshes": 3,
        "refresh_failures": 1,
        "reused_refresh_tokens": 0,
        "revocations": 1,
        "grants_revoked": 1,
        "api_calls": 1,
        "held_requests": 0,
        "abandoned_requests": 0,
    }


@pytest.mark.parametrize("knob", ["fail_next_api", "rate_limit_next"])
def test_reset_forgets_state_counters_and_faults(sandbox: Sandbox, knob: str) -> None:
    tokens = sandbox.connect()
    sandbox.admin(FAULTS, {knob: 5})
    assert sandbox.admin("/reset", {}) == {"reset": True}
    assert set(sandbox.stats().values()) == {0}
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 400
    fresh = sandbox.connect()
    assert sandbox.api("/api/me", fresh["access_token"]).status_code == 200
    assert sandbox.admin(FAULTS, {}) == Faults().model_dump()
