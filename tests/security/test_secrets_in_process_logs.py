"""No secret in a real backend process's stdout/stderr at DEBUG, on happy and failing paths.

Rule: design rule "Storage" — no token, code, verifier, password or secret in logs, error bodies,
API responses; STYLE "No secret ever reaches a log line, an exception message or a repr".
The process runs `python -m backend.cli serve` (DEBUG logs, uvicorn's own logs and
tracebacks go to its stderr); the provider is a real Demo Ads sandbox with fault knobs.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.backend.api.conftest import direct_grant, query_of
from tests.backend.api.sandbox import demo_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.support import sandbox_admin
from tests.support.browser import play_consent

ROOT = Path(__file__).resolve().parents[2]


class Drain:
    """Collects a pipe in a thread (so the process never blocks on a full pipe)."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self.first = threading.Event()
        self._t = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._t.start()

    def _run(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.append(line)
            self.first.set()
        self.first.set()

    def join(self) -> str:
        self._t.join(10)
        return "".join(self.lines)


@pytest.fixture
def process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    sandbox = start_sandbox()
    config = tmp_path / "config.toml"
    config.write_text(demo_toml(sandbox.url))
    env = {
        **os.environ,
        "CONNECTED_ACCOUNTS_VAULT_KEYS": TEST_VAULT_KEY,
        "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data"),
        "CONNECTED_ACCOUNTS_LOG_LEVEL": "DEBUG",
        "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
        "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
    }
    db = f"sqlite:///{tmp_path / 'backend.sqlite3'}"
    common = ["--database-url", db, "--config", str(config)]
    password = "pw-" + secrets.token_urlsafe(16)
    created = subprocess.run(
        [sys.executable, "-m", "backend.cli", "create-user", "sec@example.test",
         "--password-stdin", *common],
        input=password + "\n", capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
        check=False,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *common],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    out, err = Drain(proc.stdout), Drain(proc.stderr)
    try:
        assert out.first.wait(60)
        ready = out.lines[0].split()
        assert ready[0] == "READY", out.lines
        yield {
            "url": ready[1], "sandbox": sandbox.url, "password": password,
            "out": out, "err": err, "proc": proc, "setup": created.stdout + created.stderr,
        }  # fmt: skip
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(15)
        sandbox.stop()


def test_no_secret_reaches_the_backend_process_output(process: dict[str, Any]) -> None:
    url, sandbox = process["url"], process["sandbox"]
    known: dict[str, str] = {"password": process["password"]}
    _, jwk = new_device_key()
    with httpx.Client(base_url=url, timeout=30) as anon:
        wrong = anon.post("/v1/auth/login", json={
            "email": "sec@example.test", "password": "wrong-" + process["password"],
            "device_name": "x", "device_public_key": jwk})  # fmt: skip
        assert wrong.status_code == 401
        known["wrong password"] = "wrong-" + process["password"]
        login = anon.post("/v1/auth/login", json={
            "email": "sec@example.test", "password": process["password"],
            "device_name": "x", "device_public_key": jwk})  # fmt: skip
        assert login.status_code == 200, login.text
    known["access jwt"] = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {known['access jwt']}"}
    with httpx.Client(base_url=url, timeout=30, headers=headers) as c:
        redirect = "http://127.0.0.1:53682/callback"
        flow = c.post("/v1/flows", json={"provider": "demo", "redirect_uri": redirect}).json()
        known["state"] = flow["state"]
        back = query_of(play_consent(flow["authorization_url"]))
        known["code"] = back["code"]
        # A wrong state, a bad code, then the real completion and its replay.
        assert c.post(f"/v1/flows/{flow['flow_id']}/complete",
                      json={**back, "state": "x" + back["state"]}).status_code >= 400  # fmt: skip
        flow2 = c.post("/v1/flows", json={"provider": "demo", "redirect_uri": redirect}).json()
        known["state 2"] = flow2["state"]
        known["bad code"] = "bad-code-" + secrets.token_urlsafe(12)
        c.post(f"/v1/flows/{flow2['flow_id']}/complete",
               json={"state": flow2["state"], "code": known["bad code"]})  # fmt: skip
        conn = c.post(f"/v1/flows/{flow['flow_id']}/complete", json=back).json()
        assert c.post(f"/v1/flows/{flow['flow_id']}/complete", json=back).status_code == 409
        # Hand-over of a token we know, a refresh through an expired access token, a
        # provider outage, a report, a disconnect.
        grant = direct_grant(sandbox)
        known["import refresh"] = grant["refresh_token"]
        known["import access"] = grant["access_token"]
        imported = c.post(
            "/v1/connections/import",
            json={"provider": "demo", "refresh_token": grant["refresh_token"]},
        )
        assert imported.status_code == 200, imported.text
        known["bogus import"] = "rt-bogus-" + secrets.token_urlsafe(12)
        assert c.post("/v1/connections/import",
                      json={"provider": "demo", "refresh_token": known["bogus import"]}
                      ).status_code >= 400  # fmt: skip
        admin = sandbox_admin.headers_for(sandbox)
        assert httpx.post(f"{sandbox}/admin/tokens/expire", headers=admin, timeout=10).is_success
        params = {"account": conn["accounts"][0]["id"], "since": "2026-11-01",
                  "until": "2026-11-02"}  # fmt: skip
        assert c.get(f"/v1/connections/{conn['id']}/reports", params=params).status_code == 200
        assert httpx.post(f"{sandbox}/admin/clients/demo-desktop/faults", headers=admin,
                   json={"fail_next_token": 5, "retry_after": 0},
                   timeout=10).is_success  # fmt: skip
        assert httpx.post(f"{sandbox}/admin/tokens/expire", headers=admin, timeout=10).is_success
        c.get(f"/v1/connections/{conn['id']}/reports", params=params)
        assert httpx.post(f"{sandbox}/admin/clients/demo-desktop/faults", headers=admin,
                   json={"fail_next_token": 0}, timeout=10).is_success  # fmt: skip
        assert c.delete(f"/v1/connections/{imported.json()['id']}").status_code == 200
        c.delete(f"/v1/connections/{conn['id']}")
    proc = process["proc"]
    proc.terminate()
    proc.wait(15)
    output = process["out"].join() + process["err"].join() + process["setup"]
    assert output.count("\n") > 20  # the logs were on (DEBUG)
    leaked = [name for name, value in known.items() if value and value in output]
    assert not leaked, f"secrets in the backend process output: {leaked}"
