"""PostgreSQL restarted during a refresh storm (a real `pg_ctlcluster restart`).

Rules: design rule "Token refresh rules" and "Errors are values a user can act on" — while the
database is away the API never hangs, no connection is refreshed in a loop, and the backend
works again on its own once the database is back.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from tests.backend.api.conftest import ApiBackend, complete, consent, start_flow
from tests.backend.api.sandbox import demo_toml, set_faults, stats
from tests.backend.conftest import TEST_VAULT_KEY, SignedIn, sign_in
from tests.support import pg, sandbox_admin
from tests.support.servers import UvicornThread, bind_loopback

RESTART = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"]


class TokenDoor:
    """ASGI wrapper for the sandbox: while shut, token requests wait at the door (before the
    sandbox sees them) and are counted; `open()` lets them all through. The race the test is
    about (the database goes away while refreshes hold their leases and await the provider)
    then happens every time, however busy the machine."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.opened = threading.Event()
        self.opened.set()
        self._lock = threading.Lock()
        self.waiting = 0

    def shut(self) -> None:
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/token" and not self.opened.is_set():
            with self._lock:
                self.waiting += 1
            await asyncio.to_thread(self.opened.wait)
        await self.app(scope, receive, send)


def pg_up() -> bool:
    probe = subprocess.run(
        ["pg_isready", "-h", "127.0.0.1", "-p", "5432"], capture_output=True, check=False
    )
    return probe.returncode == 0


@pytest.fixture
def token_door() -> TokenDoor:
    return TokenDoor(create_sandbox_app(SandboxConfig(admin_api=True)))


@pytest.fixture
def pg_backend(tmp_path: Any, token_door: TokenDoor) -> Iterator[ApiBackend]:
    from backend.app import create_app
    from backend.config import Settings

    url = pg.create_database()
    sandbox = UvicornThread(token_door).start()
    sock = bind_loopback()
    config = tmp_path / "config.toml"
    config.write_text(demo_toml(sandbox.url))
    settings = Settings(
        database_url=url,
        data_dir=tmp_path / "data",
        host="127.0.0.1",
        port=sock.getsockname()[1],
        config=config,
        vault_keys=TEST_VAULT_KEY,
    )
    app = create_app(settings)
    server = UvicornThread(app, sock=sock).start()
    try:
        yield ApiBackend(server=server, state=app.state.ca, settings=settings, sandbox=sandbox.url)
    finally:
        server.stop()
        sandbox.stop()
        deadline = time.monotonic() + 60
        while not pg_up():  # leave the server running for everyone else
            assert time.monotonic() < deadline
            time.sleep(0.2)
        app.state.ca.engine.dispose()
        pg.drop_database(url)


def test_postgres_restart_during_a_refresh_storm(
    pg_backend: ApiBackend, token_door: TokenDoor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTED_ACCOUNTS_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB", "64")
    users: list[SignedIn] = [sign_in(pg_backend) for _ in range(3)]
    conns: list[dict[str, Any]] = []
    for user in users:
        flow = start_flow(user)
        resp = complete(user, flow, consent(flow))
        assert resp.status_code == 200, resp.text
        conns.append(resp.json())
    params = {"since": "2026-11-01", "until": "2026-11-02"}
    before = stats(pg_backend)
    expired = httpx.post(
        f"{pg_backend.sandbox_url}/admin/tokens/expire",
        headers=sandbox_admin.headers_for(pg_backend.sandbox_url),
        timeout=10,
    )
    assert expired.status_code == 200, expired.text
    set_faults(pg_backend, latency_ms=300)

    answers: list[tuple[int, str]] = []

    def storm(user: SignedIn, conn: dict[str, Any]) -> None:
        with pg_backend.client(headers=dict(user.client.headers)) as c:
            for _ in range(4):
                try:
                    r = c.get(f"/v1/connections/{conn['id']}/reports",
                              params={**params, "account": conn["accounts"][0]["id"]})  # fmt: skip
                    answers.append((r.status_code, r.headers.get("content-type", "")))
                except httpx.TransportError as exc:
                    answers.append((0, type(exc).__name__))

    pairs = list(zip(users, conns, strict=True)) * 2
    threads = [threading.Thread(target=storm, args=pair) for pair in pairs]
    token_door.shut()
    for t in threads:
        t.start()
    # Every connection's refresh holds its lease (no transaction) and awaits the provider: then
    # the database goes away, and comes back, before the provider answers (and rotates the
    # refresh token). The rotations must still be stored (retried), ending their leases.
    deadline = time.monotonic() + 60
    while token_door.waiting < len(conns):
        assert time.monotonic() < deadline, "the refreshes never reached the provider"
        time.sleep(0.05)
    subprocess.run(RESTART, check=True, timeout=120)
    token_door.open()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a request hung across the database restart"
    set_faults(pg_backend, latency_ms=0)

    # While the database was away: answers in words (200, or a 503 problem), never a hang
    # and never a dropped connection.
    assert len(answers) == 6 * 4
    for status, kind in answers:
        assert status == 200 or (status == 503 and kind.startswith("application/problem+json")), (
            answers
        )
    # Back on its own: every connection serves reports. A token the provider rotated while the
    # database was away is still stored (written with retries), so nothing needs reconnecting.
    finals = []
    for user, conn in zip(users, conns, strict=True):
        with pg_backend.client(headers=dict(user.client.headers)) as c:
            r = c.get(f"/v1/connections/{conn['id']}/reports",
                      params={**params, "account": conn["accounts"][0]["id"]})  # fmt: skip
            finals.append((r.status_code, r.text[:200]))
    assert [code for code, _ in finals] == [200] * len(conns), finals
    after = stats(pg_backend)
    assert after["reused_refresh_tokens"] == before["reused_refresh_tokens"], after
    assert after["refreshes"] - before["refreshes"] == len(conns), after
    for user, conn in zip(users, conns, strict=True):  # and it stays that way: no retry loop
        with pg_backend.client(headers=dict(user.client.headers)) as c:
            c.get(f"/v1/connections/{conn['id']}/reports",
                  params={**params, "account": conn["accounts"][0]["id"]})  # fmt: skip
    assert stats(pg_backend)["token_requests"] == after["token_requests"]
    with pg_backend.state.engine.connect() as db:
        leases = db.execute(text("SELECT count(*) FROM connections WHERE lease_owner IS NOT NULL"))
        assert leases.scalar_one() == 0
