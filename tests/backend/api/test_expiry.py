"""The expiry calendar on the connection object: Demo Ads reports its 60-day grant, so the
window and `list` can show a lapse offline; a generic OAuth 2.0 provider that says nothing has
none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.backend.api.conftest import connect
from tests.backend.conftest import Backend, SignedIn


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_demo_ads_grant_lapses_in_60_days_and_says_why(backend: Backend, user: SignedIn) -> None:
    before = datetime.now(UTC)
    conn = connect(user)
    expires = when(conn["expires_at"])
    assert before + timedelta(days=60) - timedelta(minutes=1) <= expires
    assert expires <= datetime.now(UTC) + timedelta(days=60)
    assert conn["expiry_reason"] == (
        "Demo Ads grants last 60 days, like Meta's; reconnect to renew it."
    )
    listed = {c["id"]: c for c in user.client.get("/v1/connections").json()}
    assert listed[conn["id"]]["expires_at"] == conn["expires_at"]
    assert listed[conn["id"]]["expiry_reason"] == conn["expiry_reason"]


def test_disconnected_connections_have_no_expiry(backend: Backend, user: SignedIn) -> None:
    conn = connect(user)
    assert user.client.delete(f"/v1/connections/{conn['id']}").status_code == 200
    gone = user.client.get(f"/v1/connections/{conn['id']}").json()
    assert (gone["expires_at"], gone["expiry_reason"]) == (None, None)
