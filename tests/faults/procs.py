"""Real backend server processes (`python -m backend.cli serve`) on one database, SQLite or
PostgreSQL, against a Demo Ads sandbox of their own with its admin API (fault knobs, counters).

Used by the fault tests that are about what one process does to another: a slow or killed
refresh, per-user limits shared between processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from backend.sandbox.config import DEFAULT_CLIENT_ID
from tests.backend.api.conftest import query_of
from tests.backend.api.sandbox import demo_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support import pg, sandbox_admin
from tests.support.browser import play_consent

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "procs-test-password-1"
LOOPBACK = "http://127.0.0.1:53682/callback"


def _first_line(pipe: IO[str], timeout: float) -> str:
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(pipe.readline()), daemon=True)
    t.start()
    t.join(timeout)
    assert box, "the backend did not say READY"
    return box[0]


@dataclass
class Procs:
    """Backend processes sharing one database and one sandbox."""

    database: str
    sandbox: str
    env: dict[str, str]
    config: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def common(self) -> list[str]:
        return ["--database-url", self.database, "--config", str(self.config)]

    def start(self, **env: str) -> tuple[subprocess.Popen[str], str]:
        """One more `serve` process; (its Popen, its base URL)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *self.common()],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env={**self.env, **env}, cwd=ROOT,
        )  # fmt: skip
        self.procs.append(proc)
        assert proc.stdout is not None
        ready = _first_line(proc.stdout, 60).split()
        assert ready, "no READY line"
        assert ready[0] == "READY", ready
        return proc, ready[1]

    def create_user(self, email: str) -> None:
        created = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", email, "--password-stdin",
             *self.common()],
            input=PASSWORD + "\n", capture_output=True, text=True, env=self.env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr

    def admin(self, path: str, body: Any = None) -> Any:
        headers = sandbox_admin.headers_for(self.sandbox)  # this start's admin token
        resp = httpx.post(f"{self.sandbox}/admin{path}", json=body, headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def faults(self, **knobs: Any) -> None:
        self.admin(f"/clients/{DEFAULT_CLIENT_ID}/faults", knobs)

    def stats(self) -> dict[str, int]:
        headers = sandbox_admin.headers_for(self.sandbox)
        answer = httpx.get(f"{self.sandbox}/admin/stats", headers=headers, timeout=10)
        counters: dict[str, int] = answer.json()[DEFAULT_CLIENT_ID]
        return counters


def login(url: str, email: str) -> dict[str, str]:
    """POST /v1/auth/login as `email`; the Authorization header for its access JWT."""
    _, jwk = new_device_key()
    resp = httpx.post(f"{url}/v1/auth/login", json={
        "email": email, "password": PASSWORD, "device_name": "faults", "device_public_key": jwk,
    }, timeout=30)  # fmt: skip
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def connect(url: str, headers: dict[str, str], person: str) -> dict[str, Any]:
    """A demo connection for sandbox `person`, through the real flow."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        flow = c.post("/v1/flows", json={"provider": "demo", "redirect_uri": LOOPBACK})
        assert flow.status_code == 201, flow.text
        back = query_of(play_consent(flow.json()["authorization_url"], user=person))
        done = c.post(f"/v1/flows/{flow.json()['flow_id']}/complete", json=back)
        assert done.status_code == 200, done.text
        conn: dict[str, Any] = done.json()
        return conn


def wait_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `check` until true (a generous deadline for "eventually", never a speed bound)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def procs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Procs]:
    url = (
        pg.create_database()
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'backend.sqlite3'}"
    )
    sandbox = start_sandbox()
    config = tmp_path / "config.toml"
    # A stalled provider call waits as long as the test holds it, however busy the machine.
    config.write_text(demo_toml(sandbox.url) + "timeout_s = 120\n")
    env = {
        **os.environ,
        "CONNECTED_ACCOUNTS_VAULT_KEYS": TEST_VAULT_KEY,
        "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data"),
        "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
        "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
    }
    world = Procs(url, sandbox.url, env, config)
    try:
        yield world
    finally:
        for proc in world.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        sandbox.stop()
        if request.param == "postgresql":
            pg.drop_database(url)
