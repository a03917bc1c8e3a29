"""Real `connected-accounts-backend serve` processes on one database, with a Demo Ads sandbox
whose `demo` provider relays through the backend (`redirect = "backend"`, as Meta does).

Users are made with the real `create-user` command and sign in over HTTP with a device key;
the test plays each person's browser with httpx (tests/support/browser.py).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import create_engine, select, update

from backend.db.models import Connection, Flow
from tests.backend.api.sandbox import demo_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support import sandbox_admin
from tests.support.browser import play_consent
from tests.support.servers import UvicornThread

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "relay-test-password-1"
LOOPBACK = "http://127.0.0.1:53682/callback"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _first_line(pipe: IO[str], timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(pipe.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("the backend did not say READY in time") from None


@dataclass
class Device:
    """A signed-in device of one user, talking to one backend process."""

    email: str
    client: httpx.Client

    def start_flow(self, provider: str = "demo") -> dict[str, Any]:
        resp = self.client.post("/v1/flows", json={"provider": provider, "redirect_uri": LOOPBACK})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def complete(self, flow_id: str, body: dict[str, str]) -> httpx.Response:
        return self.client.post(f"/v1/flows/{flow_id}/complete", json=body)

    def connections(self) -> list[dict[str, Any]]:
        resp = self.client.get("/v1/connections")
        assert resp.status_code == 200, resp.text
        return list(resp.json())


@dataclass
class World:
    sandbox: UvicornThread
    db_url: str
    env: dict[str, str]
    common: list[str]
    tmp: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def serve(self, *, sweep_every: float = 3600.0, ticket_ttl: float = 120.0) -> str:
        """One more backend process on the shared database; its base URL."""
        env = {
            **self.env,
            "CONNECTED_ACCOUNTS_RELAY_SWEEP_INTERVAL_S": str(sweep_every),
            "CONNECTED_ACCOUNTS_RELAY_TICKET_TTL_S": str(ticket_ttl),
        }
        log = (self.tmp / f"serve-{len(self.procs)}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *self.common],
            stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        log.close()
        self.procs.append(proc)
        assert proc.stdout is not None
        ready = _first_line(proc.stdout, 60).split()
        assert ready, "no READY line"
        assert ready[0] == "READY", ready
        self.urls.append(ready[1])
        return ready[1]

    def stop(self, url: str) -> None:
        """SIGKILL the process serving `url` (no chance to tidy up)."""
        index = self.urls.index(url)
        proc = self.procs[index]
        proc.kill()
        proc.wait(10)

    def create_user(self, email: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", email, "--password-stdin",
             *self.common],
            input=PASSWORD + "\n", capture_output=True, text=True, env=self.env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def device(self, url: str, email: str) -> Device:
        _, jwk = new_device_key()
        login = httpx.post(
            f"{url}/v1/auth/login",
            json={"email": email, "password": PASSWORD, "device_name": "test device",
                  "device_public_key": jwk},
            timeout=30,
        )  # fmt: skip
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        client = httpx.Client(
            base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )
        return Device(email, client)

    def stored_text(self) -> str:
        """Every byte the backends wrote: their logs and (SQLite) the database files."""
        parts = [p.read_bytes() for p in sorted(self.tmp.glob("serve-*.log"))]
        if self.db_url.startswith("sqlite:///"):
            db = Path(self.db_url.removeprefix("sqlite:///"))
            parts += [p.read_bytes() for p in db.parent.glob(db.name + "*")]
        return b"\n".join(parts).decode("latin-1")

    # -- the database, read and moved as a fake clock would --------------------------------

    def _engine(self) -> Any:
        return create_engine(self.db_url)

    def flow_row(self, flow_id: str) -> Any:
        engine = self._engine()
        try:
            with engine.connect() as db:
                return db.execute(select(Flow).where(Flow.id == flow_id)).one()
        finally:
            engine.dispose()

    def expire_ticket(self, flow_id: str) -> None:
        """As if the ticket's two minutes had passed."""
        past = datetime.now(UTC) - timedelta(seconds=1)
        engine = self._engine()
        try:
            with engine.begin() as db:
                db.execute(update(Flow).where(Flow.id == flow_id).values(ticket_expires_at=past))
        finally:
            engine.dispose()

    def parked_flow_ids(self) -> list[str]:
        engine = self._engine()
        try:
            with engine.connect() as db:
                rows = db.execute(select(Flow.id).where(Flow.status == "parked")).all()
        finally:
            engine.dispose()
        return [r[0] for r in rows]

    def connection_count(self) -> int:
        engine = self._engine()
        try:
            with engine.connect() as db:
                return len(db.execute(select(Connection.id)).all())
        finally:
            engine.dispose()

    # -- the provider --------------------------------------------------------------------

    def sandbox_stats(self) -> dict[str, int]:
        admin = sandbox_admin.headers_for(self.sandbox.url)
        resp = httpx.get(f"{self.sandbox.url}/admin/stats", headers=admin, timeout=10)
        assert resp.status_code == 200, resp.text
        stats: dict[str, int] = resp.json()["demo-desktop"]
        return stats

    def sandbox_grants(self) -> list[dict[str, Any]]:
        admin = sandbox_admin.headers_for(self.sandbox.url)
        resp = httpx.get(f"{self.sandbox.url}/admin/grants", headers=admin, timeout=10)
        assert resp.status_code == 200, resp.text
        return list(resp.json()["data"])


def browser_leg(authorization_url: str, *, person: str) -> dict[str, str]:
    """A person's browser: consent at Demo Ads as `person`, back through the backend's relay
    (which redeems and parks the grant), and the 303 on to the loopback receiver; returns
    what that last redirect carries (never followed: nobody listens on the test's port)."""
    at_backend = play_consent(authorization_url, user=person)
    assert "/v1/flows/callback?" in at_backend, at_backend
    resp = httpx.get(at_backend, follow_redirects=False, timeout=30)
    assert resp.status_code == 303, resp.text
    home = str(resp.headers["location"])
    assert home.startswith(LOOPBACK + "?"), home
    return query_of(home)


@contextlib.contextmanager
def relay_world(tmp: Path, db_url: str) -> Iterator[World]:
    sandbox = start_sandbox()
    config = tmp / "config.toml"
    config.write_text(demo_toml(sandbox.url, redirect="backend"))
    env = {
        **os.environ,
        "CONNECTED_ACCOUNTS_VAULT_KEYS": TEST_VAULT_KEY,
        "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp / "data"),
        "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
        "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
    }
    common = ["--database-url", db_url, "--config", str(config)]
    world = World(sandbox, db_url, env, common, tmp)
    try:
        yield world
    finally:
        for proc in world.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        sandbox.stop()
