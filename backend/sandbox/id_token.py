"""OpenID Connect id_token for grants that include the `openid` scope.

Signed HS256 with the client's own secret, which OIDC Core §10.1 allows for confidential
clients; the client may equally rely on TLS from the token endpoint (§3.1.3.7 (6)).
"""

from __future__ import annotations

import warnings

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from backend.sandbox.config import ClientConfig, UserConfig

ID_TOKEN_LIFETIME = 600


def make_id_token(
    *, issuer: str, client: ClientConfig, user: UserConfig, nonce: str | None, now: float
) -> str:
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": user.id,
        "aud": client.client_id,
        "iat": int(now),
        "exp": int(now) + ID_TOKEN_LIFETIME,
        "name": user.name,
        "email": user.email,
    }
    if nonce is not None:
        claims["nonce"] = nonce  # OIDC Core §3.1.3.7 (11): echoes the authorization request
    with warnings.catch_warnings():
        # The demo secret is shorter than RFC 7518 §3.2 wants for HS256; it is public anyway.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, client.client_secret, algorithm="HS256")
