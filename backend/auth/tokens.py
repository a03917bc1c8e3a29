"""Access JWTs the backend issues to signed-in devices (RFC 9068 profile, ES256).

Verification pins the algorithm, requires every claim we rely on, and checks the `typ`
header so that no other kind of JWT (a device's RFC 7523 assertion, say) passes as one
(RFC 8725 §3.11). Keys come only from our own key; `jku`/`x5u`/`jwk` headers are ignored.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from backend.auth.keys import SigningKey

ISSUER = "connected-accounts-backend"
AUDIENCE = "connected-accounts-api"
# RFC 9068 §2.1: "at+jwt" (the "application/" prefix is optional, RFC 7515 §4.1.9).
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type
ALGORITHM = "ES256"
MAX_ACCESS_TTL_S = 900
DEFAULT_ACCESS_TTL_S = 900
# Tolerated clock difference between processes (RFC 7519 §4.1.4 "some small leeway").
LEEWAY_S = 30
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


class TokenRejected(Exception):
    """The token is not acceptable; the message says why in plain words (never the token)."""


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    device_id: str
    jti: str
    expires_at: int


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


def issue_access_token(
    key: SigningKey, *, user_id: str, device_id: str, ttl_s: int = DEFAULT_ACCESS_TTL_S
) -> IssuedToken:
    """A fresh access JWT for this device, valid for at most 15 minutes."""
    ttl = max(1, min(int(ttl_s), MAX_ACCESS_TTL_S))
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "did": device_id,
        "iat": now,
        "exp": now + ttl,
        "jti": secrets.token_urlsafe(16),
    }
    headers = {"typ": ACCESS_TOKEN_TYP, "kid": key.kid}
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers=headers)
    return IssuedToken(token=token, expires_in=ttl)


def _typ_is(header: dict[str, Any], expected: str) -> bool:
    typ = header.get("typ")
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    return typ in (expected, f"application/{expected}")


def verify_access_token(key: SigningKey, token: str) -> AccessClaims:
    """Check signature, header and claims; raise TokenRejected otherwise.

    It does not know about signed-out devices: `deps.current_principal` checks that.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRejected("The access token is not a well-formed JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("The access token uses an algorithm this backend does not accept.")
    if not _typ_is(header, ACCESS_TOKEN_TYP):
        raise TokenRejected("This is not an access token.")
    if "kid" in header and header["kid"] != key.kid:
        raise TokenRejected("The access token was signed with a key this backend does not have.")
    try:
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": REQUIRED_CLAIMS, "strict_aud": True},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("The access token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected("The access token is not valid yet.") from None
    except jwt.PyJWTError:
        raise TokenRejected("The access token is not valid.") from None
    return _claims(claims)


def _claims(claims: dict[str, Any]) -> AccessClaims:
    sub, did, jti = claims.get("sub"), claims.get("did"), claims.get("jti")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (isinstance(sub, str) and isinstance(did, str) and isinstance(jti, str)):
        raise TokenRejected("The access token is not valid.")
    if not (sub and did and jti):
        raise TokenRejected("The access token is not valid.")
    if claims.get("iss") != ISSUER:  # exact match, never a substring (CVE-2024-53861)
        raise TokenRejected("The access token is not valid.")
    if not isinstance(exp, int) or not isinstance(iat, int) or exp - iat > MAX_ACCESS_TTL_S:
        raise TokenRejected("The access token lives longer than this backend allows.")
    return AccessClaims(user_id=sub, device_id=did, jti=jti, expires_at=exp)
