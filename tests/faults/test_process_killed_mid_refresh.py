"""A backend process killed (SIGKILL) while it holds the refresh row lock, on PostgreSQL.

Rules: DESIGN "Token refresh rules" — at most one refresh per connection in flight across all
backend processes (`SELECT … FOR UPDATE`); a crash never leaves the connection locked, never
causes a second refresh with the same token in a loop, and the ciphertext stays readable.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.backend.api.conftest import query_of
from tests.backend.api.sandbox import demo_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support import pg
from tests.support.browser import play_consent
from tests.support.servers import UvicornThread

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "kill-test-password-1"


def _first_line(pipe: IO[str], timeout: float) -> str:
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(pipe.readline()), daemon=True)
    t.start()
    t.join(timeout)
    assert box, "the backend did not say READY"
    return box[0]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    url = pg.create_database()
    sandbox: UvicornThread = start_sandbox()
    config = tmp_path / "config.toml"
    config.write_text(demo_toml(sandbox.url))
    env = {
        **os.environ,
        "CONNECTED_ACCOUNTS_VAULT_KEYS": TEST_VAULT_KEY,
        "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data"),
        "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
        "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
    }
    common = ["--database-url", url, "--config", str(config)]
    procs: list[subprocess.Popen[str]] = []

    def start() -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *common],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        procs.append(proc)
        assert proc.stdout is not None
        ready = _first_line(proc.stdout, 60).split()
        assert ready, "no READY line"
        assert ready[0] == "READY", ready
        return proc, ready[1]

    try:
        created = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", "k@example.test",
             "--password-stdin", *common],
            input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        yield {"start": start, "sandbox": sandbox.url, "db": url}
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        sandbox.stop()
        pg.drop_database(url)


def admin(sandbox: str, path: str, body: Any = None) -> Any:
    resp = httpx.post(f"{sandbox}/admin{path}", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def counters(sandbox: str) -> dict[str, int]:
    resp = httpx.get(f"{sandbox}/admin/stats", timeout=10)
    stats: dict[str, int] = resp.json()["demo-desktop"]
    return stats


def waiting_in_transaction(db_url: str) -> int:
    engine = create_engine(pg.ADMIN_URL)
    name = db_url.rsplit("/", 1)[1]
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                 "AND state = 'idle in transaction'"), {"d": name},
        ).scalar_one()  # fmt: skip
    engine.dispose()
    return int(n)


def test_backend_killed_while_holding_the_refresh_lock(world: dict[str, Any]) -> None:
    proc_a, url_a = world["start"]()
    _, jwk = new_device_key()
    login = httpx.post(f"{url_a}/v1/auth/login", json={
        "email": "k@example.test", "password": PASSWORD, "device_name": "k",
        "device_public_key": jwk}, timeout=30)  # fmt: skip
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    redirect = "http://127.0.0.1:53682/callback"
    with httpx.Client(base_url=url_a, headers=headers, timeout=30) as a:
        flow = a.post("/v1/flows", json={"provider": "demo", "redirect_uri": redirect}).json()
        back = query_of(play_consent(flow["authorization_url"]))
        conn = a.post(f"/v1/flows/{flow['flow_id']}/complete", json=back).json()
    params = {"account": conn["accounts"][0]["id"], "since": "2026-11-01", "until": "2026-11-02"}
    before = counters(world["sandbox"])

    admin(world["sandbox"], "/tokens/expire")
    admin(world["sandbox"], "/clients/demo-desktop/faults", {"latency_ms": 3000})

    def doomed() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{url_a}/v1/connections/{conn['id']}/reports", params=params,
                      headers=headers, timeout=30)  # fmt: skip

    threading.Thread(target=doomed, daemon=True).start()
    deadline = time.monotonic() + 20
    while waiting_in_transaction(world["db"]) == 0:  # A holds the row lock, awaiting the provider
        assert time.monotonic() < deadline, "the refresh never took the row lock"
        time.sleep(0.05)
    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait(10)
    admin(world["sandbox"], "/clients/demo-desktop/faults", {"latency_ms": 0})

    _, url_b = world["start"]()
    started = time.monotonic()
    with httpx.Client(base_url=url_b, headers=headers, timeout=30) as b:
        first = b.get(f"/v1/connections/{conn['id']}/reports", params=params)
        assert time.monotonic() - started < 15  # the dead process's lock did not hold B up
        assert first.status_code in (200, 409), first.text
        after = counters(world["sandbox"])
        # Either the killed refresh never counted and B refreshed once, or the provider rotated
        # for the dead process and B's one attempt found the grant ended: never a loop.
        assert after["token_requests"] - before["token_requests"] <= 2
        assert after["reused_refresh_tokens"] - before["reused_refresh_tokens"] <= 1
        for _ in range(3):
            again = b.get(f"/v1/connections/{conn['id']}/reports", params=params)
            assert again.status_code == first.status_code, again.text
        assert counters(world["sandbox"])["token_requests"] == after["token_requests"]
        status = b.get(f"/v1/connections/{conn['id']}").json()["status"]
        assert status == ("connected" if first.status_code == 200 else "needs_reconnect")
