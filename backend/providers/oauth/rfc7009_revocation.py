"""Token revocation (RFC 7009): the refresh token POSTed to the revocation endpoint."""

from __future__ import annotations

import httpx

from backend.providers.http import HttpContext, request_with_retries
from backend.providers.oauth.rfc6749_token import ClientCredentials, token_error
from backend.secret import Secret


async def revoke_token(
    ctx: HttpContext,
    endpoint: str,
    token: Secret,
    *,
    credentials: ClientCredentials,
    provider: str,
) -> None:
    """Revoke the grant behind `token`; ProviderError in plain words when the server refuses.

    §2.1: the refresh token is sent (with this client's authentication, §2.1 / RFC 6749 §2.3);
    revoking it also ends the access tokens issued on it.
    """
    form = {"token": token.reveal(), "token_type_hint": "refresh_token"}
    headers = {"Accept": "application/json"}
    credentials.apply(form, headers)
    response = await request_with_retries(
        ctx.client,
        "POST",
        endpoint,
        provider=provider,
        action="revoke access",
        policy=ctx.policy,
        data=form,
        headers=headers,
    )
    if response.status_code == 200:
        return  # §2.2: 200 also for a token that was already invalid
    if response.status_code == 400 and _wire_error(response) == "invalid_token":
        # Google (and others) say 400 invalid_token for a token already dead: the goal
        # of revocation — the token no longer works — is met.
        return
    raise token_error(response, provider)


def _wire_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""
