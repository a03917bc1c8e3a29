"""Backend-relayed redirect: only the device that started a flow can own its grant.

Rules (design: "Backend-relayed redirect"; issue 14 point 1): the callback redeems the code but
attaches the grant to nobody; the browser goes home with a one-time `relay_ticket`; the
connection exists only once the flow OWNER's device presents the flow's state and that ticket
(another user: 404; reused or expired ticket: refused); a parked grant nobody claims is revoked
at the provider by the sweeper every backend process runs (also at start-up), coordinated
through the database. Against real `serve` processes and a real Demo Ads sandbox.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.security.relay_world import PASSWORD, ROOT, World, browser_leg, relay_world
from tests.support import pg
from tests.support.browser import play_consent

MALLORY, VICTIM, OWNER, OTHER = (
    "mallory@example.test",
    "victim@example.test",
    "owner@example.test",
    "other@example.test",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("relay")
    with relay_world(tmp, f"sqlite:///{tmp / 'backend.sqlite3'}") as w:
        for email in (MALLORY, VICTIM, OWNER, OTHER):
            w.create_user(email)
        w.serve()  # sweeps only at start-up: the ticket rules below are not raced by it
        yield w


def eventually(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.05)


def grant_active(world: World, grant_id: str) -> bool:
    return any(g["active"] for g in world.sandbox_grants() if g["id"] == grant_id)


def new_grant_id(world: World, before: list[dict[str, Any]]) -> str:
    known = {g["id"] for g in before}
    fresh = [g["id"] for g in world.sandbox_grants() if g["id"] not in known]
    assert len(fresh) == 1, fresh
    return str(fresh[0])


def test_a_strangers_browser_cannot_finish_someone_elses_relayed_flow(world: World) -> None:
    """Mallory starts a relayed flow and sends the authorization URL to a victim, who allows
    access at Demo Ads. Mallory's device never sees the ticket (it went to the victim's
    browser), so her user holds no connection; the unclaimed grant is then revoked."""
    url = world.urls[0]
    mallory = world.device(url, MALLORY)
    flow = mallory.start_flow()
    grants_before = world.sandbox_grants()
    # The victim's browser leg: consent as the victim, the relay redeems and parks the grant.
    home = browser_leg(flow["authorization_url"], person="Sam Sample")
    assert home["result"] == "success"
    assert home["relay_ticket"]
    victims_grant = new_grant_id(world, grants_before)
    assert grant_active(world, victims_grant)
    # Mallory's device knows the flow id and its state, but not the ticket.
    for body in (
        {"state": flow["state"]},
        {"state": flow["state"], "relay_ticket": "guessed-" + flow["state"][:20]},
    ):
        refused = mallory.complete(flow["flow_id"], body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "nothing was connected" in refused.json()["detail"]
    assert mallory.connections() == []
    assert world.connection_count() == 0
    row = world.flow_row(flow["flow_id"])
    assert row.status == "parked"
    assert row.grant_ct.startswith("v1.")  # sealed by the vault, never plaintext
    # Neither the ticket nor the state is in the database or a log in plain.
    stored = world.stored_text()
    assert home["relay_ticket"] not in stored
    assert flow["state"] not in stored
    # Nobody claims it: once the ticket's time is up a sweeping process revokes the grant.
    world.expire_ticket(flow["flow_id"])
    sweeper = world.serve(sweep_every=0.2)
    eventually(lambda: not grant_active(world, victims_grant), "revocation at Demo Ads")
    eventually(lambda: world.flow_row(flow["flow_id"]).status == "failed", "flow marked failed")
    world.stop(sweeper)
    row = world.flow_row(flow["flow_id"])
    assert row.grant_ct is None
    assert row.ticket_hash is None
    late = mallory.complete(flow["flow_id"], {"state": flow["state"]})
    assert late.status_code == 422
    assert "withdrawn" in late.json()["detail"]
    assert mallory.connections() == []
    assert world.connection_count() == 0


def test_the_relay_ticket_works_only_for_the_flow_owner_with_the_flow_state(
    world: World,
) -> None:
    url = world.urls[0]
    owner, other = world.device(url, OWNER), world.device(url, OTHER)
    flow = owner.start_flow()
    home = browser_leg(flow["authorization_url"], person="Dana Demo")
    ticket, state = home["relay_ticket"], flow["state"]
    assert home["state"] == state
    assert home["flow_id"] == flow["flow_id"]
    # Another signed-in user holding the flow id, its state and the ticket: not found.
    stolen = other.complete(flow["flow_id"], {"state": state, "relay_ticket": ticket})
    assert stolen.status_code == 404, stolen.text
    assert stolen.json()["code"] == "not_found"
    assert other.connections() == []
    # The owner with another state, or another ticket: refused, the grant stays parked.
    wrong_state = owner.complete(flow["flow_id"], {"state": state + "x", "relay_ticket": ticket})
    assert wrong_state.status_code == 422
    wrong_ticket = owner.complete(flow["flow_id"], {"state": state, "relay_ticket": ticket + "x"})
    assert wrong_ticket.status_code == 422
    assert "ticket does not belong" in wrong_ticket.json()["detail"]
    assert world.flow_row(flow["flow_id"]).status == "parked"
    # The owner with both: the grant becomes the owner's connection.
    claimed = owner.complete(flow["flow_id"], {"state": state, "relay_ticket": ticket})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "connected"
    assert claimed.json()["display_name"] == "Dana Demo"
    assert [c["id"] for c in owner.connections()] == [claimed.json()["id"]]
    row = world.flow_row(flow["flow_id"])
    assert (row.status, row.grant_ct, row.ticket_hash) == ("completed", None, None)
    # Single use: the same ticket again is refused and makes nothing new.
    again = owner.complete(flow["flow_id"], {"state": state, "relay_ticket": ticket})
    assert again.status_code == 409, again.text
    assert len(owner.connections()) == 1
    assert other.connections() == []


def test_an_expired_relay_ticket_is_refused(world: World) -> None:
    url = world.urls[0]
    owner = world.device(url, OWNER)
    flow = owner.start_flow()
    home = browser_leg(flow["authorization_url"], person="Dana Demo")
    before = len(owner.connections())
    world.expire_ticket(flow["flow_id"])
    late = owner.complete(
        flow["flow_id"], {"state": flow["state"], "relay_ticket": home["relay_ticket"]}
    )
    assert late.status_code == 422, late.text
    assert "expired" in late.json()["detail"]
    assert len(owner.connections()) == before


def test_an_unclaimed_grant_is_revoked_by_the_start_up_sweep_after_a_crash(
    world: World,
) -> None:
    """The process that parked a grant dies (SIGKILL); a process started later sweeps at
    start-up and revokes the grant once its ticket has expired: nothing stays alive."""
    dying = world.serve()
    owner = world.device(dying, OWNER)
    grants_before = world.sandbox_grants()
    flow = owner.start_flow()
    browser_leg(flow["authorization_url"], person="Dana Demo")
    grant_id = new_grant_id(world, grants_before)
    world.stop(dying)
    world.expire_ticket(flow["flow_id"])
    due = world.parked_flow_ids()  # ours, and any other test's left unclaimed
    assert flow["flow_id"] in due
    revocations = world.sandbox_stats()["revocations"]
    world.serve()  # its start-up sweep, nothing after for an hour
    eventually(lambda: not grant_active(world, grant_id), "revocation at start-up")
    for flow_id in due:
        eventually(lambda f=flow_id: world.flow_row(f).status == "failed", "flow marked failed")
    assert world.sandbox_stats()["revocations"] == revocations + len(due)


@pytest.mark.postgres
def test_two_processes_revoke_each_unclaimed_grant_once(
    tmp_path: Path,
) -> None:
    """Two backend processes sweeping the same PostgreSQL database every 50 ms: each
    unclaimed grant is revoked exactly once (a lease taken by a conditional UPDATE)."""
    db_url = pg.create_database()
    try:
        with relay_world(tmp_path, db_url) as w:
            w.create_user(OWNER)
            first = w.serve()
            owner = w.device(first, OWNER)
            flows = [owner.start_flow() for _ in range(4)]
            for flow in flows:
                browser_leg(flow["authorization_url"], person="Dana Demo")
            revocations = w.sandbox_stats()["revocations"]
            for flow in flows:
                w.expire_ticket(flow["flow_id"])
            w.serve(sweep_every=0.05)
            w.serve(sweep_every=0.05)
            for flow in flows:
                eventually(
                    lambda f=flow: w.flow_row(f["flow_id"]).status == "failed", "flow failed"
                )
            assert w.sandbox_stats()["revocations"] == revocations + len(flows)
            assert not any(g["active"] for g in w.sandbox_grants())
    finally:
        pg.drop_database(db_url)


def test_the_owners_relayed_connect_works_end_to_end_from_the_command_line(
    world: World, tmp_path: Path
) -> None:
    """The real CLI (its loopback receiver, `connect --no-browser --json`) against a real
    backend process: consent in the browser, the relay parks the grant and sends the browser
    to the receiver with the ticket, and the CLI claims the connection with it."""
    url = world.urls[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.pop("CONNECTED_ACCOUNTS_BACKEND", None)
    for name in ("DATA", "CONFIG", "CACHE", "STATE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    env["HOME"] = str(tmp_path)

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "desktop", "--backend", url, *args],
            input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
            check=False,
        )  # fmt: skip

    login = cli("login", OWNER, "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    before = {c["id"] for c in json.loads(cli("list", "--json").stdout)}
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop", "--backend", url, "connect", "demo", "--no-browser",
         "--json", "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = json.loads(_line(process.stdout))
        # The person's browser: consent, the relay, then on to the CLI's own receiver.
        at_backend = play_consent(first["authorization_url"], user="Sam Sample")
        relayed = httpx.get(at_backend, follow_redirects=False, timeout=30)
        assert relayed.status_code == 303
        receiver = relayed.headers["location"]
        assert "relay_ticket=" in receiver
        assert "code=" not in receiver
        page = httpx.get(receiver, timeout=30)
        assert page.status_code == 200
        assert "relay_ticket" not in page.text
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, err
    connection = json.loads(out)
    assert connection["status"] == "connected"
    assert connection["display_name"] == "Sam Sample"
    after = {c["id"] for c in json.loads(cli("list", "--json").stdout)}
    assert after - before == {connection["id"]}


def _line(pipe: IO[str], timeout: float = 60) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(pipe.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("no line in time") from None
