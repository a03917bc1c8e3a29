"""Login throttling a stranger cannot turn against the user; forwarded headers not believed.

Rules: issue 14 point 5 — X-Forwarded-For counts only from the proxies named with
`--forwarded-allow-ips` (uvicorn would otherwise believe any loopback client);
point 6 — failures lock per (email, address); failures at one email from many addresses only
slow sign-ins at it down (a growing delay, capped), never lock it; the counts live in the
database, so they hold across backend processes (two `serve` processes on PostgreSQL here).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from backend.auth import throttle
from backend.db.engine import locked_transaction, make_engine
from backend.db.migrate import upgrade
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support import pg
from tests.support.backend_process import ServeProcess, backend_env, run_command, start_serve

EMAIL = "victim@example.test"
PASSWORD = "the-right-password"


def _login(url: str, password: str, address: str | None = None) -> httpx.Response:
    _, jwk = new_device_key()
    headers = {"X-Forwarded-For": address} if address else {}
    body = {"email": EMAIL, "password": password, "device_name": "t", "device_public_key": jwk}
    return httpx.post(f"{url}/v1/auth/login", headers=headers, timeout=60, json=body)


class World:
    """One database (SQLite or PostgreSQL), the user, and `serve` processes on it."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        self.db = database_url
        self.tmp = tmp_path
        self.servers: list[ServeProcess] = []
        env = backend_env(tmp_path / "data", vault_keys=TEST_VAULT_KEY)
        done = run_command(["create-user", EMAIL, "--password-stdin", "--database-url", self.db],
                           env, PASSWORD)  # fmt: skip
        assert done.returncode == 0, done.stderr

    def serve(self, *args: str, **settings: str) -> ServeProcess:
        env = backend_env(self.tmp / "data", vault_keys=TEST_VAULT_KEY, **settings)
        server = start_serve(["--database-url", self.db, *args], env)
        self.servers.append(server)
        server.wait_ready()
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path, f"sqlite:///{tmp_path / 'backend.sqlite3'}")
    try:
        yield world
    finally:
        world.stop()


@pytest.fixture
def pg_world(tmp_path: Path) -> Iterator[World]:
    url = pg.create_database()
    world = World(tmp_path, url)
    try:
        yield world
    finally:
        world.stop()
        pg.drop_database(url)


def test_forged_forwarded_for_cannot_dodge_the_login_throttle(sqlite_world: World) -> None:
    server = sqlite_world.serve(login_throttle_base_s="30")
    for i in range(throttle.PAIR_FREE_FAILURES + 1):
        resp = _login(server.url, f"guess-{i}", address=f"203.0.113.{i + 1}")
        assert resp.status_code == 401, resp.text
    locked = _login(server.url, "guess-x", address="198.51.100.77")
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) >= 1
    # The log names the real peer, never the forged one.
    assert "(from 127.0.0.1)" in server.stderr()
    assert "203.0.113." not in server.stderr()


def test_forwarded_for_from_a_named_proxy_locks_the_guesser_not_the_user(
    sqlite_world: World,
) -> None:
    server = sqlite_world.serve("--forwarded-allow-ips", "127.0.0.1", login_throttle_base_s="30")
    for i in range(throttle.PAIR_FREE_FAILURES + 1):
        assert _login(server.url, f"guess-{i}", address="203.0.113.9").status_code == 401
    assert _login(server.url, PASSWORD, address="203.0.113.9").status_code == 429
    # The user, elsewhere, signs in: a stranger's guesses lock only the stranger's address.
    assert _login(server.url, PASSWORD, address="198.51.100.7").status_code == 200


@pytest.mark.postgres
def test_lock_per_email_and_address_holds_across_processes(pg_world: World) -> None:
    a = pg_world.serve("--forwarded-allow-ips", "127.0.0.1", login_throttle_base_s="30")
    b = pg_world.serve("--forwarded-allow-ips", "127.0.0.1", login_throttle_base_s="30")
    for i in range(throttle.PAIR_FREE_FAILURES + 1):
        resp = _login((a, b)[i % 2].url, f"guess-{i}", address="203.0.113.9")
        assert resp.status_code == 401, resp.text
    for server in (a, b):
        assert _login(server.url, PASSWORD, address="203.0.113.9").status_code == 429
    assert _login(b.url, PASSWORD, address="198.51.100.7").status_code == 200


def _logged_delays(*servers: ServeProcess) -> list[float]:
    found = []
    for server in servers:
        found += [float(x) for x in re.findall(r"sign-in slowed by ([0-9.]+) s", server.stderr())]
    return found


@pytest.mark.postgres
def test_many_addresses_slow_one_email_down_but_never_lock_it(pg_world: World) -> None:
    slow = {"login_throttle_base_s": "0.05", "login_delay_max_s": "0.4"}
    a = pg_world.serve("--forwarded-allow-ips", "127.0.0.1", **slow)
    b = pg_world.serve("--forwarded-allow-ips", "127.0.0.1", **slow)
    guesses = throttle.EMAIL_FREE_FAILURES + 8
    for i in range(guesses):
        resp = _login((a, b)[i % 2].url, f"guess-{i}", address=f"203.0.{i // 200}.{i % 200 + 1}")
        assert resp.status_code == 401, resp.text  # slowed, never refused
    ok = _login(b.url, PASSWORD, address="198.51.100.7")
    assert ok.status_code == 200, ok.text
    delays = _logged_delays(a, b)
    # Past the free failures every attempt (both processes, the user's too) was slowed,
    # by a delay that doubled up to the cap.
    assert len(delays) == guesses + 1 - throttle.EMAIL_FREE_FAILURES
    assert {0.05, 0.1, 0.2, 0.4} <= set(delays)
    assert max(delays) == 0.4
    engine = create_engine(pg_world.db)
    with engine.connect() as conn:
        failures = conn.execute(
            text("SELECT failures FROM login_attempts WHERE key LIKE 'email:%'")
        ).scalar_one()
    engine.dispose()
    assert failures == guesses  # the user's success took back only its own attempt


def test_email_delay_grows_to_its_cap_and_pair_lock_ends_on_a_fake_clock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 't.sqlite3'}")
    upgrade(engine)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    cap = timedelta(seconds=8)
    email = f"{secrets.token_hex(4)}@example.test"

    def attempt(address: str, at: datetime) -> throttle.Decision:
        with locked_transaction(engine) as session:
            return throttle.begin_attempt(session, throttle.keys_for(email, address), at, 1.0, cap)

    decisions: list[Any] = [attempt(f"10.0.0.{i}", now) for i in range(16)]
    assert all(d.wait_s is None for d in decisions)
    assert [d.delay_s for d in decisions] == [0.0] * 10 + [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for _ in range(throttle.PAIR_FREE_FAILURES + 1):
        attempt("10.9.9.9", now)
    locked = attempt("10.9.9.9", now)
    assert locked.wait_s is not None
    assert locked.wait_s > 0
    assert attempt("10.9.9.9", now + timedelta(seconds=locked.wait_s + 1)).wait_s is None
    # Failures are forgotten after the window without another one.
    later = attempt("10.1.1.1", now + throttle.WINDOW + timedelta(hours=1))
    assert later == throttle.Decision(wait_s=None, delay_s=0.0)
    engine.dispose()
