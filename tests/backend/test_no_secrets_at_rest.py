"""After connect -> import -> report -> refresh -> disconnect, no raw secret is anywhere at rest.

The secrets are the flow's state, code and PKCE verifier, and every refresh and access token
the sandbox issued (learned by opening the vault's own ciphertexts as they change, and from a
grant the test plays straight against the sandbox). None may appear in the SQLite file and its
WAL, in a pg_dump of the PostgreSQL database, in any log record, or in any API response.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from backend.db.models import Connection, Flow
from tests.backend.api.conftest import ApiBackend, complete, consent, direct_grant, start_flow
from tests.backend.api.sandbox import demo_toml, refreshes, short_access_tokens, start_sandbox
from tests.backend.conftest import Backend, BackendFactory, SignedIn, sign_in


@pytest.fixture
def backend(backend_factory: BackendFactory) -> Iterator[ApiBackend]:
    """The real app on this test's database, with a real Demo Ads sandbox as `demo`."""
    sandbox = start_sandbox()
    plain = backend_factory(toml=demo_toml(sandbox.url), sandbox=False)
    yield ApiBackend(plain.server, plain.state, plain.settings, plain.log_path, sandbox.url)
    sandbox.stop()


@pytest.fixture
def user(backend: ApiBackend) -> Iterator[SignedIn]:
    signed = sign_in(backend)
    yield signed
    signed.client.close()


class Secrets:
    """Every secret value seen so far, and every API response body to check."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.values: set[str] = set()
        self.responses: list[str] = []

    def add(self, *values: str | None) -> None:
        self.values.update(v for v in values if v)

    def seen(self, resp: httpx.Response) -> httpx.Response:
        self.responses.append(resp.text)
        return resp

    def harvest(self) -> None:
        """Open every ciphertext the backend holds now and remember the plaintext."""
        ring = self.backend.state.keyring
        with self.backend.state.engine.connect() as db:
            for row in db.execute(
                select(Connection.id, Connection.refresh_ct, Connection.access_ct)
            ):
                if row.refresh_ct:
                    self.add(
                        ring.open(row.refresh_ct, f"connection:{row.id}:refresh_token").reveal()
                    )
                if row.access_ct:
                    self.add(ring.open(row.access_ct, f"connection:{row.id}:access_token").reveal())
            for flow in db.execute(select(Flow.id, Flow.verifier_ct)):
                if flow.verifier_ct:
                    self.add(ring.open(flow.verifier_ct, f"flow:{flow.id}:pkce_verifier").reveal())


def database_bytes(backend: Backend, database_url: str) -> bytes:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        path = Path(url.database)
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = subprocess.run(  # fixed arguments
        ["pg_dump", "--no-owner", libpq],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert b"CREATE TABLE public.connections" in dump.stdout
    return dump.stdout


def test_no_secret_at_rest_in_logs_or_responses(
    backend: Backend,
    user: SignedIn,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    found = Secrets(backend)

    # Connect through the consent page, with short-lived access tokens so a refresh happens.
    with short_access_tokens(backend, seconds=1):
        flow = start_flow(user)
        found.add(flow["state"])
        found.harvest()  # the sealed PKCE verifier
        back = consent(flow)
        found.add(back["code"])
        conn = found.seen(complete(user, flow, back)).json()
        found.harvest()

        # A report, then reports until the short access token was refreshed.
        params = {"since": "2026-11-01", "until": "2026-11-07", "level": "campaign"}
        before = refreshes(backend)
        deadline = time.monotonic() + 15
        while refreshes(backend) == before:
            assert time.monotonic() < deadline
            resp = found.seen(
                user.client.get(f"/v1/connections/{conn['id']}/reports", params=params)
            )
            assert resp.status_code == 200, resp.text
            found.harvest()

    # An imported grant whose raw tokens the test holds from the start.
    tokens = direct_grant(backend.sandbox_url)
    found.add(tokens["refresh_token"], tokens["access_token"])
    imported = found.seen(
        user.client.post(
            "/v1/connections/import",
            json={"provider": "demo", "refresh_token": tokens["refresh_token"]},
        )
    )
    assert imported.status_code == 200
    found.harvest()
    found.seen(user.client.get("/v1/connections"))
    found.seen(user.client.get(f"/v1/connections/{conn['id']}", params={"check": "true"}))
    found.harvest()

    # Disconnect everything.
    for c in user.client.get("/v1/connections").json():
        assert found.seen(user.client.delete(f"/v1/connections/{c['id']}")).status_code == 200
    with backend.state.engine.connect() as db:
        assert (
            db.execute(
                select(Connection.refresh_ct).where(Connection.refresh_ct.is_not(None))
            ).all()
            == []
        )

    assert len(found.values) >= 6
    stored = database_bytes(backend, database_url)
    # The test's own HTTP client logs the URLs it requests (the authorization URL carries the
    # state by design); what matters is what the server side logged, in its threads.
    logged = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.threadName != "MainThread" or r.name.startswith("backend")
    )
    out, err = capfd.readouterr()
    # Positive controls: the places searched do hold the backend's data and log lines.
    assert conn["id"].encode() in stored
    assert f"connection {conn['id']}" in logged
    for secret in found.values:
        assert secret.encode() not in stored, "a secret is stored in plaintext"
        assert secret not in logged, "a secret reached a log record"
        assert secret not in out + err, "a secret reached the server's output"
        for body in found.responses:
            assert secret not in body, "a secret is in a response"
