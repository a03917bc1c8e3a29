"""Auth test helpers: cheap argon2 for speed, device keys, assertions, DB snapshots."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from tests.backend.conftest import Backend, BackendFactory, new_device_key

# Lowered only for speed; test_passwords pins the production defaults.
CHEAP_ARGON2 = {
    "CONNECTED_ACCOUNTS_ARGON2_TIME_COST": "1",
    "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB": "64",
}
TABLES = ["users", "devices", "used_jtis", "login_attempts", "connections", "flows"]


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def backend(backend_factory: BackendFactory) -> Backend:
    """A backend without the Demo Ads sandbox: sign-in needs no provider."""
    return backend_factory(sandbox=False)


def login(
    backend: Backend,
    email: str,
    password: str,
    *,
    device_name: str = "laptop",
    jwk: dict[str, Any] | None = None,
) -> httpx.Response:
    if jwk is None:
        _, jwk = new_device_key()
    with backend.client() as anon:
        return anon.post(
            "/v1/auth/login",
            json={
                "email": email,
                "password": password,
                "device_name": device_name,
                "device_public_key": jwk,
            },
        )


def login_device(
    backend: Backend, email: str, password: str, device_name: str = "laptop"
) -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key, jwk = new_device_key()
    resp = login(backend, email, password, device_name=device_name, jwk=jwk)
    assert resp.status_code == 200, resp.text
    return key, resp.json()


def make_assertion(
    key: ec.EllipticCurvePrivateKey,
    device_id: str,
    aud: str,
    *,
    lifetime: int = 60,
    iat_offset: int = 0,
    **overrides: Any,
) -> str:
    now = int(time.time()) + iat_offset
    claims: dict[str, Any] = {
        "iss": device_id,
        "sub": device_id,
        "aud": aud,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
    }
    headers = {"kid": device_id, "typ": "JWT"}
    for name, value in overrides.pop("headers", {}).items():
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(claims, key, algorithm="ES256", headers=headers)


def token_url(backend: Backend) -> str:
    return f"{backend.url}/v1/auth/token"


def renew(backend: Backend, assertion: str, *, as_json: bool = False) -> httpx.Response:
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    with backend.client() as anon:
        if as_json:
            return anon.post("/v1/auth/token", json=data)
        return anon.post("/v1/auth/token", data=data)


def db_snapshot(backend: Backend) -> dict[str, list[str]]:
    """Every row of the auth-relevant tables, as text, for before/after comparisons."""
    snapshot: dict[str, list[str]] = {}
    with backend.state.engine.connect() as conn:
        for table in TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()  # noqa: S608 - fixed names
            snapshot[table] = sorted(repr(tuple(row)) for row in rows)
    return snapshot


def all_db_text(backend: Backend) -> str:
    """Everything the database holds in the auth tables, as one string."""
    return "\n".join(line for rows in db_snapshot(backend).values() for line in rows)
