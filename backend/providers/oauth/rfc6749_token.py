"""Token endpoint mechanics (RFC 6749 §2.3, §5): client authentication and response parsing.

Authlib's `ClientAuth` does not form-encode the id and secret before Basic encoding
(RFC 6749 §2.3.1), and its httpx client owns the request loop, so our own retry and error
mapping could not wrap it cleanly; these few lines do the same job on plain httpx.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx

from backend.providers.base import (
    InvalidGrant,
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    TokenSet,
)
from backend.providers.reasons import grant_reason
from backend.secret import Secret


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    client_secret: Secret | None
    auth_method: str  # client_secret_basic | client_secret_post | none

    def apply(self, form: dict[str, str], headers: dict[str, str]) -> None:
        """Add this client's authentication to a token/revocation request (RFC 6749 §2.3.1)."""
        if self.auth_method == "client_secret_basic":
            secret = self.client_secret.reveal() if self.client_secret else ""
            # §2.3.1: each part is form-urlencoded before joining and base64-encoding.
            raw = f"{quote_plus(self.client_id)}:{quote_plus(secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        elif self.auth_method == "client_secret_post":
            form["client_id"] = self.client_id
            form["client_secret"] = self.client_secret.reveal() if self.client_secret else ""
        else:  # "none": a public client identifies itself only (RFC 6749 §3.2.1)
            form["client_id"] = self.client_id


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def token_error(response: httpx.Response, provider: str) -> ProviderError:
    """Map an error response of a token endpoint (RFC 6749 §5.2) to plain words.

    The wire `error` code decides; `error_description` is free text from elsewhere that could
    echo what we sent, so it is only matched against known phrases (reasons.py), never shown.
    """
    body = _json(response)
    code = str(body.get("error") or "")
    if code == "invalid_grant":
        return InvalidGrant(
            f"{provider} says this grant is no longer valid (revoked, expired or already used) "
            "— reconnect to keep reports flowing.",
            reason=grant_reason(provider, body.get("error_description")),
        )
    if code in ("invalid_client", "unauthorized_client"):
        return ProviderRequestError(
            f"{provider} rejected this backend's client credentials ({code}) — check the "
            "client id and client secret in the backend configuration."
        )
    if code == "temporarily_unavailable":
        return ProviderUnavailable(f"{provider} is temporarily unavailable; try again shortly.")
    if code:
        return ProviderRequestError(f"{provider} refused the token request ({code}).")
    return ProviderRequestError(
        f"{provider} refused the token request (HTTP {response.status_code})."
    )


def parse_token_response(response: httpx.Response, provider: str) -> TokenSet:
    """A successful token response (RFC 6749 §5.1) as a TokenSet; errors raise ProviderError."""
    if response.status_code != 200:
        raise token_error(response, provider)
    body = _json(response)
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderUnavailable(f"{provider} answered the token request without a token.")
    refresh = body.get("refresh_token")
    id_token = body.get("id_token")
    scope = body.get("scope")
    scopes: list[str] | None = None
    if isinstance(scope, str):
        # §3.3 says space-delimited; a few providers use commas.
        scopes = [s for s in scope.replace(",", " ").split() if s]
    elif isinstance(scope, list):
        scopes = [str(s) for s in scope]
    return TokenSet(
        access_token=Secret(access),
        # §6: a refresh response may omit refresh_token; None means keep the old one.
        refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
        expires_in=_int_or_none(body.get("expires_in")),
        scope=scopes,
        id_token=Secret(id_token) if isinstance(id_token, str) and id_token else None,
        # LinkedIn, Demo Ads (and Azure AD B2C) say how long the refresh token lives.
        refresh_expires_in=_int_or_none(body.get("refresh_token_expires_in")),
    )


def _int_or_none(value: Any) -> int | None:
    # Some providers send expires_in as a string ("3600").
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
