"""A small but honest OAuth 2.0 / OIDC authorization server for the generic `oauth2` preset.

Code flow with PKCE S256 (plain refused), client_secret_basic / client_secret_post / none,
refresh with optional rotation and reuse detection (RFC 9700 §4.14.2: a reused old refresh
token revokes the whole grant), RFC 7009 revocation, userinfo, RFC 8414 / OIDC discovery,
id_tokens signed RS256 with keys published at /jwks (with knobs to sign them wrongly).
The issuer is the base URL the server is reached at.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from jwt.algorithms import RSAAlgorithm

from tests.fakes.common import (
    FakeState,
    basic_credentials,
    form_of,
    install_faults,
    new_token,
    s256,
)


@dataclass
class Client:
    secret: str | None
    auth_method: str = "client_secret_basic"


@dataclass
class Grant:
    sub: str
    scope: str
    nonce: str | None
    active: bool = True


@dataclass
class IdpState(FakeState):
    clients: dict[str, Client] = field(default_factory=dict)
    rotate_refresh_tokens: bool = True
    discovery: Literal["oauth", "oidc", "none"] = "oauth"
    with_revocation: bool = True
    send_iss: bool = True
    # RFC 9207 §3: what the metadata says about `iss` in authorization responses.
    advertise_iss: bool = True
    # How the next id_tokens are signed: the published key, a key nobody published, a
    # tampered signature, `alg: none`, or HS256 with a shared secret.
    id_token_signing: Literal["good", "unknown_kid", "bad_signature", "none", "hs256"] = "good"
    keys: IdpKeys = field(default_factory=lambda: IdpKeys())
    # Metadata that names another issuer (a mix-up attempt, RFC 8414 §3.3).
    metadata_issuer: str | None = None
    access_ttl: int = 300
    user: dict[str, str] = field(
        default_factory=lambda: {"sub": "user-42", "name": "Ada Admin", "email": "ada@idp.test"}
    )
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[Grant, bool]] = field(default_factory=dict)  # -> current?
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    last_authorize: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        FakeState.__init__(self)


class IdpKeys:
    """The signing keys the IdP publishes at /jwks (RSA, RS256); `rotate()` adds a new one
    that signs from then on, as providers do when they roll their keys."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.jwks_reads = 0
        self.rotate()

    def rotate(self) -> str:
        kid = f"k{len(self.keys) + 1}-{secrets.token_hex(3)}"
        self.keys.append((kid, _new_rsa_key()))
        return kid

    def jwks(self) -> dict[str, Any]:
        self.jwks_reads += 1
        keys = []
        for kid, key in self.keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], how: str) -> str:
        kid, key = self.keys[-1]
        if how == "none":
            return jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
        if how == "hs256":
            return jwt.encode(claims, _HS_SECRET, algorithm="HS256", headers={"kid": kid})
        if how == "unknown_kid":
            return jwt.encode(claims, _new_rsa_key(), algorithm="RS256", headers={"kid": "nobody"})
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
        if how == "bad_signature":
            head, body, sig = token.split(".")
            forged = {**claims, "sub": "someone-else"}
            body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
            token = f"{head}.{body}.{sig}"
        return token


_HS_SECRET = "idp-signing-key-for-tests-only-32b"


def _new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _error(code: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status)


