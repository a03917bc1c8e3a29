"""Revocation (RFC 7009) and authorization server metadata (RFC 8414)."""

from __future__ import annotations

from backend.sandbox.config import ClientConfig, SandboxConfig
from tests.sandbox.conftest import Sandbox, start


def test_revoking_the_refresh_token_ends_the_grant_and_its_access_tokens(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 200
    resp = sandbox.revoke(tokens["refresh_token"], token_type_hint="refresh_token")
    assert resp.status_code == 200
    assert sandbox.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 401
    assert sandbox.stats()["revocations"] == 1


def test_revoking_a_spent_refresh_token_also_ends_the_grant(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    newer = sandbox.refresh(tokens["refresh_token"]).json()
    assert sandbox.revoke(tokens["refresh_token"]).status_code == 200
    assert sandbox.refresh(newer["refresh_token"]).json()["error"] == "invalid_grant"


def test_revoking_an_access_token_ends_only_that_token(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    # A wrong hint is only a hint (RFC 7009 §2.1): the server still finds the token.
    assert (
        sandbox.revoke(tokens["access_token"], token_type_hint="refresh_token").status_code == 200
    )
    assert sandbox.api("/api/me", tokens["access_token"]).status_code == 401
    fresh = sandbox.refresh(tokens["refresh_token"])
    assert fresh.status_code == 200
    assert sandbox.api("/api/me", fresh.json()["access_token"]).status_code == 200


def test_unknown_or_already_revoked_tokens_still_get_200(sandbox: Sandbox) -> None:
    assert sandbox.revoke("demo_rt_never-issued").status_code == 200
    tokens = sandbox.connect()
    assert sandbox.revoke(tokens["refresh_token"]).status_code == 200
    again = sandbox.revoke(tokens["refresh_token"])
    assert again.status_code == 200  # RFC 7009 §2.2
    assert again.content == b""


def test_revocation_needs_client_authentication_and_a_token(sandbox: Sandbox) -> None:
    tokens = sandbox.connect()
    anonymous = sandbox.http.post("/revoke", data={"token": tokens["refresh_token"]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"
    assert sandbox.refresh(tokens["refresh_token"]).status_code == 200  # still alive
    empty = sandbox.http.post("/revoke", data={}, auth=("demo-desktop", "demo-secret"))
    assert empty.status_code == 400
    assert empty.json()["error"] == "invalid_request"


def test_a_client_cannot_revoke_another_clients_grant() -> None:
    other = ClientConfig(client_id="other", client_secret="other-secret")
    for box in start(SandboxConfig(clients=[*SandboxConfig().clients, other], admin_api=True)):
        tokens = box.connect()
        resp = box.http.post(
            "/revoke", data={"token": tokens["refresh_token"]}, auth=("other", "other-secret")
        )
        assert resp.status_code == 400
        assert resp.json()["error"] == "unauthorized_client"
        assert box.refresh(tokens["refresh_token"]).status_code == 200


def test_metadata_names_this_server_and_its_endpoints(sandbox: Sandbox) -> None:
    resp = sandbox.http.get("/.well-known/oauth-authorization-server")
    assert resp.status_code == 200
    meta = resp.json()
    assert meta["issuer"] == sandbox.url
    assert meta["authorization_endpoint"] == f"{sandbox.url}/authorize"
    assert meta["token_endpoint"] == f"{sandbox.url}/token"
    assert meta["revocation_endpoint"] == f"{sandbox.url}/revoke"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert "ads_read" in meta["scopes_supported"]
    assert meta["response_types_supported"] == ["code"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert meta["authorization_response_iss_parameter_supported"] is True
