"""Meta (Facebook Login + Marketing API): long-lived user tokens stand in for refresh tokens.

Meta has no refresh grant. The code is redeemed for a short-lived user token, which is at once
exchanged (`grant_type=fb_exchange_token`) for a long-lived one (about 60 days). The backend
stores that long-lived token as the connection's "refresh token".

`refresh()` does not re-exchange: Meta documents the exchange for short-lived tokens only, and
a long-lived token is extended only by the user's own activity in Meta's SDKs
(developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived). Instead it
checks the token with `debug_token` and hands it back as the access token (refresh_token=None:
keep the stored one), with a lifetime capped at an hour so the vault re-checks it hourly; a
token Meta no longer honours becomes InvalidGrant (needs_reconnect). `identify()` reports the
expiry so the user can reconnect in time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from backend.providers.base import (
    Identity,
    InvalidGrant,
    ProviderError,
    ProviderRequestError,
    TokenSet,
)
from backend.providers.http import HttpContext, bearer, json_of, request_with_retries
from backend.providers.oauth.oauth2 import Endpoints, OAuth2Provider, ProviderSettings
from backend.providers.oauth.rfc6749_token import ClientCredentials
from backend.providers.reasons import meta_reason
from backend.providers.reports.meta_insights import TOKEN_CODES, MetaInsightsAdapter, graph_error
from backend.secret import Secret

# How long a checked token is used before debug_token is asked again.
RECHECK_S = 3600


@dataclass(frozen=True)
class TokenInfo:
    """The parts of `debug_token` we use."""

    is_valid: bool
    app_id: str
    scopes: list[str]
    expires_at: datetime | None  # the earlier of expires_at and data_access_expires_at


class MetaProvider(OAuth2Provider):
    """Meta Ads: Facebook Login dialog, Graph token exchange, DELETE /me/permissions."""

    adapter: MetaInsightsAdapter

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        credentials: ClientCredentials,
        endpoints: Endpoints,
        adapter: MetaInsightsAdapter,
        ctx: HttpContext,
    ) -> None:
        super().__init__(
            settings, credentials=credentials, endpoints=endpoints, adapter=adapter, ctx=ctx
        )
        self.adapter = adapter
        self._graph = adapter.base_url

    def _scope_param(self) -> str:
        return ",".join(self.scopes)  # the Login dialog documents comma-separated scopes

    def _app_token(self) -> Secret:
        # An app access token is `{app-id}|{app-secret}` (Graph API "App Access Tokens").
        secret = self._credentials.client_secret
        return Secret(f"{self._credentials.client_id}|{secret.reveal() if secret else ''}")

    async def _graph_token(self, form: dict[str, str], action: str) -> dict[str, Any]:
        form = {
            **form,
            "client_id": self._credentials.client_id,
            "client_secret": self._credentials.client_secret.reveal()
            if self._credentials.client_secret
            else "",
        }
        # POST, not the documented GET: the secret and tokens stay out of URLs.
        response = await request_with_retries(
            self._ctx.client,
            "POST",
            self.endpoints.token,
            provider=self.display_name,
            action=action,
            policy=self._ctx.policy,
            idempotent=False,
            data=form,
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise _exchange_error(response, self.display_name, action, redeeming="code" in form)
        body = json_of(response, self.display_name, action)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise ProviderRequestError(
                f"{self.display_name} sent no token when we tried to {action}."
            )
        return body

    async def redeem_code(
        self, *, code: Secret, redirect_uri: str, code_verifier: Secret
    ) -> TokenSet:
        short = await self._graph_token(
            {
                "code": code.reveal(),
                "redirect_uri": redirect_uri,
                # Facebook Login's code flow accepts PKCE (OIDC code flow with PKCE guide).
                "code_verifier": code_verifier.reveal(),
            },
            "exchange the sign-in code",
        )
        long = await self._graph_token(
            {"grant_type": "fb_exchange_token", "fb_exchange_token": str(short["access_token"])},
            "exchange the sign-in for a long-lived token",
        )
        token = Secret(str(long["access_token"]))
        info = await self.debug_token(token)
        return TokenSet(
            access_token=token,
            refresh_token=token,  # stored as the connection's refresh token
            expires_in=self._lifetime(info, long.get("expires_in")),
            scope=info.scopes or None,
        )

    async def refresh(self, refresh_token: Secret) -> TokenSet:
        info = await self.debug_token(refresh_token)
        return TokenSet(
            access_token=refresh_token,
            refresh_token=None,
            expires_in=self._lifetime(info, None),
            scope=info.scopes or None,
        )

    def _lifetime(self, info: TokenInfo, expires_in: Any) -> int:
        left: float = RECHECK_S
        if info.expires_at is not None:
            left = min(left, (info.expires_at - datetime.now(UTC)).total_seconds())
        if isinstance(expires_in, int | str) and str(expires_in).isdigit():
            left = min(left, int(expires_in))
        return max(0, int(left))

    async def debug_token(self, token: Secret) -> TokenInfo:
        """Ask Meta whether `token` still works, for which app, scopes and how long."""
        action = "check the grant"
        response = await request_with_retries(
            self._ctx.client,
            "GET",
            f"{self._graph}/debug_token",
            provider=self.display_name,
            action=action,
            policy=self._ctx.policy,
            params={"input_token": token.reveal()},
            headers=bearer(self._app_token()),
        )
        if response.status_code != 200:
            # The input token's own state comes back inside `data`; an error here is about
            # the app token, i.e. this backend's configuration, not the user's grant.
            if _graph_code(response) in (*TOKEN_CODES, 101):
                raise _app_credentials_error(self.display_name)
            raise graph_error(response, self.display_name, action)
        data = (json_of(response, self.display_name, action) or {}).get("data") or {}
        if not data.get("is_valid"):
            # debug_token says why in `data.error.subcode` (the Graph error subcodes).
            why = data.get("error")
            why = why if isinstance(why, dict) else {}
            raise InvalidGrant(
                f"{self.display_name} says this grant was revoked or has expired — reconnect "
                "to keep reports flowing.",
                reason=meta_reason(why.get("subcode")),
            )
        if str(data.get("app_id")) != self._credentials.client_id:
            # A token minted for another app must never be adopted (confused deputy).
            raise InvalidGrant(
                f"This {self.display_name} token belongs to another app; connect again here."
            )
        ends = [int(v) for k in ("expires_at", "data_access_expires_at") if (v := data.get(k))]
        return TokenInfo(
            is_valid=True,
            app_id=str(data.get("app_id")),
            scopes=[str(s) for s in data.get("scopes") or []],
            # 0 means "never"; the earlier end is when reports stop working.
            expires_at=datetime.fromtimestamp(min(ends), UTC) if ends else None,
        )

    async def revoke(self, token: Secret) -> None:
        action = "revoke access"
        endpoint = self.endpoints.revocation or f"{self._graph}/me/permissions"
        response = await request_with_retries(
            self._ctx.client,
            "DELETE",
            endpoint,
            provider=self.display_name,
            action=action,
            policy=self._ctx.policy,
            headers=bearer(token),
        )
        if response.status_code == 200:
            return
        error = graph_error(response, self.display_name, action)
        if isinstance(error, InvalidGrant):
            return  # already revoked or expired: the goal is met (as RFC 7009 §2.2)
        raise error

    async def identify(self, tokens: TokenSet, *, nonce: str | None = None) -> Identity:
        me = await self.adapter.me(tokens.access_token)
        assert me is not None
        accounts = await self.adapter.list_accounts(tokens.access_token)
        info = await self.debug_token(tokens.access_token)
        return Identity(
            subject=me.subject,
            display_name=me.display_name,
            accounts=accounts,
            expires_at=info.expires_at,
        )


def _graph_code(response: httpx.Response) -> int:
    try:
        return int((response.json().get("error") or {}).get("code") or 0)
    except (ValueError, AttributeError, TypeError):
        return 0


def _app_credentials_error(provider: str) -> ProviderError:
    return ProviderRequestError(
        f"{provider} rejected this backend's app credentials — check client_id and the client "
        "secret in the backend configuration."
    )


def _exchange_error(
    response: httpx.Response, provider: str, action: str, *, redeeming: bool = False
) -> ProviderError:
    """Token exchange errors: an expired, used or foreign code is a dead grant."""
    code = _graph_code(response)
    if code == 101:  # "Error validating application"
        return _app_credentials_error(provider)
    if code == 100 and redeeming:
        return InvalidGrant(
            f"{provider} says this sign-in code is no longer valid (expired or already used) "
            "— start connecting again."
        )
    # Token codes (190, 102) become an InvalidGrant carrying the subcode's reason.
    return graph_error(response, provider, action)
