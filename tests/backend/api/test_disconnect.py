"""DELETE /v1/connections/{id}: revoke at the provider (RFC 7009), then crypto-shred."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select

from backend.db.models import Connection
from tests.backend.api.conftest import connect, direct_grant, sandbox_refresh, snapshot
from tests.backend.api.sandbox import revocations, revoke_fails
from tests.backend.conftest import Backend, SignedIn


def imported(backend: Backend, user: SignedIn) -> tuple[dict[str, Any], str]:
    """A connection whose refresh token the test knows (the sandbox may rotate it on import,
    so the one to check is whichever the backend stored: the sandbox's current token)."""
    tokens = direct_grant(backend.sandbox_url)
    resp = user.client.post(
        "/v1/connections/import",
        json={"provider": "demo", "refresh_token": tokens["refresh_token"]},
    )
    assert resp.status_code == 200, resp.text
    return resp.json(), tokens["refresh_token"]


def stored(backend: Backend, conn_id: str) -> Any:
    with backend.state.engine.connect() as db:
        return db.execute(select(Connection.__table__).where(Connection.id == conn_id)).one()


def test_disconnect_revokes_at_the_provider_and_shreds(backend: Backend, user: SignedIn) -> None:
    conn, _ = imported(backend, user)
    refresh = backend.state.keyring.open(
        stored(backend, conn["id"]).refresh_ct, f"connection:{conn['id']}:refresh_token"
    ).reveal()
    before = revocations(backend)
    resp = user.client.delete(f"/v1/connections/{conn['id']}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["connection_id"] == conn["id"]
    assert body["provider"] == "demo"
    assert "refresh_token" in body["revoked"]
    assert body["not_revoked"] == []
    assert body["revocation_pending"] is False
    assert "revoked" in body["message"]
    assert revocations(backend) > before
    refused = sandbox_refresh(backend.sandbox_url, refresh)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    row = stored(backend, conn["id"])
    assert row.refresh_ct is None
    assert row.access_ct is None
    assert row.status == "disconnected"
    assert user.client.get("/v1/connections").json() == []
    report = user.client.get(
        f"/v1/connections/{conn['id']}/reports",
        params={"since": "2026-11-01", "until": "2026-11-02"},
    )
    assert report.status_code == 404
    again = user.client.delete(f"/v1/connections/{conn['id']}")
    assert again.status_code == 200
    assert again.json()["revoked"] == []


def test_revocation_pending_on_503_is_retried_until_done(backend: Backend, user: SignedIn) -> None:
    conn, _ = imported(backend, user)
    with revoke_fails(backend):
        resp = user.client.delete(f"/v1/connections/{conn['id']}")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["revocation_pending"] is True
        assert body["revoked"] == []
        assert "Demo Ads" in body["message"]
        assert "site" in body["message"]
        row = stored(backend, conn["id"])
        assert row.refresh_ct is not None  # kept only to retry the revocation
        assert row.access_ct is None
        listed = user.client.get("/v1/connections").json()
        assert [(c["id"], c["revocation_pending"]) for c in listed] == [(conn["id"], True)]
        report = user.client.get(
            f"/v1/connections/{conn['id']}/reports",
            params={"since": "2026-11-01", "until": "2026-11-02"},
        )
        assert report.status_code == 404  # never used for reports
    refresh = backend.state.keyring.open(
        stored(backend, conn["id"]).refresh_ct, f"connection:{conn['id']}:refresh_token"
    ).reveal()
    deadline = time.monotonic() + 30
    while user.client.get("/v1/connections").json():  # listing retries once the back-off passed
        assert time.monotonic() < deadline, "the pending revocation was never retried"
    row = stored(backend, conn["id"])
    assert row.refresh_ct is None
    assert not row.revocation_pending
    refused = sandbox_refresh(backend.sandbox_url, refresh)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_forget_drops_a_pending_revocation(backend: Backend, user: SignedIn) -> None:
    conn, _ = imported(backend, user)
    with revoke_fails(backend):
        pending = user.client.delete(f"/v1/connections/{conn['id']}").json()
        assert pending["revocation_pending"] is True
        resp = user.client.delete(f"/v1/connections/{conn['id']}", params={"forget": "true"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["revocation_pending"] is False
    assert "site" in body["message"]
    row = stored(backend, conn["id"])
    assert row.refresh_ct is None
    assert row.access_ct is None
    assert not row.revocation_pending
    assert user.client.get("/v1/connections").json() == []


def test_disconnecting_another_users_connection_changes_nothing(
    backend: Backend, user: SignedIn, other_user: SignedIn
) -> None:
    conn, _ = imported(backend, user)
    before = snapshot(backend)
    grants_revoked = revocations(backend)
    assert other_user.client.delete(f"/v1/connections/{conn['id']}").status_code == 404
    assert snapshot(backend) == before
    assert revocations(backend) == grants_revoked


def test_a_provider_without_revocation_says_where_to_remove_access(
    backend: Backend, user: SignedIn
) -> None:
    conn = connect(user, provider="quiet")
    before = revocations(backend)
    resp = user.client.delete(f"/v1/connections/{conn['id']}")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["revoked"] == []
    assert body["not_revoked"] == ["refresh_token"]
    assert body["revocation_pending"] is False
    assert "remove this app's access on Quiet Ads's site" in body["message"]
    assert revocations(backend) == before
    row = stored(backend, conn["id"])
    assert row.refresh_ct is None
    assert row.access_ct is None
    assert user.client.get("/v1/connections").json() == []
