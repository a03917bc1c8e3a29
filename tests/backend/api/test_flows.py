"""POST /v1/flows and /v1/flows/{id}/complete against the real sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from backend.db.models import Flow
from tests.backend.api.conftest import (
    LOOPBACK,
    complete,
    connect,
    consent,
    count_connections,
    query_of,
    snapshot,
    start_flow,
)
from tests.backend.api.sandbox import token_requests
from tests.backend.conftest import Backend, SignedIn

CONNECTION_KEYS = {
    "id", "provider", "provider_display_name", "display_name", "status", "status_reason",
    "last_error", "last_error_at", "last_refreshed_at", "expires_at", "expiry_reason", "scopes",
    "accounts", "revocation_pending", "created_at", "updated_at",
}  # fmt: skip


def problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["code"] == code
    assert body["detail"]
    return body


def test_connect_returns_a_connected_connection_with_its_accounts(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    assert set(conn) == CONNECTION_KEYS
    assert conn["provider"] == "demo"
    assert conn["provider_display_name"] == "Demo Ads"
    assert conn["status"] == "connected"
    assert conn["accounts"]
    assert {"id", "name", "currency", "time_zone"} <= set(conn["accounts"][0])
    assert conn["created_at"].endswith("Z")
    listed = user.client.get("/v1/connections").json()
    assert [c["id"] for c in listed] == [conn["id"]]


def test_authorization_url_binds_state_redirect_and_an_s256_challenge(user: SignedIn) -> None:
    flow = start_flow(user)
    params = query_of(flow["authorization_url"])
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["redirect_uri"] == LOOPBACK
    assert params["state"] == flow["state"]
    assert len(flow["state"]) >= 43  # 32 random octets, base64url
    assert flow["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(flow["expires_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)


def test_reconnecting_the_same_account_updates_its_connection(
    backend: Backend, user: SignedIn
) -> None:
    first = connect(user)
    second = connect(user)
    assert second["id"] == first["id"]
    assert second["updated_at"] > first["updated_at"]
    assert count_connections(backend, user) == 1


def test_wrong_state_is_refused_and_changes_nothing(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    back = consent(flow)
    before = snapshot(backend)
    resp = complete(user, flow, {**back, "state": "not-the-state"})
    problem(resp, 422, "invalid_request")
    assert snapshot(backend) == before
    assert complete(user, flow, back).status_code == 200  # the flow was not consumed


def test_replayed_complete_is_a_conflict_and_changes_nothing(
    backend: Backend, user: SignedIn
) -> None:
    flow = start_flow(user)
    back = consent(flow)
    assert complete(user, flow, back).status_code == 200
    grants = token_requests(backend)
    before = snapshot(backend)
    problem(complete(user, flow, back), 409, "conflict")
    assert snapshot(backend) == before
    assert token_requests(backend) == grants  # the code never went to the provider again


def test_expired_flow_is_refused_and_changes_nothing(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    back = consent(flow)
    with backend.state.sessions.begin() as session:
        session.execute(
            update(Flow)
            .where(Flow.id == flow["flow_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    before = snapshot(backend)
    body = problem(complete(user, flow, back), 422, "invalid_request")
    assert "expired" in body["detail"]
    assert snapshot(backend) == before
    assert count_connections(backend, user) == 0


def test_unknown_provider_is_refused_and_stores_nothing(backend: Backend, user: SignedIn) -> None:
    before = snapshot(backend)
    resp = user.client.post("/v1/flows", json={"provider": "acme", "redirect_uri": LOOPBACK})
    body = problem(resp, 422, "invalid_request")
    assert "acme" in body["detail"]
    assert snapshot(backend) == before


def test_a_non_loopback_redirect_is_refused_and_stores_nothing(
    backend: Backend, user: SignedIn
) -> None:
    before = snapshot(backend)
    for uri in ("https://evil.example/callback", "http://localhost:5000/cb"):
        resp = user.client.post("/v1/flows", json={"provider": "demo", "redirect_uri": uri})
        assert "loopback" in problem(resp, 422, "invalid_request")["detail"]
    assert snapshot(backend) == before


def test_another_users_flow_is_not_found_and_changes_nothing(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    flow = start_flow(user)
    back = consent(flow)
    before = snapshot(backend)
    problem(complete(other_user, flow, back), 404, "not_found")
    unknown = {**flow, "flow_id": "00000000-0000-0000-0000-000000000000"}
    problem(complete(user, unknown, back), 404, "not_found")
    assert snapshot(backend) == before
    assert complete(user, flow, back).status_code == 200


def test_declined_consent_connects_nothing_and_says_so(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    back = consent(flow, decision="deny")
    assert back["error"] == "access_denied"
    assert "code" not in back
    body = problem(complete(user, flow, back), 422, "invalid_request")
    assert body["provider_error"] == "access_denied"
    assert "declined" in body["detail"]
    assert "Demo Ads" in body["detail"]
    assert count_connections(backend, user) == 0
    # The flow is over: the same answer again, no second attempt with a code.
    assert complete(user, flow, {"state": flow["state"]}).json()["provider_error"] == (
        "access_denied"
    )


def test_a_response_from_another_issuer_aborts_the_flow(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    back = consent(flow)
    grants = token_requests(backend)
    body = problem(
        complete(user, flow, {**back, "iss": "https://evil.example"}), 422, "invalid_request"
    )
    assert body["provider_error"] == "invalid_issuer"
    assert token_requests(backend) == grants  # RFC 9207: refused before the code was redeemed
    assert count_connections(backend, user) == 0
    problem(complete(user, flow, back), 409, "conflict")  # aborted for good


def test_two_concurrent_completes_redeem_the_code_once(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    back = consent(flow)
    grants = token_requests(backend)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def go() -> None:
        with backend.client(headers=dict(user.client.headers)) as client:
            barrier.wait()
            resp = client.post(f"/v1/flows/{flow['flow_id']}/complete", json=back)
            results.append(resp.status_code)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    assert token_requests(backend) == grants + 1
    assert count_connections(backend, user) == 1


def test_complete_with_neither_code_nor_error_is_refused(backend: Backend, user: SignedIn) -> None:
    flow = start_flow(user)
    before = snapshot(backend)
    problem(complete(user, flow, {"state": flow["state"]}), 422, "invalid_request")
    assert snapshot(backend) == before


def test_flow_endpoints_need_sign_in(backend: Backend) -> None:
    with backend.client() as anon:
        resp = anon.post("/v1/flows", json={"provider": "demo", "redirect_uri": LOOPBACK})
    problem(resp, 401, "unauthorized")
