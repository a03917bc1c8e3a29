"""Small helpers shared by the event-stream tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.backend.api.conftest import ApiBackend, direct_grant
from tests.backend.conftest import SignedIn


def of(connection_id: str) -> Callable[[dict[str, Any]], bool]:
    """Matches the events of one connection."""
    return lambda event: event["connection_id"] == connection_id


def imported(backend: ApiBackend, user: SignedIn) -> tuple[dict[str, Any], dict[str, Any]]:
    """A connection made by hand-over of a refresh token the test knows; (connection, tokens)."""
    tokens = direct_grant(backend.sandbox_url)
    resp = user.client.post(
        "/v1/connections/import",
        json={"provider": "demo", "refresh_token": tokens["refresh_token"]},
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json()), tokens
