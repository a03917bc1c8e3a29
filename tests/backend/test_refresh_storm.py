"""THE STORM: two backend processes on one PostgreSQL database, one rotating provider process.

10 connections made through the real connect flow, their access tokens expired, then 200
concurrent report requests spread over the connections and both processes. The sandbox
revokes the whole grant when an old refresh token comes back (RFC 9700 §4.14.2), so any
double refresh would show up as failed requests or dead connections. Exactly 10 refreshes
may reach the provider.
"""

from __future__ import annotations

import asyncio
import base64
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.keys import SigningKey
from backend.db.engine import make_engine
from backend.db.models import Connection
from tests.backend.conftest import BackendFactory, new_device_key, sign_in
from tests.support import pg, sandbox_admin
from tests.support.browser import play_consent

CONNECTIONS = 10
REQUESTS = 200
PASSWORD = "storm-password-1"  # a test user's password, not a secret


def _drain(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def start(args: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> str:
    """Start `python -m backend.cli ARGS`; return the URL of its first line `READY <url>`."""
    err = stack.enter_context(log.open("w"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", *args],
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        env=env,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    stack.callback(stop)
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=_drain, args=(proc.stdout, lines), daemon=True).start()
    try:
        first = lines.get(timeout=60)
    except queue.Empty:
        raise AssertionError(f"{args[0]} never said READY: {log.read_text()[-2000:]}") from None
    assert first.startswith("READY "), (first, log.read_text()[-2000:])
    return first.split()[1]


@pytest.fixture
def database() -> Iterator[str]:
    url = pg.create_database("ca_storm")
    try:
        yield url
    finally:
        pg.drop_database(url)


def connect_one(backend: str, headers: dict[str, str], person: str) -> dict[str, Any]:
    """The desktop's connect flow, with play_consent as the person's browser."""
    with httpx.Client(base_url=backend, headers=headers, timeout=30) as client:
        flow = client.post(
            "/v1/flows", json={"provider": "demo", "redirect_uri": "http://127.0.0.1:9/callback"}
        )
        assert flow.status_code == 201, flow.text
        location = play_consent(flow.json()["authorization_url"], user=person)
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        done = client.post(
            f"/v1/flows/{flow.json()['flow_id']}/complete",
            json={"state": query["state"], "code": query["code"], "iss": query.get("iss")},
        )
        assert done.status_code == 200, done.text
        body: dict[str, Any] = done.json()
        return body


@pytest.mark.postgres
def test_two_processes_refresh_each_connection_exactly_once(database: str, tmp_path: Path) -> None:
    people = [f"user-s{n:02d}" for n in range(CONNECTIONS)]
    sandbox_toml = tmp_path / "sandbox.toml"
    sandbox_toml.write_text(
        "[sandbox]\nadmin_api = true\nusers = [\n"
        + "".join(
            f'  {{id = "{p}", name = "Storm {p}", email = "{p}@x.example"}},\n' for p in people
        )
        + "]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTED_ACCOUNTS_")}
    env["CONNECTED_ACCOUNTS_VAULT_KEYS"] = "storm:" + base64.b64encode(os.urandom(32)).decode()
    env["CONNECTED_ACCOUNTS_SIGNING_KEY"] = SigningKey.generate().to_pem().decode()
    env["CONNECTED_ACCOUNTS_LOG_LEVEL"] = "WARNING"
    # One user's 1,000 reports at once: past the per-user cap on reports in flight on purpose.
    env["CONNECTED_ACCOUNTS_REPORTS_IN_FLIGHT_PER_USER"] = "100000"

    with ExitStack() as stack:
        sandbox = start(
            [
                "sandbox",
                "--port",
                "0",
                "--config",
                str(sandbox_toml),
                "--admin-token-file",
                str(tmp_path / "sandbox-admin-token"),
            ],
            env,
            tmp_path / "sandbox.log",
            stack,
        )
        backend_toml = tmp_path / "backend.toml"
        backend_toml.write_text(
            f'[providers.demo]\npreset = "demo"\nissuer = "{sandbox}"\n'
            f'authorization_endpoint = "{sandbox}/authorize"\n'
            f'token_endpoint = "{sandbox}/token"\nrevocation_endpoint = "{sandbox}/revoke"\n'
            f'reports = {{ base_url = "{sandbox}" }}\n'
        )
        common = ["--database-url", database, "--config", str(backend_toml)]
        made = subprocess.run(
            [sys.executable, "-m", "backend.cli", "create-user", "storm@example.test",
             "--password-stdin", *common],
            input=PASSWORD + "\n", capture_output=True, text=True, env=env, timeout=60,
            check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        backends = []
        for n in range(2):
            env_n = {**env, "CONNECTED_ACCOUNTS_DATA_DIR": str(tmp_path / f"data{n}")}
            backends.append(
                start(["serve", "--port", "0", *common], env_n, tmp_path / f"b{n}.log", stack)
            )

        sandbox_admin.remember_file(sandbox, tmp_path / "sandbox-admin-token")
        admin = stack.enter_context(sandbox_admin.client(sandbox))

        def faults(**knobs: Any) -> None:
            assert admin.post("/admin/clients/demo-desktop/faults", json=knobs).status_code == 200

        def counters() -> dict[str, int]:
            stats: dict[str, int] = admin.get("/admin/stats").json()["demo-desktop"]
            return stats

        _, jwk = new_device_key()
        login = httpx.post(
            f"{backends[0]}/v1/auth/login",
            json={
                "email": "storm@example.test",
                "password": PASSWORD,
                "device_name": "storm",
                "device_public_key": jwk,
            },
            timeout=30,
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        # Connect with 2-second access tokens, so every one is stale by the storm.
        faults(access_token_lifetime=2)
        conns = [connect_one(backends[i % 2], headers, p) for i, p in enumerate(people)]
        assert len({c["id"] for c in conns}) == CONNECTIONS
        faults(access_token_lifetime=3600)  # the refreshed tokens then last the whole storm
        assert admin.post("/admin/tokens/expire").status_code == 200
        before = counters()
        assert before["refreshes"] == 0
        wait_until_stale(database, [c["id"] for c in conns])

        started = time.monotonic()
        responses = asyncio.run(storm(backends, conns, headers))
        elapsed = time.monotonic() - started

        failures = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200]
        assert failures == []
        after = counters()
        assert after["refreshes"] - before["refreshes"] == CONNECTIONS
        assert after["reused_refresh_tokens"] == 0
        assert after["refresh_failures"] == 0
        assert after["grants_revoked"] == 0
        with httpx.Client(base_url=backends[1], headers=headers, timeout=30) as client:
            listed = client.get("/v1/connections").json()
        assert sorted(c["status"] for c in listed) == ["connected"] * CONNECTIONS
        print(f"storm: {REQUESTS} report requests over 2 processes in {elapsed:.2f} s, "
              f"{after['refreshes'] - before['refreshes']} refreshes")  # fmt: skip


async def storm(
    backends: list[str], conns: list[dict[str, Any]], headers: dict[str, str]
) -> list[httpx.Response]:
    """REQUESTS concurrent report requests, round-robin over connections and backends."""
    # One day at account level: the storm is about tokens, not about report size.
    since = until = date.today() - timedelta(days=1)
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=REQUESTS)
    async with httpx.AsyncClient(headers=headers, timeout=120, limits=limits) as client:
        calls = []
        for i in range(REQUESTS):
            conn = conns[i % len(conns)]
            backend = backends[(i // len(conns)) % len(backends)]
            params = {
                "account": conn["accounts"][0]["id"],
                "since": since.isoformat(),
                "until": until.isoformat(),
            }
            calls.append(
                client.get(f"{backend}/v1/connections/{conn['id']}/reports", params=params)
            )
        return await asyncio.gather(*calls)


def wait_until_stale(database: str, ids: list[str]) -> None:
    """Until every stored access token is inside its refresh lead time (2 s tokens: 1 s)."""
    engine = make_engine(database)
    query = select(func.max(Connection.access_expires_at)).where(Connection.id.in_(ids))
    try:
        deadline = time.monotonic() + 30
        while True:
            with Session(engine) as session:
                latest = session.execute(query).scalar_one()
            if latest is not None and latest - timedelta(seconds=1) <= datetime.now(UTC):
                return
            assert time.monotonic() < deadline, "the access tokens never went stale"
            time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The embedded shape runs on SQLite (the two-process storm has its own PostgreSQL)."""
    return f"sqlite:///{tmp_path / 'backend.sqlite3'}"


def test_one_process_with_the_mounted_sandbox_refreshes_each_connection_once(
    backend_factory: BackendFactory,
) -> None:
    """The embedded shape: one process on SQLite with Demo Ads mounted in it. The refresh's
    owner holds only its lease (no transaction) while the same event loop answers the token
    request."""
    people = [f"user-m{n:02d}" for n in range(CONNECTIONS)]
    users = "".join(f'  {{id = "{p}", name = "M {p}", email = "{p}@x.example"}},\n' for p in people)
    backend = backend_factory(
        toml=f"[sandbox]\nadmin_api = true\nusers = [\n{users}]\n",
        reports_in_flight_per_user=100000,  # one user's storm, past the per-user cap on purpose
    )
    signed = sign_in(backend)
    headers = {"Authorization": f"Bearer {signed.access_token}"}
    with sandbox_admin.client(backend.sandbox_url) as admin:
        knobs = "/admin/clients/demo-desktop/faults"
        assert admin.post(knobs, json={"access_token_lifetime": 2}).status_code == 200
        conns = [connect_one(backend.url, headers, p) for p in people]
        assert admin.post(knobs, json={"access_token_lifetime": 3600}).status_code == 200
        assert admin.post("/admin/tokens/expire").status_code == 200
        before = admin.get("/admin/stats").json()["demo-desktop"]
        wait_until_stale(backend.settings.resolved_database_url(), [c["id"] for c in conns])
        responses = asyncio.run(storm([backend.url], conns, headers))
        after = admin.get("/admin/stats").json()["demo-desktop"]
    assert [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200] == []
    assert after["refreshes"] - before["refreshes"] == CONNECTIONS
    assert after["reused_refresh_tokens"] == 0
    listed = signed.client.get("/v1/connections").json()
    assert sorted(c["status"] for c in listed) == ["connected"] * CONNECTIONS
    signed.client.close()
