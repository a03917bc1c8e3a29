"""Forged and misused access tokens: each gets 401 and changes nothing in the database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI, Request

from tests.backend.auth.conftest import db_snapshot, make_assertion, token_url
from tests.backend.conftest import Backend, SignedIn
from tests.support.servers import serve


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def good_claims(user: SignedIn, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "connected-accounts-backend",
        "aud": "connected-accounts-api",
        "sub": user.user_id,
        "did": user.device_id,
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def signed(backend: Backend, claims: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "at+jwt", "kid": backend.state.signing_key.kid, **header}
    return jwt.encode(
        claims, backend.state.signing_key.private_key, algorithm="ES256", headers=headers
    )


def signed_raw(backend: Backend, claims: dict[str, Any]) -> str:
    """Signed without PyJWT's claim checks on encode (it refuses a non-string iss)."""
    headers = {"typ": "at+jwt", "kid": backend.state.signing_key.kid}
    return jwt.api_jws.PyJWS().encode(
        json.dumps(claims).encode(),
        backend.state.signing_key.private_key,
        algorithm="ES256",
        headers=headers,
    )


Forge = Callable[[Backend, SignedIn], str]


def alg_none(backend: Backend, user: SignedIn) -> str:
    return _unsigned({"alg": "none", "typ": "at+jwt"}, good_claims(user)) + "."


def hs256_with_public_key(backend: Backend, user: SignedIn) -> str:
    # The classic key-confusion attack: HMAC keyed with the server's public key PEM.
    pem = backend.state.signing_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = _unsigned({"alg": "HS256", "typ": "at+jwt"}, good_claims(user))
    return head + "." + _b64(hmac.new(pem, head.encode(), hashlib.sha256).digest())


def other_key(backend: Backend, user: SignedIn) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(good_claims(user), key, algorithm="ES256", headers={"typ": "at+jwt"})


ATTACKS: dict[str, Forge] = {
    "alg none": alg_none,
    "HS256 signed with the public key": hs256_with_public_key,
    "signed by another key": other_key,
    "wrong issuer": lambda b, u: signed(b, good_claims(u, iss="https://evil.example")),
    "partial issuer": lambda b, u: signed(b, good_claims(u, iss="connected-accounts")),
    "issuer as a list": lambda b, u: signed_raw(
        b, good_claims(u, iss=["connected-accounts-backend"])
    ),
    "wrong audience": lambda b, u: signed(b, good_claims(u, aud="some-other-api")),
    "audience list": lambda b, u: signed(
        b, good_claims(u, aud=["connected-accounts-api", "other"])
    ),
    "expired": lambda b, u: signed(
        b, good_claims(u, iat=int(time.time()) - 1000, exp=int(time.time()) - 100)
    ),
    "issued in the future": lambda b, u: signed(
        b, good_claims(u, iat=int(time.time()) + 300, exp=int(time.time()) + 900)
    ),
    "not before in the future": lambda b, u: signed(b, good_claims(u, nbf=int(time.time()) + 300)),
    "longer than 15 minutes": lambda b, u: signed(b, good_claims(u, exp=int(time.time()) + 3600)),
    "no exp": lambda b, u: signed(b, good_claims(u, exp=None)),
    "no iat": lambda b, u: signed(b, good_claims(u, iat=None)),
    "no jti": lambda b, u: signed(b, good_claims(u, jti=None)),
    "no sub": lambda b, u: signed(b, good_claims(u, sub=None)),
    "no device": lambda b, u: signed(b, good_claims(u, did=None)),
    "unknown device": lambda b, u: signed(b, good_claims(u, did=str(uuid.uuid4()))),
    "device of another user": lambda b, u: signed(b, good_claims(u, sub=str(uuid.uuid4()))),
    "typ JWT": lambda b, u: signed(b, good_claims(u), typ="JWT"),
    "no typ": lambda b, u: jwt.encode(
        good_claims(u), b.state.signing_key.private_key, algorithm="ES256", headers={"typ": None}
    ),
    "another kid": lambda b, u: signed(b, good_claims(u), kid="someone-elses-key"),
    "a device assertion": lambda b, u: make_assertion(u.device_key, u.device_id, token_url(b)),
    "tampered payload": lambda b, u: _tamper(signed(b, good_claims(u))),
    "garbage": lambda b, u: "not.a.jwt",
}


