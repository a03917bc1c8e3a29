"""Building providers from config: presets, overrides, discovery and the errors people see."""

from __future__ import annotations

import re
from typing import Any

import pytest

from backend.providers.base import Provider
from backend.providers.oauth.oauth2 import OAuth2Provider
from backend.providers.registry import build_providers
from tests.backend.providers.conftest import FAST_RETRIES, LOOPBACK, PUBLIC_URL
from tests.fakes.idp import IdpState
from tests.support.servers import UvicornThread, bind_loopback

pytestmark = pytest.mark.anyio

Idp = tuple[UvicornThread, IdpState]
SANDBOX = "http://127.0.0.1:9/sandbox"


async def build_all(
    tables: dict[str, dict[str, Any]], env: dict[str, str] | None = None
) -> dict[str, Provider]:
    return await build_providers(
        {k: {**FAST_RETRIES, **v} for k, v in tables.items()},
        env=env or {},
        public_url=PUBLIC_URL + "/",
        sandbox_url=SANDBOX,
    )


async def close(providers: dict[str, Provider]) -> None:
    for p in providers.values():
        await p.aclose()


async def test_demo_preset_points_at_the_sandbox_without_discovery() -> None:
    providers = await build_all({"demo": {"preset": "demo"}})
    try:
        demo = providers["demo"]
        assert isinstance(demo, OAuth2Provider)
        assert (demo.kind, demo.display_name, demo.scopes) == ("demo", "Demo Ads", ["ads_read"])
        assert demo.issuer == SANDBOX
        assert demo.max_report_days == 731
        assert demo.endpoints.authorization == f"{SANDBOX}/authorize"
        assert demo.endpoints.token == f"{SANDBOX}/token"
        assert demo.endpoints.revocation == f"{SANDBOX}/revoke"
        assert demo.redirect_mode == "loopback"
        assert demo.provider_redirect_uri(LOOPBACK) == LOOPBACK
    finally:
        await close(providers)


async def test_every_preset_field_can_be_overridden() -> None:
    providers = await build_all(
        {
            "meta": {
                "preset": "meta",
                "client_id": "app",
                "client_secret_env": "M",
                "display_name": "Meta (test)",
                "redirect": "loopback",
                "scopes": ["ads_read", "business_management"],
                "max_report_days": 90,
                "reports": {"base_url": "http://127.0.0.1:9/graph"},
            }
        },
        env={"M": "s"},
    )
    try:
        meta = providers["meta"]
        assert isinstance(meta, OAuth2Provider)
        assert meta.display_name == "Meta (test)"
        assert meta.redirect_mode == "loopback"
        assert meta.max_report_days == 90
        # Graph endpoints follow reports.base_url unless set one by one
        assert meta.endpoints.token == "http://127.0.0.1:9/graph/oauth/access_token"
        assert meta.endpoints.revocation == "http://127.0.0.1:9/graph/me/permissions"
        assert meta.endpoints.authorization.startswith("https://www.facebook.com/")
        url = meta.authorization_url(
            redirect_uri=LOOPBACK, state="s", code_challenge="c", nonce=None
        )
        assert "scope=ads_read%2Cbusiness_management" in url
    finally:
        await close(providers)


async def test_backend_redirect_mode_uses_the_relay_uri() -> None:
    providers = await build_all(
        {"meta": {"preset": "meta", "client_id": "app", "client_secret": "s"}}
    )
    try:
        assert (
            providers["meta"].provider_redirect_uri(LOOPBACK)
            == "https://backend.example/v1/flows/callback"
        )
    finally:
        await close(providers)


