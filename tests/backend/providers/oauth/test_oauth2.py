"""The generic oauth2 preset against a real OAuth 2.0 / OIDC server on loopback."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from backend.providers.base import (
    InvalidGrant,
    Provider,
    ProviderRequestError,
    ProviderUnavailable,
    RevocationUnsupported,
    TokenSet,
)
from backend.providers.oauth.oauth2 import OAuth2Provider
from backend.secret import Secret
from tests.backend.providers.conftest import LOOPBACK, build, follow_consent, new_pkce, query_of
from tests.fakes.idp import IdpState
from tests.support.servers import UvicornThread

pytestmark = pytest.mark.anyio

Idp = tuple[UvicornThread, IdpState]


def acme(server: UvicornThread, **overrides: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "preset": "oauth2",
        "display_name": "Acme",
        "issuer": server.url,
        "client_id": "basic-app",
        "client_secret_env": "ACME_SECRET",
        "scopes": ["openid", "offline_access", "ads_read"],
        "authorize_params": {"prompt": "consent"},
    }
    return {**table, **overrides}


ENV = {"ACME_SECRET": "basic-secret", "POST_SECRET": "post-secret"}


async def connect(provider: Provider, nonce: str | None = None) -> TokenSet:
    pkce = new_pkce()
    state = secrets.token_urlsafe(16)
    url = provider.authorization_url(
        redirect_uri=LOOPBACK, state=state, code_challenge=pkce.challenge, nonce=nonce
    )
    back = follow_consent(url)
    assert back["state"] == state
    return await provider.redeem_code(
        code=Secret(back["code"]), redirect_uri=LOOPBACK, code_verifier=pkce.verifier
    )


async def test_authorization_url_carries_pkce_s256_state_nonce_and_extra_params(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        url = provider.authorization_url(
            redirect_uri=LOOPBACK, state="st4te", code_challenge="ch4llenge", nonce="n0nce"
        )
        q = query_of(url)
        assert url.startswith(f"{server.url}/authorize?")  # found by RFC 8414 discovery
        assert q == {
            "response_type": "code",
            "client_id": "basic-app",
            "redirect_uri": LOOPBACK,
            "state": "st4te",
            "code_challenge": "ch4llenge",
            "code_challenge_method": "S256",
            "scope": "openid offline_access ads_read",
            "nonce": "n0nce",
            "prompt": "consent",
        }
    finally:
        await provider.aclose()


async def test_no_nonce_without_openid_scope(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server, scopes=["ads_read"]), env=ENV)
    try:
        q = query_of(
            provider.authorization_url(
                redirect_uri=LOOPBACK, state="s", code_challenge="c", nonce="n"
            )
        )
        assert "nonce" not in q
        assert q["code_challenge_method"] == "S256"
    finally:
        await provider.aclose()


async def test_code_is_redeemed_and_identity_read_from_the_id_token(idp: Idp) -> None:
    server, state = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        tokens = await connect(provider, nonce="abc")
        assert tokens.refresh_token is not None
        assert tokens.expires_in == state.access_ttl
        assert tokens.scope == ["openid", "offline_access", "ads_read"]
        assert tokens.id_token is not None
        assert isinstance(provider, OAuth2Provider)
        claims = await provider.id_token_claims(tokens.id_token, nonce="abc")
        assert claims["sub"] == "user-42"
        with pytest.raises(ProviderRequestError, match="another sign-in"):
            await provider.id_token_claims(tokens.id_token, nonce="other")
        identity = await provider.identify(tokens)
        assert identity.subject == "user-42"
        assert identity.display_name == "Ada Admin"
        assert identity.accounts == []  # no report adapter configured
    finally:
        await provider.aclose()


async def test_identity_from_userinfo_when_there_is_no_id_token(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        tokens = await connect(provider)
        bare = TokenSet(tokens.access_token, None, None)
        identity = await provider.identify(bare)
        assert (identity.subject, identity.display_name) == ("user-42", "Ada Admin")
    finally:
        await provider.aclose()


async def test_refresh_with_rotation_returns_the_new_token_and_the_old_one_dies(idp: Idp) -> None:
    server, state = idp
    state.rotate_refresh_tokens = True
    provider = await build("acme", acme(server), env=ENV)
    try:
        first = await connect(provider)
        assert first.refresh_token is not None
        second = await provider.refresh(first.refresh_token)
        assert second.refresh_token is not None
        assert second.refresh_token != first.refresh_token
        # Reusing the rotated-out token kills the whole grant (reuse detection) ...
        with pytest.raises(InvalidGrant) as caught:
            await provider.refresh(first.refresh_token)
        assert "reconnect" in str(caught.value)
        # ... so even the newest refresh token is dead now.
        with pytest.raises(InvalidGrant):
            await provider.refresh(second.refresh_token)
    finally:
        await provider.aclose()


async def test_refresh_without_rotation_keeps_the_old_refresh_token(idp: Idp) -> None:
    server, state = idp
    state.rotate_refresh_tokens = False
    provider = await build("acme", acme(server), env=ENV)
    try:
        first = await connect(provider)
        assert first.refresh_token is not None
        again = await provider.refresh(first.refresh_token)
        assert again.refresh_token is None  # keep the old one
        assert again.access_token != first.access_token
        assert (await provider.refresh(first.refresh_token)).access_token
    finally:
        await provider.aclose()


async def test_invalid_grant_is_plain_words_without_the_token(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        with pytest.raises(InvalidGrant) as caught:
            await provider.refresh(Secret("rt-not-a-real-token"))
        message = str(caught.value)
        assert message.startswith("Acme says this grant is no longer valid")
        assert "rt-not-a-real-token" not in message
        assert "rt-not-a-real-token" not in repr(caught.value)
    finally:
        await provider.aclose()


async def test_a_code_is_redeemed_only_once(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        pkce = new_pkce()
        url = provider.authorization_url(
            redirect_uri=LOOPBACK, state="s", code_challenge=pkce.challenge, nonce=None
        )
        code = Secret(follow_consent(url)["code"])
        await provider.redeem_code(code=code, redirect_uri=LOOPBACK, code_verifier=pkce.verifier)
        with pytest.raises(InvalidGrant):
            await provider.redeem_code(
                code=code, redirect_uri=LOOPBACK, code_verifier=pkce.verifier
            )
    finally:
        await provider.aclose()


async def test_wrong_verifier_is_refused(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        pkce = new_pkce()
        url = provider.authorization_url(
            redirect_uri=LOOPBACK, state="s", code_challenge=pkce.challenge, nonce=None
        )
        code = Secret(follow_consent(url)["code"])
        with pytest.raises(InvalidGrant):
            await provider.redeem_code(
                code=code, redirect_uri=LOOPBACK, code_verifier=new_pkce().verifier
            )
    finally:
        await provider.aclose()


@pytest.mark.parametrize(
    ("client_id", "method", "secret_env"),
    [
        ("basic-app", "client_secret_basic", "ACME_SECRET"),
        ("post-app", "client_secret_post", "POST_SECRET"),
        ("public-app", "none", None),
    ],
)
async def test_each_client_authentication_method_is_accepted(
    idp: Idp, client_id: str, method: str, secret_env: str | None
) -> None:
    server, _ = idp
    table = acme(server, client_id=client_id, token_endpoint_auth_method=method)
    table["client_secret_env"] = secret_env
    provider = await build("acme", table, env=ENV)
    try:
        tokens = await connect(provider)
        assert tokens.refresh_token is not None
        assert (await provider.refresh(tokens.refresh_token)).access_token
    finally:
        await provider.aclose()


async def test_wrong_client_secret_says_check_the_configuration(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env={"ACME_SECRET": "wrong"})
    try:
        with pytest.raises(ProviderRequestError, match="client credentials"):
            await provider.refresh(Secret("whatever"))
    finally:
        await provider.aclose()


async def test_token_endpoint_503_is_retried_then_the_code_redeemed(idp: Idp) -> None:
    server, state = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        state.fail_next("/token", 503, times=2)
        tokens = await connect(provider)
        assert tokens.access_token
        assert state.hits["/token"] == 3
    finally:
        await provider.aclose()


async def test_token_endpoint_500_is_not_resent_with_the_same_code(idp: Idp) -> None:
    server, state = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        state.fail_next("/token", 500)
        with pytest.raises(ProviderUnavailable):
            await connect(provider)
        assert state.hits["/token"] == 1
    finally:
        await provider.aclose()


async def test_revocation_makes_the_provider_reject_the_grant(idp: Idp) -> None:
    server, _ = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        tokens = await connect(provider)
        assert tokens.refresh_token is not None
        await provider.revoke(tokens.refresh_token)
        with pytest.raises(InvalidGrant):
            await provider.refresh(tokens.refresh_token)
        # RFC 7009 §2.2: revoking an already-invalid token is still success.
        await provider.revoke(tokens.refresh_token)
    finally:
        await provider.aclose()


async def test_no_revocation_endpoint_says_remove_access_on_the_site(idp: Idp) -> None:
    server, state = idp
    state.with_revocation = False
    provider = await build("acme", acme(server), env=ENV)
    try:
        with pytest.raises(RevocationUnsupported, match="on its site"):
            await provider.revoke(Secret("rt-x"))
    finally:
        await provider.aclose()


async def test_revocation_unavailable_is_reported_so_it_can_be_retried(idp: Idp) -> None:
    server, state = idp
    provider = await build("acme", acme(server), env=ENV)
    try:
        state.fail_next("/revoke", 503, times=3)
        with pytest.raises(ProviderUnavailable):
            await provider.revoke(Secret("rt-x"))
    finally:
        await provider.aclose()


async def test_no_token_code_or_secret_reaches_the_log(
    idp: Idp, caplog: pytest.LogCaptureFixture
) -> None:
    server, state = idp
    caplog.set_level(logging.DEBUG)
    provider = await build("acme", acme(server), env=ENV)
    try:
        state.fail_next("/token", 503)
        tokens = await connect(provider)
        assert tokens.refresh_token is not None
        refreshed = await provider.refresh(tokens.refresh_token)
        await provider.revoke(tokens.refresh_token)
    finally:
        await provider.aclose()
    secrets_seen = [
        tokens.access_token.reveal(),
        tokens.refresh_token.reveal(),
        refreshed.access_token.reveal(),
        "basic-secret",
        *state.codes,
    ]
    assert caplog.records  # the retry was logged ...
    for record in caplog.records:
        text = record.getMessage()
        assert not any(s in text for s in secrets_seen)  # ... without anything secret
    assert "basic-secret" not in repr(provider)
