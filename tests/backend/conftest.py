"""Backend fixtures: a real uvicorn server running the real app on SQLite and on PostgreSQL.

`backend` is parametrised over both databases, so every test that uses it runs twice.
`signed_in(backend)` makes a user, signs a device in over HTTP and returns a client.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.app import create_app
from backend.config import Settings
from backend.state import AppState
from tests.support import pg
from tests.support.servers import UvicornThread, bind_loopback

TEST_VAULT_KEY = "test1:" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'backend.sqlite3'}"
        return
    url = pg.create_database()
    try:
        yield url
    finally:
        pg.drop_database(url)


@dataclass
class Backend:
    """A running backend: `url`, its in-process `state`, and the sandbox base URL."""

    server: UvicornThread
    state: AppState
    settings: Settings
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def sandbox_url(self) -> str:
        return f"{self.server.url}/sandbox"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


BackendFactory = Callable[..., Backend]


@pytest.fixture
def backend_factory(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[BackendFactory]:
    """`backend_factory(toml="...", **settings)` starts one more backend on the same database."""
    servers: list[UvicornThread] = []
    monkeypatch.setenv("CONNECTED_ACCOUNTS_VAULT_KEYS", TEST_VAULT_KEY)
    # Cheap argon2 for sign-ins in tests; the defaults themselves are pinned by the auth tests.
    monkeypatch.setenv("CONNECTED_ACCOUNTS_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB", "64")

    def start(toml: str = "", sandbox: bool = True, **overrides: Any) -> Backend:
        sock = bind_loopback()
        port = sock.getsockname()[1]
        config_path = None
        if toml:
            config_path = tmp_path / f"config-{port}.toml"
            config_path.write_text(toml)
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            host="127.0.0.1",
            port=port,
            config=config_path,
            sandbox=sandbox,
            **overrides,
        )
        app = create_app(settings)
        server = UvicornThread(app, sock=sock).start()
        servers.append(server)
        return Backend(server=server, state=app.state.ca, settings=settings)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def backend(backend_factory: BackendFactory) -> Backend:
    """A backend with Demo Ads mounted at /sandbox and provider `demo` enabled."""
    return backend_factory()


def new_device_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, str]]:
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()

    return key, {"kty": "EC", "crv": "P-256", "x": b64(numbers.x), "y": b64(numbers.y)}


@dataclass
class SignedIn:
    """A signed-in user: `client` carries the access JWT."""

    client: httpx.Client
    email: str
    password: str
    user_id: str
    device_id: str
    access_token: str
    device_key: ec.EllipticCurvePrivateKey
    extra: dict[str, Any] = field(default_factory=dict)


def create_user(backend: Backend, email: str, password: str) -> None:
    from backend.auth.service import create_user as _create

    with backend.state.sessions.begin() as session:
        _create(session, email, password)


def sign_in(backend: Backend, email: str | None = None, password: str | None = None) -> SignedIn:
    """Create the user (if new) and sign a fresh device in over HTTP."""
    email = email or f"user-{secrets.token_hex(4)}@example.test"
    password = password or secrets.token_urlsafe(16)
    create_user(backend, email, password)
    key, jwk = new_device_key()
    with backend.client() as anon:
        resp = anon.post(
            "/v1/auth/login",
            json={
                "email": email,
                "password": password,
                "device_name": "pytest",
                "device_public_key": jwk,
            },
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    client = backend.client(headers={"Authorization": f"Bearer {body['access_token']}"})
    return SignedIn(
        client=client,
        email=email,
        password=password,
        user_id=body["user"]["id"],
        device_id=body["device_id"],
        access_token=body["access_token"],
        device_key=key,
    )


@pytest.fixture
def user(backend: Backend) -> Iterator[SignedIn]:
    signed = sign_in(backend)
    yield signed
    signed.client.close()


@pytest.fixture
def other_user(backend: Backend) -> Iterator[SignedIn]:
    signed = sign_in(backend)
    yield signed
    signed.client.close()
