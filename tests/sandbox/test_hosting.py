"""Where the sandbox runs: mounted under the backend at /sandbox, alone as a process, and
across a restart with a state file."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from tests.sandbox.conftest import REDIRECT, Clock, query_of, start
from tests.support import sandbox_admin
from tests.support.browser import play_consent
from tests.support.servers import serve


def test_mounted_at_sandbox_every_url_carries_the_mount_path() -> None:
    parent = FastAPI()
    parent.mount("/sandbox", create_sandbox_app(SandboxConfig(admin_api=True)))
    with serve(parent) as server:
        base = f"{server.url}/sandbox"
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        assert meta["issuer"] == base
        assert meta["authorization_endpoint"] == f"{base}/authorize"
        assert meta["token_endpoint"] == f"{base}/token"
        assert meta["revocation_endpoint"] == f"{base}/revoke"
        url = (
            f"{base}/authorize?response_type=code&client_id=demo-desktop"
            f"&redirect_uri={REDIRECT}&state=m&code_challenge={'a' * 43}"
            "&code_challenge_method=S256"
        )
        page = httpx.get(url)
        assert f'action="{base}/authorize"' in page.text
        assert "Path=/sandbox/authorize" in page.headers["set-cookie"]
        back = query_of(play_consent(url))
        assert back["iss"] == base
        assert back["code"].startswith("demo_ac_")
        assert httpx.get(f"{server.url}/admin/stats").status_code == 404  # not at the root
        stats = httpx.get(f"{base}/admin/stats", headers=sandbox_admin.headers_for(base)).json()
        assert stats["demo-desktop"]["codes_issued"] == 1


def test_grants_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "sandbox-state.json"
    clock = Clock()
    for box in start(SandboxConfig(admin_api=True, state_file=state), clock):
        first = box.connect()
        current = box.refresh(first["refresh_token"]).json()
        code, verifier = box.code()  # consented, not yet redeemed
    text = state.read_text()
    for value in (first["refresh_token"], current["refresh_token"], current["access_token"], code):
        assert value not in text  # only digests are stored
    assert state.stat().st_mode & 0o777 == 0o600

    for box in start(SandboxConfig(admin_api=True, state_file=state), clock):
        assert box.api("/api/me", current["access_token"]).status_code == 200
        assert box.redeem(code, verifier).status_code == 200
        assert box.stats()["refreshes"] == 1  # counters came back too
        # The spent token is still known as spent: replaying it ends the grant.
        assert box.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
        assert box.refresh(current["refresh_token"]).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "content", ["{not json", '{"version": 1, "grants": {"g": {"from": "another version"}}}']
)
def test_unreadable_state_file_starts_empty(tmp_path: Path, content: str) -> None:
    state = tmp_path / "sandbox-state.json"
    state.write_text(content)
    for box in start(SandboxConfig(state_file=state)):
        box.connect()
    assert json.loads(state.read_text())["version"] == 1


def test_sandbox_command_prints_ready_with_the_port_it_bound(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "backend.cli", "sandbox", "--port", "0", "--admin-api"),
            *("--admin-token-file", str(tmp_path / "admin-token")),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no READY line within 30 s"
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:"), line
        url = line.removeprefix("READY ")
        assert int(url.rsplit(":", 1)[1]) > 0
        meta = httpx.get(f"{url}/.well-known/oauth-authorization-server", timeout=10).json()
        assert meta["issuer"] == url
        assert httpx.get(f"{url}/admin/stats", timeout=10).status_code == 401
        assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600
        sandbox_admin.remember_file(url, tmp_path / "admin-token")
        headers = sandbox_admin.headers_for(url)
        assert httpx.get(f"{url}/admin/stats", headers=headers, timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
