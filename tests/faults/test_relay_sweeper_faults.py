"""The sweeper of unclaimed relayed grants when the provider is down.

Rule (design: "Backend-relayed redirect", "lose nothing"): a parked grant whose revocation
fails (503) is kept, sealed, and retried with a growing delay until the provider revokes it;
it never becomes anybody's connection meanwhile. Against real `serve` processes.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.security.relay_world import browser_leg, relay_world
from tests.support import sandbox_admin

OWNER = "owner@example.test"


def test_a_failed_revocation_of_an_unclaimed_grant_is_kept_and_retried(tmp_path: Path) -> None:
    with relay_world(tmp_path, f"sqlite:///{tmp_path / 'backend.sqlite3'}") as world:
        world.create_user(OWNER)
        url = world.serve()
        owner = world.device(url, OWNER)
        flow = owner.start_flow()
        browser_leg(flow["authorization_url"], person="Dana Demo")
        (grant,) = world.sandbox_grants()
        # Two sweeps' worth of 503s (each revocation tries 3 times), then the provider is back.
        knobs = {"fail_next_token": 6, "retry_after": 0}
        resp = httpx.post(
            f"{world.sandbox.url}/admin/clients/demo-desktop/faults",
            json=knobs,
            headers=sandbox_admin.headers_for(world.sandbox.url),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        world.expire_ticket(flow["flow_id"])
        world.serve(sweep_every=0.2)

        deadline = time.monotonic() + 30
        while world.flow_row(flow["flow_id"]).sweep_attempts < 1:
            assert time.monotonic() < deadline, "no failed revocation attempt was recorded"
            time.sleep(0.05)
        row = world.flow_row(flow["flow_id"])
        if row.status == "revoking":  # (it may already have got through on a later sweep)
            assert row.grant_ct is not None  # kept, sealed, for the next attempt

        deadline = time.monotonic() + 30
        while world.flow_row(flow["flow_id"]).status != "failed":
            assert time.monotonic() < deadline, "the grant was never revoked"
            time.sleep(0.05)
        row = world.flow_row(flow["flow_id"])
        assert row.sweep_attempts == 2
        assert row.grant_ct is None
        assert not any(g["active"] for g in world.sandbox_grants() if g["id"] == grant["id"])
        assert owner.connections() == []