def create_idp_app(state: IdpState) -> FastAPI:
    app = FastAPI()
    install_faults(app, state)

    def issuer(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def metadata(request: Request) -> dict[str, Any]:
        base = issuer(request)
        doc: dict[str, Any] = {
            "issuer": state.metadata_issuer or base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": state.advertise_iss,
            "jwks_uri": f"{base}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
        }
        if state.with_revocation:
            doc["revocation_endpoint"] = f"{base}/revoke"
        return doc

    @app.get("/.well-known/oauth-authorization-server")
    async def rfc8414(request: Request) -> Response:
        if state.discovery != "oauth":
            return Response(status_code=404)
        return JSONResponse(metadata(request))

    @app.get("/.well-known/openid-configuration")
    async def oidc(request: Request) -> Response:
        if state.discovery != "oidc":
            return Response(status_code=404)
        return JSONResponse(metadata(request))

    @app.get("/jwks")
    async def jwks() -> Response:
        return JSONResponse(state.keys.jwks())

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        q = dict(request.query_params)
        state.last_authorize = q
        if q.get("client_id") not in state.clients or q.get("response_type") != "code":
            return Response("bad client or response_type", status_code=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return Response("PKCE S256 required", status_code=400)
        code = new_token("code")
        state.codes[code] = {**q, "issued": time.time()}
        back: dict[str, str] = {"code": code, "state": q.get("state", "")}
        if state.send_iss:
            back["iss"] = issuer(request)  # RFC 9207
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(back)}", status_code=302)

    def authenticate(request: Request, form: dict[str, str]) -> str | None:
        basic = basic_credentials(request.headers.get("authorization"))
        secret: str | None
        if basic is not None:
            client_id, secret = basic
            method = "client_secret_basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
            method = "client_secret_post" if secret is not None else "none"
        client = state.clients.get(client_id)
        if client is None or client.auth_method != method:
            return None
        if method != "none" and secret != client.secret:
            return None
        return client_id

    def issue(
        grant: Grant, request: Request, *, with_refresh: bool, client_id: str
    ) -> JSONResponse:
        access = new_token("at")
        state.access_tokens[access] = grant
        body: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": state.access_ttl,
            "scope": grant.scope,
        }
        if with_refresh:
            refresh = new_token("rt")
            state.refresh_tokens[refresh] = (grant, True)
            body["refresh_token"] = refresh
        if "openid" in grant.scope.split():
            claims = {
                "iss": issuer(request),
                "aud": client_id,
                "sub": grant.sub,
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
                **({"nonce": grant.nonce} if grant.nonce else {}),
                **{k: v for k, v in state.user.items() if k != "sub"},
            }
            body["id_token"] = state.keys.sign(claims, state.id_token_signing)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/token")
    async def token(request: Request) -> Response:
        form = await form_of(request)
        state.token_requests.append({k: v for k, v in form.items() if k == "grant_type"})
        client_id = authenticate(request, form)
        if client_id is None:
            return _error("invalid_client", 401)
        if form.get("grant_type") == "authorization_code":
            entry = state.codes.pop(form.get("code", ""), None)
            if entry is None or entry["client_id"] != client_id:
                return _error("invalid_grant")
            if entry["redirect_uri"] != form.get("redirect_uri"):
                return _error("invalid_grant")
            if s256(form.get("code_verifier", "")) != entry["code_challenge"]:
                return _error("invalid_grant")
            grant = Grant(state.user["sub"], entry.get("scope", ""), entry.get("nonce"))
            return issue(grant, request, with_refresh=True, client_id=client_id)
        if form.get("grant_type") == "refresh_token":
            found = state.refresh_tokens.get(form.get("refresh_token", ""))
            if found is None or not found[0].active:
                return _error("invalid_grant")
            grant, current = found
            if not current:
                grant.active = False  # reuse of a rotated token: the whole grant dies
                return _error("invalid_grant")
            if state.rotate_refresh_tokens:
                state.refresh_tokens[form["refresh_token"]] = (grant, False)
            return issue(
                grant, request, with_refresh=state.rotate_refresh_tokens, client_id=client_id
            )
        return _error("unsupported_grant_type")

    @app.post("/revoke")
    async def revoke(request: Request) -> Response:
        if not state.with_revocation:
            return Response(status_code=404)
        form = await form_of(request)
        if authenticate(request, form) is None:
            return _error("invalid_client", 401)
        tok = form.get("token", "")
        if tok in state.refresh_tokens:
            state.refresh_tokens[tok][0].active = False
        elif tok in state.access_tokens:
            state.access_tokens[tok].active = False
        return Response(status_code=200)  # RFC 7009 §2.2: unknown tokens too

    @app.get("/userinfo")
    async def userinfo(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        grant = state.access_tokens.get(auth.removeprefix("Bearer "))
        if grant is None or not grant.active:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(dict(state.user))

    return app
