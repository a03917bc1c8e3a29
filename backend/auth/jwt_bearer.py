"""RFC 7523 JWT-bearer assertions: a device proves itself with a JWT signed by its own key.

Only the checks on the JWT live here; which device and whether its `jti` was seen before
are the service's business (it needs the database).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from backend.auth import device_keys
from backend.auth.tokens import ACCESS_TOKEN_TYP, LEEWAY_S, TokenRejected

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ALGORITHM = "ES256"
# An assertion is a one-shot proof, so it must be short-lived (at most five minutes).
MAX_ASSERTION_LIFETIME_S = 300
MAX_JTI_CHARS = 150
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


@dataclass(frozen=True)
class VerifiedAssertion:
    device_id: str
    jti: str
    expires_at: int


def device_id_of(assertion: str) -> str:
    """The device the assertion claims to come from (header `kid`), before any checking."""
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise TokenRejected("The assertion is not a well-formed JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRejected("The assertion must be signed with ES256.")
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower().removeprefix("application/") == ACCESS_TOKEN_TYP:
        raise TokenRejected("An access token cannot be used as an assertion.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 64:
        raise TokenRejected("The assertion's header must name the device in 'kid'.")
    return kid


def verify_assertion(
    assertion: str, *, device_id: str, device_jwk: dict[str, Any], audience: str
) -> VerifiedAssertion:
    """Check the assertion against the device's stored public key (RFC 7523 §3)."""
    try:
        claims = jwt.decode(
            assertion,
            device_keys.public_key(device_jwk),
            algorithms=[ALGORITHM],
            audience=audience,
            leeway=LEEWAY_S,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.InvalidSignatureError:
        raise TokenRejected("The assertion was not signed by this device's key.") from None
    except jwt.ExpiredSignatureError:
        raise TokenRejected("The assertion has expired.") from None
    except jwt.ImmatureSignatureError:
        raise TokenRejected("The assertion is not valid yet; check the device's clock.") from None
    except jwt.InvalidAudienceError:
        raise TokenRejected("The assertion is meant for another token endpoint.") from None
    except jwt.PyJWTError:
        raise TokenRejected("The assertion is not valid.") from None
    # RFC 7523 §3 items 1 and 2: the device is both issuer and subject.
    if claims.get("iss") != device_id or claims.get("sub") != device_id:
        raise TokenRejected("The assertion's issuer and subject must be the device.")
    exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
    if not isinstance(exp, int) or not isinstance(iat, int):
        raise TokenRejected("The assertion's times must be whole numbers of seconds.")
    if exp - iat > MAX_ASSERTION_LIFETIME_S:
        raise TokenRejected("The assertion lives longer than five minutes.")
    # iat may be at most LEEWAY_S ahead (PyJWT checked), so exp is at most ~5.5 min away.
    if exp > int(time.time()) + MAX_ASSERTION_LIFETIME_S + LEEWAY_S:
        raise TokenRejected("The assertion lives longer than five minutes.")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_CHARS:
        raise TokenRejected("The assertion needs a 'jti' of at most 150 characters.")
    return VerifiedAssertion(device_id=device_id, jti=jti, expires_at=exp)
