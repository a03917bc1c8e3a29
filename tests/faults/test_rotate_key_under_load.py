"""rotate-key under load, run the way an operator runs it, on PostgreSQL.

Two real `connected-accounts-backend serve` processes on one database answer a steady stream of
concurrent report requests over connections whose access tokens live 2 seconds, so refresh
tokens keep rotating at the provider; meanwhile the `connected-accounts-backend rotate-key`
command runs as a process of its own. The Demo Ads sandbox revokes the whole grant when an old
refresh token comes back (RFC 9700 §4.14.2), so a re-encryption that wrote back a token a
refresh had just replaced would show up as a reused token and a dead connection.

Rules: issue #7 "rotate-key under load loses nothing"; design rule "Storage": "a key ring with key
ids so keys can rotate (`connected-accounts-backend rotate-key`)"; design rule "Refresh": "Write the
rotated token with a column-scoped update or a version check, so an unrelated write can never
put an old token back".
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backend.auth.keys import SigningKey
from backend.auth.passwords import MEMORY_KIB_ENV, TIME_COST_ENV
from backend.db.engine import make_engine
from backend.db.models import Connection, Flow
from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import DEFAULT_CLIENT_ID, SandboxConfig, UserConfig
from backend.vault.crypto import blob_kid, generate_key
from backend.vault.keys import ENV_VAR, KEY_FILE_NAME
from tests.backend.api.sandbox import demo_toml
from tests.backend.conftest import new_device_key
from tests.backend.test_refresh_storm import connect_one, start
from tests.support import pg
from tests.support import sandbox_admin as admin_tokens
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.postgres

CONNECTIONS = 8
STEADY = 4  # connections whose access tokens outlast the test: never refreshed under the load
WORKERS = 24  # report requests in flight at any moment, over both processes
PASSWORD = "rotate-load-password-1"  # a test user's password, not a secret
CLI = Path(sys.executable).with_name("connected-accounts-backend")


@pytest.fixture
def database() -> Iterator[str]:
    url = pg.create_database("ca_rotate")
    try:
        yield url
    finally:
        pg.drop_database(url)


@pytest.fixture
def sandbox() -> Iterator[str]:
    people = [
        UserConfig(id=f"user-r{n:02d}", name=f"Rotate {n}", email=f"r{n}@x.example")
        for n in range(CONNECTIONS)
    ]
    server = UvicornThread(create_sandbox_app(SandboxConfig(admin_api=True, users=people)))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class Operator:
    """Runs the backend's commands with one environment, as a person at a shell would."""

    def __init__(self, tmp_path: Path, database: str, sandbox: str) -> None:
        self.tmp = tmp_path
        config = tmp_path / "backend.toml"
        config.write_text(demo_toml(sandbox))
        self.common = ["--database-url", database, "--config", str(config)]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
        self.env.update({
            "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / "data"),  # shared: one key file
            "CONNECTED_ACCOUNTS_SIGNING_KEY": SigningKey.generate().to_pem().decode(),
            "CONNECTED_ACCOUNTS_LOG_LEVEL": "WARNING",
            # One user keeps 24 reports in flight to load the backend: past the per-user cap
            # (4, backend/user_limits.py) on purpose, which is not what this test is about.
            "CONNECTED_ACCOUNTS_REPORTS_IN_FLIGHT_PER_USER": "1000",
            TIME_COST_ENV: "1",
            MEMORY_KIB_ENV: "64",
        })  # fmt: skip
        self.started = 0

    def run(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(  # the project's own command
            [str(CLI), *args, *self.common],
            input=stdin, capture_output=True, text=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr[-2000:])
        return done.stdout

    def serve(self, stack: ExitStack, count: int = 2) -> list[str]:
        """`count` backend processes (stopped when `stack` closes); their URLs."""
        urls = []
        for _ in range(count):
            self.started += 1
            log = self.tmp / f"serve-{self.started}.log"
            urls.append(start(["serve", "--port", "0", *self.common], self.env, log, stack))
        return urls

    async def rotate_key(self) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(CLI), "rotate-key", *self.common, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()


def sandbox_admin(sandbox: str, path: str, body: Any = None) -> Any:
    method = "GET" if body is None and path == "/stats" else "POST"
    headers = admin_tokens.headers_for(sandbox)
    resp = httpx.request(method, f"{sandbox}/admin{path}", json=body, headers=headers, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def counters(sandbox: str) -> dict[str, int]:
    stats: dict[str, int] = sandbox_admin(sandbox, "/stats")[DEFAULT_CLIENT_ID]
    return stats


def token_lifetime(sandbox: str, seconds: int) -> None:
    """How long the access tokens the sandbox issues from now on live."""
    sandbox_admin(
        sandbox, f"/clients/{DEFAULT_CLIENT_ID}/faults", {"access_token_lifetime": seconds}
    )


def sealed_with(database: str) -> dict[str, set[str]]:
    """Which key ids the stored ciphertexts carry, per column (`v1.<kid>.…`)."""
    engine = make_engine(database)
    kids: dict[str, set[str]] = {"refresh_ct": set(), "access_ct": set(), "verifier_ct": set()}
    try:
        with engine.connect() as db:
            for refresh, access in db.execute(select(Connection.refresh_ct, Connection.access_ct)):
                kids["refresh_ct"].add(blob_kid(refresh))
                if access is not None:
                    kids["access_ct"].add(blob_kid(access))
            for (verifier,) in db.execute(select(Flow.verifier_ct)):
                if verifier:  # emptied once the flow ended: nothing left to seal
                    kids["verifier_ct"].add(blob_kid(verifier))
    finally:
        engine.dispose()
    return kids


def report_params(conn: dict[str, Any]) -> dict[str, str]:
    day = (date.today() - timedelta(days=1)).isoformat()
    return {"account": conn["accounts"][0]["id"], "since": day, "until": day}


async def load_until(
    done: asyncio.Event, backends: list[str], conns: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    """WORKERS concurrent report requests at all times, round-robin, until `done` is set."""
    answers: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=WORKERS, max_keepalive_connections=WORKERS)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as client:

        async def worker(n: int) -> None:
            i = n
            while not done.is_set():
                conn = conns[i % len(conns)]
                backend = backends[(i // len(conns)) % len(backends)]
                url = f"{backend}/v1/connections/{conn['id']}/reports"
                answers.append(await client.get(url, params=report_params(conn)))
                i += WORKERS

        await asyncio.gather(*(worker(n) for n in range(WORKERS)))
    return answers


async def rotate_under_load(
    operator: Operator, backends: list[str], conns: list[dict[str, Any]], headers: dict[str, str]
) -> tuple[tuple[int, str, str], list[httpx.Response]]:
    done = asyncio.Event()
    load = asyncio.create_task(load_until(done, backends, conns, headers))
    await asyncio.sleep(0)  # the load is under way before the command starts
    try:
        rotated = await operator.rotate_key()
    finally:
        done.set()
    return rotated, await load


@pytest.mark.parametrize("keys_from", ["key file", "environment"])
def test_rotate_key_under_load_loses_nothing(
    keys_from: str, database: str, sandbox: str, tmp_path: Path
) -> None:
    """Issue #7 "rotate-key under load loses nothing" and design rule "Storage: a key ring with key
    ids so keys can rotate": with report requests and refreshes running on two processes, every
    request succeeds, every ciphertext ends up under the new key id, no refresh token is lost or
    reused, and once the old key is removed every connection still refreshes and serves reports.
    """
    operator = Operator(tmp_path, database, sandbox)
    old_key, new_key = (base64.b64encode(generate_key()).decode() for _ in range(2))
    if keys_from == "environment":
        operator.env[ENV_VAR] = f"old:{old_key}"
    operator.run("create-user", "rotate@example.test", "--password-stdin", stdin=PASSWORD + "\n")

    with ExitStack() as first:
        backends = operator.serve(first)
        _, jwk = new_device_key()
        login = httpx.post(f"{backends[0]}/v1/auth/login", json={
            "email": "rotate@example.test", "password": PASSWORD, "device_name": "rotate",
            "device_public_key": jwk}, timeout=30)  # fmt: skip
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # Half the connections get access tokens that live 2 seconds, so the backends refresh
        # them all through the rotation; the other half keep an hour-long token, so their rows
        # still hold old-key ciphertexts that only rotate-key re-encrypts, while being read.
        people = [f"user-r{n:02d}" for n in range(CONNECTIONS)]
        conns = []
        for lifetime, group in ((3600, people[:STEADY]), (2, people[STEADY:])):
            token_lifetime(sandbox, lifetime)
            conns += [connect_one(backends[i % 2], headers, p) for i, p in enumerate(group)]
        # And a connect attempt left open in a browser: its PKCE verifier is sealed too.
        pending = httpx.post(f"{backends[0]}/v1/flows", headers=headers, timeout=30, json={
            "provider": "demo", "redirect_uri": "http://127.0.0.1:9/callback"})  # fmt: skip
        assert pending.status_code == 201, pending.text
        before = sealed_with(database)
        [old_kid] = before["refresh_ct"] | before["access_ct"] | before["verifier_ct"]

        with ExitStack() as second:
            if keys_from == "environment":
                # Steps 1-2 of an environment rotation: every backend restarts with the new key
                # first and the old one still there to read with.
                first.close()
                operator.env[ENV_VAR] = f"new:{new_key},old:{old_key}"
                backends = operator.serve(second)
            stats_before = counters(sandbox)
            (code, summary, errors), answers = asyncio.run(
                rotate_under_load(operator, backends, conns, headers)
            )
            stats_after = counters(sandbox)

    assert code == 0, errors[-2000:]
    resealed = int(summary.split()[1])
    # At least the steady rows' refresh and access tokens and the open attempt's verifier.
    assert resealed >= 2 * STEADY + 1, summary
    assert "could not be read" not in summary, summary
    new_kid = summary.split(" with key ")[1].split(";")[0]
    assert new_kid != old_kid
    assert f"the old key {old_kid} can now be removed" in summary
    if keys_from == "environment":
        assert new_kid == "new"
    else:
        keys = json.loads((tmp_path / "data" / KEY_FILE_NAME).read_text())["keys"]
        assert [k["kid"] for k in keys] == [new_kid, old_kid]

    refreshes = stats_after["refreshes"] - stats_before["refreshes"]
    print(f"rotate-key ({keys_from}) under load: {len(answers)} report requests, "
          f"{refreshes} refreshes; {summary.strip()}")  # fmt: skip
    # The load was real and refreshed tokens while the command ran, and all of it was answered.
    assert len(answers) >= WORKERS
    assert refreshes > 0
    assert [(r.status_code, r.text[:200]) for r in answers if r.status_code != 200] == []

    # Every ciphertext now carries the new key id.
    after = sealed_with(database)
    assert after["refresh_ct"] == {new_kid}
    assert after["access_ct"] == {new_kid}
    assert after["verifier_ct"] == {new_kid}

    # No refresh token was lost or reused: the provider never saw an old one come back.
    assert stats_after["reused_refresh_tokens"] == 0
    assert stats_after["grants_revoked"] == 0
    assert stats_after["refresh_failures"] == 0

    # The operator removes the old key and restarts; every connection refreshes once more with
    # what the vault holds (sealed with the new key only) and serves its report.
    if keys_from == "environment":
        operator.env[ENV_VAR] = f"new:{new_key}"
    else:
        key_file = tmp_path / "data" / KEY_FILE_NAME
        data = json.loads(key_file.read_text())
        data["keys"] = [k for k in data["keys"] if k["kid"] == new_kid]
        key_file.write_text(json.dumps(data))
    token_lifetime(sandbox, 3600)
    sandbox_admin(sandbox, "/tokens/expire", {})
    with ExitStack() as third:
        [backend] = operator.serve(third, count=1)
        refreshed = counters(sandbox)["refreshes"]
        with httpx.Client(base_url=backend, headers=headers, timeout=60) as client:
            for conn in conns:
                report = client.get(f"/v1/connections/{conn['id']}/reports",
                                    params=report_params(conn))  # fmt: skip
                assert report.status_code == 200, report.text
            listed = client.get("/v1/connections").json()
    assert sorted(c["status"] for c in listed) == ["connected"] * CONNECTIONS
    final = counters(sandbox)
    assert final["refreshes"] - refreshed == CONNECTIONS
    assert final["reused_refresh_tokens"] == 0
    assert final["grants_revoked"] == 0
