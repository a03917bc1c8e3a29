"""Sessions end when they should, against real `serve` processes.

Rule: issue 14 point 7 — `set-password` (and `create-user --update`) sign out every device;
a device ends after 30 idle days and after a year in any case (both configurable; the clock
is moved by dating the device rows back, never by sleeping); `DELETE /v1/auth/devices` signs
out every other device; the desktop's `logout` says plainly when the backend was not told.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import create_engine, text

from tests.backend.auth.conftest import make_assertion
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support.backend_process import (
    ROOT,
    ServeProcess,
    backend_env,
    run_command,
    start_serve,
)

EMAIL = "sam@example.test"
PASSWORD = "first-password-1"
NEW_PASSWORD = "second-password-2"


@dataclass
class Device:
    id: str
    key: ec.EllipticCurvePrivateKey
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.db = f"sqlite:///{tmp_path / 'backend.sqlite3'}"
        self.servers: list[ServeProcess] = []
        self.command(["create-user", EMAIL, "--password-stdin"], PASSWORD)

    def env(self, **settings: str) -> dict[str, str]:
        return backend_env(self.tmp / "data", vault_keys=TEST_VAULT_KEY, **settings)

    def command(self, args: list[str], stdin: str | None = None) -> str:
        done = run_command([*args, "--database-url", self.db], self.env(), stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def serve(self, **settings: str) -> ServeProcess:
        server = start_serve(["--database-url", self.db], self.env(**settings))
        self.servers.append(server)
        server.wait_ready()
        return server

    def sign_in(self, server: ServeProcess, password: str = PASSWORD) -> Device:
        key, jwk = new_device_key()
        body = {"email": EMAIL, "password": password, "device_name": "d", "device_public_key": jwk}
        resp = httpx.post(f"{server.url}/v1/auth/login", timeout=30, json=body)
        assert resp.status_code == 200, resp.text
        return Device(resp.json()["device_id"], key, resp.json()["access_token"])

    def date_back(self, device: Device, *, created: timedelta, seen: timedelta) -> None:
        """Move the clock for one device: it was made `created` ago and last seen `seen` ago."""
        now = datetime.now(UTC)
        engine = create_engine(self.db)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE devices SET created_at = :c, last_seen_at = :s WHERE id = :id"),
                {"c": now - created, "s": now - seen, "id": device.id},
            )
        engine.dispose()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    try:
        yield w
    finally:
        for server in w.servers:
            server.stop()


def renew(server: ServeProcess, device: Device) -> httpx.Response:
    assertion = make_assertion(device.key, device.id, f"{server.url}/v1/auth/token")
    return httpx.post(f"{server.url}/v1/auth/token", timeout=30,
                      data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                            "assertion": assertion})  # fmt: skip


def eventually_refused(server: ServeProcess, device: Device) -> str:
    """The device's next API call is refused (another process may answer from a 2 s memo)."""
    deadline = time.monotonic() + 30
    while True:
        resp = httpx.get(f"{server.url}/v1/auth/devices", headers=device.headers(), timeout=30)
        if resp.status_code == 401:
            return str(resp.json()["detail"])
        assert resp.status_code == 200, resp.text
        assert time.monotonic() < deadline, "the device was never signed out"
        time.sleep(0.1)


@pytest.mark.parametrize(
    "command",
    [["set-password", EMAIL, "--password-stdin"],
     ["create-user", EMAIL, "--password-stdin", "--update"]],
    ids=["set-password", "create-user --update"],
)  # fmt: skip
def test_password_change_signs_out_every_device(world: World, command: list[str]) -> None:
    server = world.serve()
    devices = [world.sign_in(server), world.sign_in(server)]
    out = world.command(command, NEW_PASSWORD)
    if command[0] == "set-password":
        assert "2 device(s) were signed out" in out
    for device in devices:
        why = eventually_refused(server, device)
        assert "password was changed" in why
        refused = renew(server, device)
        assert refused.status_code == 401
        assert "password was changed" in refused.json()["detail"]
    assert httpx.post(f"{server.url}/v1/auth/login", timeout=30, json={
        "email": EMAIL, "password": PASSWORD, "device_name": "d",
        "device_public_key": new_device_key()[1]}).status_code == 401  # fmt: skip
    world.sign_in(server, NEW_PASSWORD)


