"""JWT attacks not covered by tests/backend/auth: missing iss/aud on access tokens; alg none,
HS256 keyed with the device's public key, missing aud/iss/sub and a wrong typ on RFC 7523
assertions.

Rules: design rule "Backend JWTs (PyJWT): always pass algorithms=[…] and
options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}; a distinct typ per kind of
token"; RFC 7523 §3 (iss, sub, aud, exp required); RFC 8725 §3.1 (no alg none, no algorithm
confusion).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from tests.backend.api.conftest import ApiBackend
from tests.backend.conftest import SignedIn


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_claims(user: SignedIn, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "connected-accounts-backend", "aud": "connected-accounts-api",
        "sub": user.user_id, "did": user.device_id, "iat": now, "exp": now + 600,
        "jti": str(uuid.uuid4()),
    }  # fmt: skip
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def test_access_tokens_without_iss_or_aud_are_refused(backend: ApiBackend, user: SignedIn) -> None:
    """require iss and aud: a token signed by the real key but lacking either is a 401."""
    key = backend.state.signing_key
    for missing in ("iss", "aud"):
        token = jwt.encode(
            access_claims(user, **{missing: None}),
            key.private_key,
            algorithm="ES256",
            headers={"typ": "at+jwt", "kid": key.kid},
        )
        with backend.client(headers={"Authorization": f"Bearer {token}"}) as c:
            resp = c.get("/v1/connections")
        assert resp.status_code == 401, (missing, resp.text)
        assert resp.json()["code"] == "unauthorized"


def assertion_claims(user: SignedIn, audience: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": user.device_id, "sub": user.device_id, "aud": audience, "iat": now, "exp": now + 60,
        "jti": str(uuid.uuid4()),
    }  # fmt: skip
    for name, value in changes.items():
        if value is None:
            claims.pop(name)
        else:
            claims[name] = value
    return claims


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def test_forged_and_incomplete_assertions_are_refused(backend: ApiBackend, user: SignedIn) -> None:
    """RFC 7523 §3 / RFC 8725 §3.1: each bad assertion gets 401 invalid_grant; a good one
    still renews afterwards (nothing above burned the device)."""
    aud = f"{backend.url}/v1/auth/token"
    key = user.device_key
    header = {"kid": user.device_id}
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs_head = unsigned({"alg": "HS256", "typ": "JWT", **header}, assertion_claims(user, aud))
    attacks = {
        "alg none": unsigned({"alg": "none", **header}, assertion_claims(user, aud)) + ".",
        "HS256 keyed with the device public key": hs_head
        + "."
        + b64(hmac.new(pem, hs_head.encode(), hashlib.sha256).digest()),
        "no aud": jwt.encode(assertion_claims(user, aud, aud=None), key, "ES256", header),
        "no iss": jwt.encode(assertion_claims(user, aud, iss=None), key, "ES256", header),
        "no sub": jwt.encode(assertion_claims(user, aud, sub=None), key, "ES256", header),
        "typ of an access token": jwt.encode(
            assertion_claims(user, aud), key, "ES256", {**header, "typ": "at+jwt"}
        ),
        "audience is the API": jwt.encode(
            assertion_claims(user, "connected-accounts-api"), key, "ES256", header
        ),
    }
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    with backend.client() as anon:
        for why, assertion in attacks.items():
            resp = anon.post("/v1/auth/token", data={"grant_type": grant, "assertion": assertion})
            assert resp.status_code == 401, (why, resp.text)
            assert resp.json()["code"] == "unauthorized", why
        good = jwt.encode(assertion_claims(user, aud), key, "ES256", header)
        resp = anon.post("/v1/auth/token", data={"grant_type": grant, "assertion": good})
        assert resp.status_code == 200, resp.text
