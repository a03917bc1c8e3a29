"""OpenID Connect id_token validation (OIDC Core §3.1.3.7) against the provider's JWKS.

The signature is always checked, whatever the scheme of the provider's endpoints: relying on
TLS alone (§3.1.3.7 (6)) trusts every hop between us and the token endpoint, and a local or
misconfigured provider may have none. Only asymmetric algorithms are accepted (`none` and the
HS* family, keyed with a shared secret, never), each key only with the algorithm its type
allows (RFC 8725 §3.1), from the key set at the provider's `jwks_uri` (RFC 7517), fetched with
our own HTTP client, cached, and fetched again once when a token names a key id we do not
know (the provider rotated its keys). `jku`/`x5u` headers are never followed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import jwt
from jwt.exceptions import PyJWKError

from backend.providers.base import ProviderRequestError
from backend.providers.http import HttpContext, json_of, request_with_retries
from backend.secret import Secret

log = logging.getLogger(__name__)

# RFC 7518 §3.1 asymmetric signatures, plus EdDSA (RFC 8037).
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# Clock skew allowed on exp / iat between the provider and us.
LEEWAY_S = 60
_REQUIRED = ["iss", "sub", "aud", "exp", "iat"]  # OIDC Core §2


class JwksCache:
    """The provider's signing keys: fetched on first use, again once on an unknown key id."""

    def __init__(self, ctx: HttpContext, uri: str) -> None:
        self._ctx = ctx
        self.uri = uri
        self._keys: list[dict[str, Any]] | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, kid: str | None, alg: str) -> jwt.PyJWK:
        key = self._find(kid, alg)
        if key is None:
            fetched_before = self._keys
            async with self._lock:
                if self._keys is fetched_before:  # nobody refreshed while we waited
                    self._keys = await self._fetch()
            key = self._find(kid, alg)
        if key is None:
            raise ProviderRequestError(
                f"{self._ctx.provider} sent an identity token signed with a key it does not "
                "publish, so it was refused."
            )
        return key

    def _find(self, kid: str | None, alg: str) -> jwt.PyJWK | None:
        for jwk in self._keys or []:
            if kid is not None and jwk.get("kid") != kid:
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
                continue
            try:
                # Builds the key for this algorithm only: an RSA key for ES256 (or any key
                # for HS256) fails here (RFC 8725 §3.1 algorithm/key binding).
                return jwt.PyJWK(jwk, algorithm=alg)
            except (PyJWKError, ValueError, TypeError, KeyError):
                continue
        return None

    async def _fetch(self) -> list[dict[str, Any]]:
        response = await request_with_retries(
            self._ctx.client,
            "GET",
            self.uri,
            provider=self._ctx.provider,
            action="read its signing keys",
            policy=self._ctx.policy,
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise ProviderRequestError(
                f"{self._ctx.provider} would not give its signing keys "
                f"(HTTP {response.status_code}); check jwks_uri."
            )
        body = json_of(response, self._ctx.provider, "read its signing keys")
        keys = body.get("keys") if isinstance(body, dict) else None
        if not isinstance(keys, list):
            raise ProviderRequestError(
                f"{self._ctx.provider} sent signing keys we could not read; check jwks_uri."
            )
        log.info("%s: read %d signing keys", self._ctx.provider, len(keys))
        return [k for k in keys if isinstance(k, dict)]


async def verify_id_token(
    id_token: Secret,
    *,
    provider: str,
    jwks: JwksCache | None,
    client_id: str,
    issuer: str | None,
    nonce: str | None,
) -> dict[str, Any]:
    """The id_token's claims once its signature, iss, aud, exp (and nonce when given) hold;
    ProviderRequestError in plain words otherwise. Never puts the token into a message."""
    token = id_token.reveal()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise ProviderRequestError(
            f"{provider} sent an identity token we could not read."
        ) from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise ProviderRequestError(
            f"{provider} sent an identity token that is unsigned or signed in a way we do not "
            f"accept ({str(alg)[:20]!r}), so it was refused."
        )
    if jwks is None:
        raise ProviderRequestError(
            f"{provider} sent an identity token, but no signing keys are configured to check "
            "it: set jwks_uri for this provider (or its issuer, for discovery)."
        )
    kid = header.get("kid")
    key = await jwks.key_for(kid if isinstance(kid, str) else None, alg)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": _REQUIRED, "verify_iss": issuer is not None},
        )
    except jwt.InvalidSignatureError:
        raise ProviderRequestError(
            f"{provider} sent an identity token whose signature does not check out, so it was "
            "refused."
        ) from None
    except jwt.ExpiredSignatureError:
        raise ProviderRequestError(f"{provider} sent an identity token that has expired.") from None
    except jwt.InvalidAudienceError:
        raise ProviderRequestError(
            f"{provider} sent an identity token meant for another app."
        ) from None
    except jwt.InvalidIssuerError:
        raise ProviderRequestError(
            f"{provider} sent an identity token from an unexpected issuer."
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise ProviderRequestError(
            f"{provider} sent an identity token without its '{exc.claim}' claim."
        ) from None
    except jwt.InvalidTokenError:
        raise ProviderRequestError(
            f"{provider} sent an identity token we could not accept."
        ) from None
    if nonce is not None and claims.get("nonce") != nonce:
        # OIDC Core §3.1.3.7 (11): the token must answer this flow's authorization request.
        raise ProviderRequestError(
            f"{provider} sent an identity token from another sign-in attempt."
        )
    return claims
