"""Connections: list, status, check, accounts and import, scoped to their owner."""

from __future__ import annotations

from tests.backend.api.conftest import connect, count_connections, direct_grant, snapshot
from tests.backend.api.sandbox import refreshes, revoke_at_sandbox
from tests.backend.conftest import Backend, SignedIn


def test_get_and_accounts_show_the_connection(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    got = user.client.get(f"/v1/connections/{conn['id']}")
    assert got.status_code == 200
    assert got.json() == conn
    accounts = user.client.get(f"/v1/connections/{conn['id']}/accounts")
    assert accounts.status_code == 200
    assert accounts.json() == conn["accounts"]


def test_another_users_connection_is_not_found_anywhere(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    conn = connect(user)
    before = snapshot(backend)
    base = f"/v1/connections/{conn['id']}"
    for resp in (
        other_user.client.get(base),
        other_user.client.get(base, params={"check": "true"}),
        other_user.client.get(f"{base}/accounts"),
        other_user.client.delete(base),
        other_user.client.delete(base, params={"forget": "true"}),
        user.client.get("/v1/connections/00000000-0000-0000-0000-000000000000"),
    ):
        assert resp.status_code == 404, resp.text
        assert resp.json()["code"] == "not_found"
    assert other_user.client.get("/v1/connections").json() == []
    assert snapshot(backend) == before
    assert user.client.get(base).json()["status"] == "connected"


def test_import_proves_the_token_by_refreshing_it_once(backend: Backend, user: SignedIn) -> None:
    tokens = direct_grant(backend.sandbox_url)
    before = refreshes(backend)
    resp = user.client.post(
        "/v1/connections/import",
        json={"provider": "demo", "refresh_token": tokens["refresh_token"], "label": "Agency"},
    )
    assert resp.status_code == 200, resp.text
    conn = resp.json()
    assert conn["status"] == "connected"
    assert conn["display_name"] == "Agency"
    assert conn["accounts"]
    assert refreshes(backend) == before + 1
    assert tokens["refresh_token"] not in resp.text


def test_import_of_the_same_account_as_a_connect_updates_that_connection(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user)
    tokens = direct_grant(backend.sandbox_url)
    resp = user.client.post(
        "/v1/connections/import",
        json={"provider": "demo", "refresh_token": tokens["refresh_token"]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == conn["id"]
    assert count_connections(backend, user) == 1


def test_import_of_a_bad_token_stores_nothing(backend: Backend, user: SignedIn) -> None:
    before = snapshot(backend)
    resp = user.client.post(
        "/v1/connections/import", json={"provider": "demo", "refresh_token": "rt-made-up"}
    )
    assert resp.status_code == 422
    body = resp.json()
    assert body["code"] == "invalid_request"
    assert "nothing was stored" in body["detail"]
    assert "rt-made-up" not in resp.text
    unknown = user.client.post(
        "/v1/connections/import", json={"provider": "acme", "refresh_token": "x"}
    )
    assert unknown.status_code == 422
    assert snapshot(backend) == before


def test_check_finds_a_grant_revoked_at_the_provider(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    fine = user.client.get(f"/v1/connections/{conn['id']}", params={"check": "true"})
    assert fine.json()["status"] == "connected"
    revoke_at_sandbox(backend)
    checked = user.client.get(f"/v1/connections/{conn['id']}", params={"check": "true"})
    assert checked.status_code == 200
    body = checked.json()
    assert body["status"] == "needs_reconnect"
    assert "Demo Ads" in body["status_reason"]
    assert "Reconnect" in body["status_reason"]
    # Reconnecting the same account brings the same connection back.
    again = connect(user)
    assert again["id"] == conn["id"]
    assert again["status"] == "connected"
    assert again["status_reason"] is None
