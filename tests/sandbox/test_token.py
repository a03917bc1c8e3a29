"""The token endpoint: code redemption, PKCE, rotation, client authentication (RFC 6749 §4.1.3,
§5, §6; RFC 7636 §4.6; RFC 9700 §4.14.2)."""

from __future__ import annotations

import base64

import pytest

from tests.sandbox.conftest import AUTH, CLIENT_ID, CLIENT_SECRET, REDIRECT, Sandbox


def test_code_is_exchanged_for_opaque_prefixed_tokens(sandbox: Sandbox) -> None:
    resp = sandbox.redeem(*sandbox.code())
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("demo_at_")
    assert body["refresh_token"].startswith("demo_rt_")
    assert body["expires_in"] == 3600
    assert body["scope"] == "ads_read"
    assert sandbox.stats()["codes_redeemed"] == 1


def test_second_redemption_fails_and_revokes_what_the_first_issued(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()
    first = sandbox.redeem(code, verifier).json()
    second = sandbox.redeem(code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    # RFC 6749 §4.1.2: the tokens from the first redemption are revoked.
    assert sandbox.api("/api/me", first["access_token"]).status_code == 401
    assert sandbox.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_wrong_pkce_verifier_is_invalid_grant(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()
    wrong = sandbox.redeem(code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = sandbox.http.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
        auth=AUTH,
    )
    assert missing.json()["error"] == "invalid_request"


def test_redirect_uri_must_match_the_authorization_request(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()
    resp = sandbox.redeem(code, verifier, redirect_uri="http://127.0.0.1:53683/callback")
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"


def test_code_expires_after_60_seconds(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()
    sandbox.clock.advance(61)
    resp = sandbox.redeem(code, verifier)
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_grant"
    assert "expired" in resp.json()["error_description"]


def test_code_just_inside_its_lifetime_still_works(sandbox: Sandbox) -> None:
    code, verifier = sandbox.code()
    sandbox.clock.advance(55)
    assert sandbox.redeem(code, verifier).status_code == 200


def test_unknown_code_is_invalid_grant(sandbox: Sandbox) -> None:
    resp = sandbox.redeem("demo_ac_made-up", "x" * 43)
    assert resp.json()["error"] == "invalid_grant"


def test_each_refresh_rotates_and_the_old_token_is_spent(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    chain = [tokens["refresh_token"]]
    for _ in range(3):
        resp = sandbox.refresh(chain[-1])
        assert resp.status_code == 200
        assert resp.headers["cache-control"] == "no-store"
        body = resp.json()
        assert body["refresh_token"] not in chain
        assert body["access_token"] != tokens["access_token"]
        chain.append(body["refresh_token"])
    assert sandbox.stats()["refreshes"] == 3


def test_reusing_a_spent_refresh_token_revokes_the_whole_grant(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    newer = sandbox.refresh(tokens["refresh_token"]).json()
    replay = sandbox.refresh(tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # RFC 9700 §4.14.2: the legitimate holder's newer tokens die with the grant.
    assert sandbox.refresh(newer["refresh_token"]).json()["error"] == "invalid_grant"
    assert sandbox.api("/api/me", newer["access_token"]).status_code == 401
    stats = sandbox.stats()
    assert stats["refreshes"] == 1
    assert stats["refresh_failures"] == 2
    assert stats["reused_refresh_tokens"] == 1


def test_refresh_may_narrow_but_never_widen_scope(sandbox: Sandbox) -> None:
    tokens = sandbox.redeem(*sandbox.code(scope="ads_read ads_management")).json()
    assert tokens["scope"] == "ads_read ads_management"
    narrow = sandbox.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "ads_read",
        },
        auth=AUTH,
    )
    assert narrow.json()["scope"] == "ads_read"
    wide = sandbox.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": narrow.json()["refresh_token"],
            "scope": "ads_read business_management",
        },
        auth=AUTH,
    )
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"


def test_unknown_refresh_token_is_invalid_grant(sandbox: Sandbox) -> None:
    resp = sandbox.refresh("demo_rt_made-up")
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_grant",
        "error_description": "This refresh token is not valid.",
    }


def test_client_secret_post_is_accepted(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    resp = sandbox.http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert resp.status_code == 200


def test_basic_credentials_are_form_decoded(sandbox: Sandbox) -> None:
    # RFC 6749 §2.3.1: "demo-desktop" has nothing to escape, "demo%2Dsecret" decodes to it.
    raw = base64.b64encode(b"demo-desktop:demo%2Dsecret").decode()
    resp = sandbox.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": sandbox.connect()["refresh_token"]},
        headers={"Authorization": f"Basic {raw}"},
    )
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "auth",
    [None, ("demo-desktop", "wrong"), ("nobody", "demo-secret")],
)
def test_bad_client_authentication_is_401_invalid_client(
    sandbox: Sandbox, auth: tuple[str, str] | None
) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": "x"}
    if auth is None:
        resp = sandbox.http.post("/token", data=data)
    else:
        resp = sandbox.http.post("/token", data=data, auth=auth)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic")
    assert resp.headers["cache-control"] == "no-store"


def test_two_client_authentication_methods_at_once_are_refused(sandbox: Sandbox) -> None:
    resp = sandbox.http.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_secret": "demo-secret"},
        auth=AUTH,
    )
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_request"


def test_a_code_issued_to_another_client_is_refused() -> None:
    from backend.sandbox.config import ClientConfig, SandboxConfig
    from tests.sandbox.conftest import start

    other = ClientConfig(client_id="other", client_secret="other-secret")
    config = SandboxConfig(clients=[*SandboxConfig().clients, other], admin_api=True)
    for box in start(config):
        code, verifier = box.code(client_id="other")
        resp = box.redeem(code, verifier)  # redeemed as demo-desktop
        assert resp.json()["error"] == "invalid_grant"
        ok = box.http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
            auth=("other", "other-secret"),
        )
        assert ok.status_code == 200


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
    ],
)
def test_malformed_token_requests_get_rfc6749_errors(
    sandbox: Sandbox, data: dict[str, str], error: str
) -> None:
    resp = sandbox.http.post("/token", data=data, auth=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"] == error
    assert resp.headers["content-type"].startswith("application/json")


def test_repeated_token_parameter_is_refused(sandbox: Sandbox) -> None:
    body = "grant_type=refresh_token&refresh_token=a&refresh_token=b"
    resp = sandbox.http.post(
        "/token",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=AUTH,
    )
    assert resp.json()["error"] == "invalid_request"


def test_openid_scope_adds_an_id_token_signed_with_the_published_key(sandbox: Sandbox) -> None:
    """OIDC Core §3.1.3.7: the id_token is signed with a key from the JWKS the metadata names
    (RFC 8414 §2 jwks_uri), so a client can check it whatever the scheme of the endpoints."""
    import jwt

    code, verifier = sandbox.code(user="Sam Sample", scope="openid ads_read", nonce="n-0S6_WzA2Mj")
    body = sandbox.redeem(code, verifier).json()
    metadata = sandbox.http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["jwks_uri"] == f"{sandbox.url}/jwks"
    assert metadata["id_token_signing_alg_values_supported"] == ["ES256"]
    keys = jwt.PyJWKSet.from_dict(sandbox.http.get("/jwks").json())
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "ES256"
    key = keys[header["kid"]]
    claims = jwt.decode(
        body["id_token"], key, algorithms=["ES256"], audience=CLIENT_ID, issuer=sandbox.url
    )
    assert claims["sub"] == "user-1002"
    assert claims["name"] == "Sam Sample"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["exp"] > claims["iat"]


def test_no_id_token_without_openid(sandbox: Sandbox) -> None:
    assert "id_token" not in sandbox.connect()
