"""At most 20 connect attempts in progress per user (issue 14 point 13).

Rule: past the limit `POST /v1/flows` answers 429 `rate_limited` problem+json with
`Retry-After` (until the oldest attempt expires) and plain words; another user is not
affected; an attempt that finishes or expires frees its place. Against a real `serve` process.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, update

from backend.db.models import Flow
from tests.security.relay_world import LOOPBACK, World, relay_world
from tests.support.browser import play_consent

BUSY, CALM = "busy@example.test", "calm@example.test"
LIMIT = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("limits")
    with relay_world(tmp, f"sqlite:///{tmp / 'backend.sqlite3'}") as w:
        w.create_user(BUSY)
        w.create_user(CALM)
        w.serve()
        yield w


def _start(client: httpx.Client) -> httpx.Response:
    return client.post("/v1/flows", json={"provider": "demo", "redirect_uri": LOOPBACK})


def test_pending_flows_past_twenty_per_user_are_refused_with_retry_after(world: World) -> None:
    url = world.urls[0]
    busy, calm = world.device(url, BUSY), world.device(url, CALM)
    flows = []
    for _ in range(LIMIT):
        resp = _start(busy.client)
        assert resp.status_code == 201, resp.text
        flows.append(resp.json())
    refused = _start(busy.client)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited"
    assert "20 connect attempts in progress" in refused.json()["detail"]
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 600  # until the oldest attempt expires (10 minutes at most)
    # Another user is not held back by it.
    assert _start(calm.client).status_code == 201

    # An attempt that ends (declined in the browser) frees its place, and only one.
    at_backend = play_consent(flows[0]["authorization_url"], decision="deny")
    assert httpx.get(at_backend, follow_redirects=False, timeout=30).status_code == 303
    assert _start(busy.client).status_code == 201
    assert _start(busy.client).status_code == 429

    # So does one that expired (moved back in time in the database, as a fake clock would).
    engine = create_engine(world.db_url)
    try:
        with engine.begin() as db:
            db.execute(
                update(Flow)
                .where(Flow.id == flows[1]["flow_id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()
    assert _start(busy.client).status_code == 201
    assert _start(busy.client).status_code == 429
