"""Events reach the streams of EVERY backend process: two real `serve` processes on one
database (SQLite file, PostgreSQL), a change made through one announced on the other's stream.

Rules: design rule "HTTP API" (`GET /v1/events`, PostgreSQL LISTEN/NOTIFY across processes);
nothing only one process knows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from tests.backend.api.conftest import LOOPBACK, direct_grant, query_of
from tests.backend.api.sandbox import demo_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, new_device_key
from tests.backend.events.helpers import of
from tests.support import pg
from tests.support.browser import play_consent
from tests.support.sse import EventReader

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "events-test-password-1"


def _ready_line(pipe: IO[str], timeout: float) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(pipe.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert box, "the backend did not say READY"
    return box[0]


class World:
    def __init__(self, tmp_path: Path, database_url: str, sandbox_url: str) -> None:
        config = tmp_path / "config.toml"
        config.write_text(demo_toml(sandbox_url))
        self.sandbox_url = sandbox_url
        self.env = {
            **os.environ,
            "CONNECTED_ACCOUNTS_VAULT_KEYS": TEST_VAULT_KEY,
            "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data"),
            "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
            "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
        }
        self.common = ["--database-url", database_url, "--config", str(config)]
        self.procs: list[subprocess.Popen[str]] = []

    def cli(self, *args: str, stdin: str = "") -> None:
        done = subprocess.run(
            [sys.executable, "-m", "backend.cli", *args, *self.common],
            input=stdin, capture_output=True, text=True, env=self.env, cwd=ROOT,
            timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def serve(self) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.cli", "serve", "--port", "0", *self.common],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env, cwd=ROOT,
        )  # fmt: skip
        self.procs.append(proc)
        assert proc.stdout is not None
        ready = _ready_line(proc.stdout, 60).split()
        assert ready[:1] == ["READY"], ready
        return proc, ready[1]

    def user(self, email: str, url: str) -> httpx.Client:
        """Sign a device of `email` in through the backend at `url`; its client carries the JWT."""
        self.cli("create-user", email, "--password-stdin", stdin=PASSWORD + "\n")
        _, jwk = new_device_key()
        login = httpx.post(f"{url}/v1/auth/login", json={
            "email": email, "password": PASSWORD, "device_name": "events",
            "device_public_key": jwk}, timeout=30)  # fmt: skip
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        return httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30)


def token_of(client: httpx.Client) -> str:
    return client.headers["Authorization"].split(" ", 1)[1]


def connect_through(client: httpx.Client, url: str) -> dict[str, Any]:
    flow = client.post(f"{url}/v1/flows", json={"provider": "demo", "redirect_uri": LOOPBACK})
    assert flow.status_code == 201, flow.text
    back = query_of(play_consent(flow.json()["authorization_url"]))
    done = client.post(f"{url}/v1/flows/{flow.json()['flow_id']}/complete", json=back)
    assert done.status_code == 200, done.text
    return dict(done.json())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    if request.param == "postgres":
        url = pg.create_database()
    sandbox = start_sandbox()
    w = World(tmp_path, url, sandbox.url)
    try:
        yield w
    finally:
        for proc in w.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
        sandbox.stop()
        if request.param == "postgres":
            pg.drop_database(url)


def test_a_change_made_through_one_process_reaches_streams_on_the_other(world: World) -> None:
    proc_a, url_a = world.serve()
    proc_b, url_b = world.serve()
    me = world.user("me@example.test", url_a)
    them = world.user("them@example.test", url_b)
    with (
        EventReader(url_b, token_of(me)) as mine_on_b,
        EventReader(url_a, token_of(me)) as mine_on_a,
        EventReader(url_b, token_of(them)) as theirs_on_b,
    ):
        conn = connect_through(me, url_a)  # through A ...
        on_b = mine_on_b.wait_for(of(conn["id"]))[-1]  # ... announced on B
        assert (on_b["kind"], on_b["status"]) == ("connected", "connected")
        assert on_b["connection"] == me.get(f"{url_b}/v1/connections/{conn['id']}").json()
        assert mine_on_a.wait_for(of(conn["id"]))[-1]["id"] == on_b["id"]

        assert me.delete(f"{url_b}/v1/connections/{conn['id']}").status_code == 200  # through B
        kinds = [e["kind"] for e in mine_on_a.wait_for(lambda e: e["kind"] == "revocation_settled")]
        assert kinds == ["disconnected", "revocation_settled"]

        # Their own change, made after all of mine: mine would have reached them first.
        tokens = direct_grant(world.sandbox_url)
        handed = {"provider": "demo", "refresh_token": tokens["refresh_token"]}
        theirs = them.post(f"{url_a}/v1/connections/import", json=handed)
        assert theirs.status_code == 200, theirs.text
        seen = theirs_on_b.wait_for(of(theirs.json()["id"]))
        assert [e["connection_id"] for e in seen] == [theirs.json()["id"]]
        for stream in (mine_on_a, mine_on_b, theirs_on_b):
            assert tokens["refresh_token"] not in "\n".join(stream.raw)

        # SIGTERM with streams open: the process ends them and exits (no hanging shutdown).
        proc_b.terminate()
        assert proc_b.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises it once shut down
        assert mine_on_b.ended.wait(30)
        assert mine_on_a.error is None
        assert not mine_on_a.ended.is_set()
    proc_a.terminate()
    assert proc_a.wait(30) in (0, -signal.SIGTERM)
