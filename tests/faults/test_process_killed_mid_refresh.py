"""A backend process killed (SIGKILL) while it holds the refresh lease, on SQLite and PostgreSQL.

Rules: design rule "Token refresh rules" — at most one refresh per connection in flight across all
backend processes (a lease on the row); a crashed owner's lease expires and then another process
refreshes, because the token was not rotated; exactly one refresh reaches the provider per
rotation, and the connection keeps working.

The provider stalls the refresh (the sandbox's `hold` knob) while process A owns the lease; A is
killed; its stalled request dies with its socket, unprocessed. Process B, waiting on the same
connection, takes the lease over once A's lease expires and refreshes once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from tests.faults.procs import Procs, connect, login, wait_until

LEASE_S = "3"  # short, so the test does not wait a minute for the dead owner's lease


def lease_of(database: str, connection_id: str) -> tuple[Any, ...]:
    engine = create_engine(database)
    try:
        with engine.connect() as db:
            row = db.execute(
                text("SELECT lease_owner, token_version FROM connections WHERE id = :id"),
                {"id": connection_id},
            ).one()
        return tuple(row)
    finally:
        engine.dispose()


def test_lease_owner_killed_mid_refresh_loses_no_token(procs: Procs) -> None:
    procs.create_user("k@example.test")
    proc_a, url_a = procs.start(CONNECTED_ACCOUNTS_REFRESH_LEASE_S=LEASE_S)
    _, url_b = procs.start(CONNECTED_ACCOUNTS_REFRESH_LEASE_S=LEASE_S)
    headers = login(url_a, "k@example.test")
    conn = connect(url_a, headers, "user-1001")
    params = {"account": conn["accounts"][0]["id"], "since": "2026-11-01", "until": "2026-11-02"}
    path = f"/v1/connections/{conn['id']}/reports"
    _, version = lease_of(procs.database, conn["id"])
    base = procs.stats()
    procs.admin("/tokens/expire")
    procs.faults(hold=["token"])

    def doomed() -> None:
        with contextlib.suppress(httpx.HTTPError):  # A dies under this request
            httpx.get(f"{url_a}{path}", params=params, headers=headers, timeout=60)

    threading.Thread(target=doomed, daemon=True).start()
    wait_until("A's refresh is stalled at the provider",
               lambda: procs.stats()["held_requests"] == base["held_requests"] + 1)  # fmt: skip
    owner, _ = lease_of(procs.database, conn["id"])
    assert owner is not None
    assert owner.startswith(f"{proc_a.pid}:")

    # B wants the same connection while A holds the lease: B waits, it does not refresh too.
    answers: list[httpx.Response] = []
    waiter = threading.Thread(
        target=lambda: answers.append(
            httpx.get(f"{url_b}{path}", params=params, headers=headers, timeout=60)
        )
    )
    waiter.start()

    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait(10)
    abandoned = base["abandoned_requests"] + 1
    wait_until("the provider dropped the dead process's stalled request",
               lambda: procs.stats()["abandoned_requests"] == abandoned)  # fmt: skip
    assert procs.stats()["held_requests"] == base["held_requests"] + 1  # B never went to it
    procs.faults(hold=[])

    waiter.join(60)
    assert len(answers) == 1
    assert answers[0].status_code == 200, answers[0].text
    after = procs.stats()
    assert after["refreshes"] - base["refreshes"] == 1  # one refresh reached the provider
    assert after["reused_refresh_tokens"] == base["reused_refresh_tokens"]
    assert after["refresh_failures"] == base["refresh_failures"]
    owner, new_version = lease_of(procs.database, conn["id"])
    assert (owner, new_version) == (None, version + 1)  # B stored the rotation, lease released

    # The connection still works, and its next rotation uses the token B stored.
    with httpx.Client(base_url=url_b, headers=headers, timeout=60) as b:
        for _ in range(3):
            assert b.get(path, params=params).status_code == 200
        assert procs.stats()["token_requests"] == after["token_requests"]
        procs.admin("/tokens/expire")
        assert b.get(path, params=params).status_code == 200
        assert b.get(f"/v1/connections/{conn['id']}").json()["status"] == "connected"
    final = procs.stats()
    assert final["refreshes"] - after["refreshes"] == 1
    assert final["reused_refresh_tokens"] == base["reused_refresh_tokens"]
