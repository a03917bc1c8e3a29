"""Provider tests: fake provider servers on loopback and providers built from TOML-like tables."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backend.providers.base import Provider
from backend.providers.registry import build_provider
from backend.secret import Secret
from tests.fakes.google import GoogleState, create_google_app
from tests.fakes.idp import Client, IdpState, create_idp_app
from tests.fakes.meta import MetaState, create_meta_app
from tests.support.servers import UvicornThread, serve

# Retries fast enough for tests: three attempts, millisecond backoff.
FAST_RETRIES: dict[str, Any] = {
    "retry_attempts": 3,
    "retry_base_delay_s": 0.001,
    "retry_max_delay_s": 0.005,
    "retry_after_cap_s": 2.0,
    "timeout_s": 5.0,
}
PUBLIC_URL = "https://backend.example"
LOOPBACK = "http://127.0.0.1:53117/callback"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Pkce:
    verifier: Secret
    challenge: str


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return Pkce(Secret(verifier), challenge)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def follow_consent(authorization_url: str) -> dict[str, str]:
    """What the fake provider's consent step sends back to the redirect URI."""
    response = httpx.get(authorization_url, follow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return query_of(response.headers["location"])


async def build(
    provider_id: str,
    table: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    sandbox_url: str | None = None,
) -> Provider:
    return await build_provider(
        provider_id,
        {**FAST_RETRIES, **table},
        env=env or {},
        public_url=PUBLIC_URL,
        sandbox_url=sandbox_url,
    )


@pytest.fixture
def idp() -> Iterator[tuple[UvicornThread, IdpState]]:
    state = IdpState(
        clients={
            "basic-app": Client("basic-secret", "client_secret_basic"),
            "post-app": Client("post-secret", "client_secret_post"),
            "public-app": Client(None, "none"),
        }
    )
    with serve(create_idp_app(state)) as server:
        yield server, state


@pytest.fixture
def meta() -> Iterator[tuple[UvicornThread, MetaState]]:
    state = MetaState()
    with serve(create_meta_app(state)) as server:
        yield server, state


@pytest.fixture
def google() -> Iterator[tuple[UvicornThread, GoogleState]]:
    state = GoogleState()
    with serve(create_google_app(state)) as server:
        yield server, state


@pytest.fixture
async def meta_provider(meta: tuple[UvicornThread, MetaState]) -> AsyncIterator[Provider]:
    server, state = meta
    provider = await build(
        "meta",
        {
            "preset": "meta",
            "client_id": state.app_id,
            "client_secret_env": "META_SECRET",
            "authorization_endpoint": f"{server.url}/v23.0/dialog/oauth",
            "reports": {"base_url": f"{server.url}/v23.0", "page_size": 2},
        },
        env={"META_SECRET": state.app_secret},
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def google_provider(google: tuple[UvicornThread, GoogleState]) -> AsyncIterator[Provider]:
    server, state = google
    provider = await build(
        "google",
        {
            "preset": "google_ads",
            "client_id": state.client_id,
            "client_secret_env": "G_SECRET",
            "authorization_endpoint": f"{server.url}/o/oauth2/v2/auth",
            "token_endpoint": f"{server.url}/token",
            "revocation_endpoint": f"{server.url}/revoke",
            "userinfo_endpoint": f"{server.url}/v1/userinfo",
            "jwks_uri": f"{server.url}/oauth2/v3/certs",
            "reports": {"base_url": server.url, "developer_token_env": "G_DEV"},
        },
        env={"G_SECRET": state.client_secret, "G_DEV": state.developer_token},
    )
    yield provider
    await provider.aclose()
