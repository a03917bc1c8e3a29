"""Helpers for API tests: connect through the real sandbox, snapshot tables, talk to the sandbox.

Everything goes over real HTTP to a real uvicorn server running the real app on SQLite and on
PostgreSQL, with a real Demo Ads sandbox (served on its own loopback port) as the provider. One
backend per module and database keeps the suite fast; every test signs in fresh users, so
tests never see each other's flows or connections.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select

from backend.app import create_app
from backend.auth.passwords import MEMORY_KIB_ENV, TIME_COST_ENV
from backend.config import Settings
from backend.db.models import Connection, Flow
from tests.backend.api.sandbox import demo_toml, quiet_toml, start_sandbox
from tests.backend.conftest import TEST_VAULT_KEY, Backend, SignedIn
from tests.support import pg
from tests.support.browser import play_consent
from tests.support.servers import UvicornThread, bind_loopback

LOOPBACK = "http://127.0.0.1:53682/callback"
DEMO_CLIENT = ("demo-desktop", "demo-secret")


@dataclass
class ApiBackend(Backend):
    """A backend whose `demo` provider is a Demo Ads sandbox served on its own."""

    sandbox: str = ""

    @property
    def sandbox_url(self) -> str:
        return self.sandbox


ApiFactory = Callable[..., ApiBackend]


@pytest.fixture(scope="module", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Sign-ins cost one argon2 hash each; tests use the lowest parameters the backend allows."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(TIME_COST_ENV, "1")
        mp.setenv(MEMORY_KIB_ENV, "64")
        yield


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per test module and kind; each test works as fresh users of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('api') / 'backend.sqlite3'}"
        return
    url = pg.create_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """A real Demo Ads sandbox on loopback, admin API on."""
    server = start_sandbox()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def api_factory(
    api_database_url: str, sandbox_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiFactory]:
    """`api_factory(**provider_fields)`: a real backend (uvicorn, migrated DB) on the sandbox."""
    servers: list[UvicornThread] = []
    data_dir = tmp_path_factory.mktemp("data")

    def start(extra_toml: str = "", **provider: str) -> ApiBackend:
        sock = bind_loopback()
        port = sock.getsockname()[1]
        config = data_dir / f"config-{port}.toml"
        config.write_text(demo_toml(sandbox_url, **provider) + extra_toml)
        settings = Settings(
            database_url=api_database_url,
            data_dir=data_dir,
            host="127.0.0.1",
            port=port,
            config=config,
            vault_keys=TEST_VAULT_KEY,
        )
        app = create_app(settings)
        server = UvicornThread(app, sock=sock).start()
        servers.append(server)
        return ApiBackend(server=server, state=app.state.ca, settings=settings, sandbox=sandbox_url)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def backend(api_factory: ApiFactory, sandbox_url: str) -> ApiBackend:
    """The app with provider `demo` on a real Demo Ads sandbox (shared by a module's tests),
    and `quiet`: the same sandbox as a generic OAuth 2.0 provider without a revocation endpoint."""
    return api_factory(extra_toml=quiet_toml(sandbox_url))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def start_flow(
    user: SignedIn, provider: str = "demo", redirect_uri: str = LOOPBACK
) -> dict[str, Any]:
    resp = user.client.post("/v1/flows", json={"provider": provider, "redirect_uri": redirect_uri})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def consent(flow: dict[str, Any], decision: str = "allow") -> dict[str, str]:
    """Play the sandbox's consent page; what the browser brings back to the receiver."""
    location = play_consent(flow["authorization_url"], decision=decision)
    assert location.startswith(LOOPBACK + "?"), location
    return query_of(location)


def complete(user: SignedIn, flow: dict[str, Any], back: dict[str, str]) -> httpx.Response:
    return user.client.post(f"/v1/flows/{flow['flow_id']}/complete", json=back)


def connect(user: SignedIn, provider: str = "demo") -> dict[str, Any]:
    """The whole connect flow as the desktop runs it; returns the Connection JSON."""
    flow = start_flow(user, provider)
    resp = complete(user, flow, consent(flow))
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def snapshot(backend: Backend) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables the flow and connection endpoints write."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with backend.state.engine.connect() as db:
        for model in (Flow, Connection):
            table = model.__table__
            rows = db.execute(select(table).order_by(table.c.id)).all()
            out[model.__tablename__] = [tuple(r) for r in rows]
    return out


def count_connections(backend: Backend, user: SignedIn) -> int:
    """How many connection rows this user has (any status)."""
    with backend.state.engine.connect() as db:
        rows = db.execute(select(Connection.id).where(Connection.user_id == user.user_id)).all()
    return len(rows)


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def direct_grant(sandbox_url: str, redirect_uri: str = LOOPBACK) -> dict[str, Any]:
    """Play the code flow straight against the sandbox (as a public tool would) and return its
    token response, so a test knows the raw refresh and access tokens."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "response_type": "code",
        "client_id": DEMO_CLIENT[0],
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "ads_read",
    }
    back = query_of(play_consent(f"{sandbox_url}/authorize?{urlencode(params)}"))
    assert back["state"] == state
    resp = httpx.post(
        f"{sandbox_url}/token",
        data={
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        },
        auth=DEMO_CLIENT,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def sandbox_refresh(sandbox_url: str, refresh_token: str) -> httpx.Response:
    """A refresh grant straight at the sandbox (to see whether it still honours a token)."""
    return httpx.post(
        f"{sandbox_url}/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=DEMO_CLIENT,
        timeout=10,
    )


def sandbox_get(sandbox_url: str, path: str, access_token: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{sandbox_url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