def _tamper(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 10_000
    return f"{head}.{_b64(json.dumps(claims).encode())}.{sig}"


def test_forged_access_tokens_are_rejected_and_change_nothing(
    backend: Backend, user: SignedIn
) -> None:
    # One server for all attacks keeps this fast; each attack is reported by name.
    for attack, forge in ATTACKS.items():
        token = forge(backend, user)
        before = db_snapshot(backend)
        with backend.client(headers={"Authorization": f"Bearer {token}"}) as c:
            listing = c.get("/v1/auth/devices")
            sign_out = c.delete(f"/v1/auth/devices/{user.device_id}")
        for resp in (listing, sign_out):
            assert resp.status_code == 401, (attack, resp.text)
            assert resp.json()["code"] == "unauthorized", attack
            assert resp.headers["www-authenticate"] == "Bearer", attack
            assert token not in resp.text, attack
        assert db_snapshot(backend) == before, attack
        # The genuine token still works: the attack signed nobody out.
        assert user.client.get("/v1/auth/devices").status_code == 200, attack


def test_jku_and_x5u_headers_are_never_fetched(backend: Backend, user: SignedIn) -> None:
    hits: list[str] = []
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    keys_app = FastAPI()

    @keys_app.get("/{path:path}")
    async def _keys(request: Request) -> dict[str, Any]:
        hits.append(request.url.path)
        return {"keys": []}

    with serve(keys_app) as keys_server:
        headers = {
            "typ": "at+jwt",
            "jku": f"{keys_server.url}/jwks.json",
            "x5u": f"{keys_server.url}/cert.pem",
        }
        token = jwt.encode(good_claims(user), attacker_key, algorithm="ES256", headers=headers)
        resp = httpx_get(backend, token)
        assert resp.status_code == 401
    assert hits == []


def httpx_get(backend: Backend, token: str) -> Any:
    with backend.client(headers={"Authorization": f"Bearer {token}"}) as c:
        return c.get("/v1/auth/devices")


def test_requests_without_a_bearer_token_get_401(backend: Backend) -> None:
    for header in ("", "Bearer", "Basic dXNlcjpwYXNz", "Token abc"):
        headers = {"Authorization": header} if header else {}
        with backend.client(headers=headers) as c:
            resp = c.get("/v1/auth/devices")
        assert resp.status_code == 401, header
        assert resp.json()["code"] == "unauthorized"
        assert resp.headers["www-authenticate"] == "Bearer"


def test_bearer_scheme_is_case_insensitive(backend: Backend, user: SignedIn) -> None:
    with backend.client(headers={"Authorization": f"bearer {user.access_token}"}) as c:
        assert c.get("/v1/auth/devices").status_code == 200


def test_a_verified_token_is_remembered_until_it_expires_and_only_by_its_hash(
    backend: Backend, user: SignedIn, monkeypatch: Any
) -> None:
    """The ES256 check runs once per token (backend/auth/deps.py VerifiedTokens); the memo
    honours expiry like PyJWT (with its leeway) and never holds the token itself."""
    import backend.auth.deps as deps

    checks: list[str] = []
    real = deps.verify_access_token

    def counting(key: Any, token: str) -> Any:
        checks.append(token)
        return real(key, token)

    monkeypatch.setattr(deps, "verify_access_token", counting)
    short = signed(backend, good_claims(user, exp=int(time.time()) + 2))
    for _ in range(3):
        assert httpx_get(backend, short).status_code == 200
    assert checks == [short]
    memo = backend.server.server.config.app.state.auth_verified_tokens
    assert short not in repr(memo._entries)
    assert hashlib.sha256(short.encode()).digest() in memo._entries
    # Past expiry plus the 30 s leeway the memo no longer answers: the full check runs again
    # and refuses the token.
    later = 40.0
    monkeypatch.setattr(
        deps, "time", SimpleNamespace(time=lambda: time.time() + later, monotonic=time.monotonic)
    )

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=later)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Later)
    resp = httpx_get(backend, short)
    assert resp.status_code == 401
    assert "expired" in resp.json()["detail"]
    assert checks == [short, short]