@pytest.mark.parametrize(
    ("table", "env", "words"),
    [
        ({"preset": "tiktok"}, {}, "Provider 'p': unknown preset 'tiktok'"),
        ({}, {}, "Provider 'p': set 'preset'"),
        (
            {"preset": "meta", "client_id": "a", "client_secret_env": "NOPE"},
            {},
            "Provider 'p': client_secret_env names the environment variable NOPE, which is not set",
        ),
        ({"preset": "meta", "client_id": "a"}, {}, "Provider 'p': no client secret"),
        ({"preset": "meta", "client_secret": "x"}, {}, "Provider 'p': client_id is not set"),
        (
            {"preset": "oauth2", "client_id": "a", "client_secret": "x", "scopes": ["x"]},
            {},
            "Provider 'p': authorization_endpoint is not set",
        ),
        (
            {"preset": "meta", "client_id": "a", "client_secret": "x", "colour": "red"},
            {},
            "Provider 'p': 'colour': Extra inputs are not permitted",
        ),
        (
            {
                "preset": "oauth2",
                "client_id": "a",
                "client_secret": "x",
                "authorize_params": {"code_challenge_method": "plain"},
            },
            {},
            "may not set code_challenge_method",
        ),
        (
            {"preset": "google_ads", "client_id": "a", "client_secret": "x"},
            {},
            "reports.developer_token_env names the environment variable "
            "GOOGLE_ADS_DEVELOPER_TOKEN, which is not set",
        ),
    ],
)
async def test_bad_config_names_the_provider_and_the_field(
    table: dict[str, Any], env: dict[str, str], words: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        await build_all({"p": table}, env)


async def test_a_rejected_secret_value_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="'client_secret'") as caught:
        await build_all({"p": {"preset": "meta", "client_id": "a", "client_secret": 12345678}})
    assert "12345678" not in str(caught.value)


async def test_demo_without_a_sandbox_says_so() -> None:
    with pytest.raises(ValueError, match="Demo Ads sandbox"):
        await build_providers(
            {"demo": {"preset": "demo"}}, env={}, public_url=PUBLIC_URL, sandbox_url=None
        )


@pytest.mark.parametrize("discovery", ["oauth", "oidc"])
async def test_endpoints_are_discovered_from_the_issuer(idp: Idp, discovery: str) -> None:
    server, state = idp
    state.discovery = discovery  # type: ignore[assignment]
    providers = await build_all(
        {
            "acme": {
                "preset": "oauth2",
                "issuer": server.url,
                "client_id": "public-app",
                "token_endpoint_auth_method": "none",
                "scopes": ["openid"],
            }
        }
    )
    try:
        acme = providers["acme"]
        assert isinstance(acme, OAuth2Provider)
        assert acme.endpoints.authorization == f"{server.url}/authorize"
        assert acme.endpoints.token == f"{server.url}/token"
        assert acme.endpoints.revocation == f"{server.url}/revoke"
        assert acme.endpoints.userinfo == f"{server.url}/userinfo"
        assert acme.issuer == server.url
        assert acme.kind == "oauth2"
    finally:
        await close(providers)


async def test_explicit_endpoints_win_over_discovery(idp: Idp) -> None:
    server, _ = idp
    providers = await build_all(
        {
            "acme": {
                "preset": "oauth2",
                "issuer": server.url,
                "client_id": "public-app",
                "token_endpoint_auth_method": "none",
                "authorization_endpoint": "https://login.example/authorize",
            }
        }
    )
    try:
        acme = providers["acme"]
        assert isinstance(acme, OAuth2Provider)
        assert acme.endpoints.authorization == "https://login.example/authorize"
        assert acme.endpoints.token == f"{server.url}/token"
    finally:
        await close(providers)


async def test_discovery_failure_names_the_provider(idp: Idp) -> None:
    server, state = idp
    state.discovery = "none"
    with pytest.raises(
        ValueError, match="Provider 'acme': could not read the authorization server"
    ):
        await build_all(
            {
                "acme": {
                    "preset": "oauth2",
                    "issuer": server.url,
                    "client_id": "public-app",
                    "token_endpoint_auth_method": "none",
                }
            }
        )


async def test_unreachable_issuer_names_the_provider() -> None:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ValueError, match="Provider 'acme'.*could not be reached"):
        await build_all(
            {
                "acme": {
                    "preset": "oauth2",
                    "issuer": f"http://127.0.0.1:{port}",
                    "client_id": "public-app",
                    "token_endpoint_auth_method": "none",
                }
            }
        )


async def test_metadata_for_another_issuer_is_refused(idp: Idp) -> None:
    server, state = idp
    state.metadata_issuer = "https://evil.example"
    with pytest.raises(ValueError, match="names issuer 'https://evil.example'"):
        await build_all(
            {
                "acme": {
                    "preset": "oauth2",
                    "issuer": server.url,
                    "client_id": "public-app",
                    "token_endpoint_auth_method": "none",
                }
            }
        )


async def test_a_secret_written_in_the_file_is_discouraged_but_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    providers = await build_all(
        {"meta": {"preset": "meta", "client_id": "a", "client_secret": "file-secret-123"}}
    )
    await close(providers)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("provider meta: client_secret is written in the config file" in w for w in warnings)
    assert not any("file-secret-123" in r.getMessage() for r in caplog.records)
