"""OpenID Connect id_token for grants that include the `openid` scope.

Signed ES256 with a key this Demo Ads instance makes when it starts and publishes at
`/jwks` (RFC 7517), as real providers do, so clients can check the signature against the
key set whatever the scheme of the endpoints (OIDC Core §3.1.3.7 (6)-(7)). An id_token is
consumed within seconds of being issued, so a new key per start is enough.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from backend.sandbox.config import ClientConfig, UserConfig

ID_TOKEN_LIFETIME = 600
ALGORITHM = "ES256"


class SigningKey:
    """One P-256 key and its key id."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_urlsafe(8)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self._key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}

    def sign(self, claims: dict[str, object]) -> str:
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


def make_id_token(
    *,
    key: SigningKey,
    issuer: str,
    client: ClientConfig,
    user: UserConfig,
    nonce: str | None,
    now: float,
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
    return key.sign(claims)