def test_set_password_for_nobody_says_so(world: World) -> None:
    done = run_command(["set-password", "nobody@example.test", "--password-stdin",
                        "--database-url", world.db], world.env(), NEW_PASSWORD)  # fmt: skip
    assert done.returncode == 1
    assert "There is no user nobody@example.test" in done.stderr


def test_devices_expire_after_idle_days_and_after_a_year(world: World) -> None:
    server = world.serve()
    fresh, idle, old, week = (world.sign_in(server) for _ in range(4))
    world.date_back(idle, created=timedelta(days=40), seen=timedelta(days=30, minutes=1))
    world.date_back(old, created=timedelta(days=365, minutes=1), seen=timedelta(hours=1))
    world.date_back(week, created=timedelta(days=9), seen=timedelta(days=8))

    idle_answer = renew(server, idle)
    assert idle_answer.status_code == 401
    assert "after 30 days without use" in idle_answer.json()["detail"]
    old_answer = renew(server, old)
    assert old_answer.status_code == 401
    assert "at most 365 days" in old_answer.json()["detail"]
    assert "at most 365 days" in eventually_refused(server, old)

    # Both limits are settings: a backend with a 7-day idle limit ends `week`'s sign-in,
    # which the default 30 days keep.
    strict = world.serve(device_idle_days="7", device_max_age_days="30")
    assert "after 7 days without use" in renew(strict, week).json()["detail"]
    assert renew(server, week).status_code == 200  # and using it marks it seen again
    assert renew(strict, week).status_code == 200

    listed = httpx.get(f"{server.url}/v1/auth/devices", headers=fresh.headers(), timeout=30)
    assert sorted(d["id"] for d in listed.json()) == sorted([fresh.id, week.id])
    assert renew(server, fresh).status_code == 200


def test_delete_devices_signs_out_every_other_device(world: World) -> None:
    first = world.serve()
    second = world.serve()
    me, laptop, phone = (world.sign_in(first) for _ in range(3))
    resp = httpx.delete(f"{first.url}/v1/auth/devices", headers=me.headers(), timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"signed_out": 2}
    for device in (laptop, phone):
        assert "from another of your devices" in eventually_refused(first, device)
        assert "from another of your devices" in eventually_refused(second, device)
        assert renew(second, device).status_code == 401
    listed = httpx.get(f"{second.url}/v1/auth/devices", headers=me.headers(), timeout=30)
    assert [d["id"] for d in listed.json()] == [me.id]
    assert renew(second, me).status_code == 200


def _desktop(
    url: str, tmp: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
    env.update({"XDG_CONFIG_HOME": str(tmp / "config"), "XDG_CACHE_HOME": str(tmp / "cache")})
    return subprocess.run(
        [sys.executable, "-m", "desktop", "--backend", url, *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


def test_logout_says_plainly_when_the_backend_could_not_be_told(
    world: World, tmp_path: Path
) -> None:
    server = world.serve()
    watcher = world.sign_in(server)
    login = _desktop(server.url, tmp_path, "login", EMAIL, "--password-stdin", stdin=PASSWORD)
    assert login.returncode == 0, login.stderr
    # Told: the backend signs the device out.
    out = _desktop(server.url, tmp_path, "logout")
    assert out.returncode == 0, out.stderr
    assert "Signed out on this device and at the backend." in out.stdout
    listed = httpx.get(f"{server.url}/v1/auth/devices", headers=watcher.headers(), timeout=30)
    assert [d["id"] for d in listed.json()] == [watcher.id]

    # Not told: the backend is gone. Signed out here all the same, and it says so.
    login = _desktop(server.url, tmp_path, "login", EMAIL, "--password-stdin", stdin=PASSWORD)
    assert login.returncode == 0, login.stderr
    server.stop()
    out = _desktop(server.url, tmp_path, "logout")
    assert out.returncode == 5, (out.stdout, out.stderr)
    assert "Signed out on this device, but the backend could not be told" in out.stderr
    assert "still counts this device as signed in" in out.stderr
    assert "Traceback" not in out.stderr
    again = _desktop(server.url, tmp_path, "logout")
    assert again.returncode == 0
    assert "was not signed in" in again.stdout
