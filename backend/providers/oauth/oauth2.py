"""Any OAuth 2.0 / OpenID Connect provider: code flow with PKCE, refresh, RFC 7009 revocation.

Built on the protocol modules beside it: rfc6749_token (token requests and answers, client
authentication), rfc7009_revocation, oidc_id_token; rfc8414_discovery finds the endpoints
(the registry calls it). Report data comes from the configured report adapter (../reports/).
The demo, google_ads, linkedin_ads, microsoft_ads and oauth2 presets are this class with their
own defaults (../presets.py); only Meta needs a client of its own (../platforms/meta.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from backend.providers.base import (
    AccessTokenRejected,
    AdAccount,
    GrantLapse,
    Identity,
    Provider,
    ProviderRequestError,
    RawReport,
    RawRow,
    RedirectMode,
    ReportQuery,
    RevocationUnsupported,
    TokenSet,
)
from backend.providers.http import HttpContext, bearer, json_of, request_with_retries
from backend.providers.oauth.oidc_id_token import JwksCache, verify_id_token
from backend.providers.oauth.rfc6749_token import ClientCredentials, parse_token_response
from backend.providers.oauth.rfc7009_revocation import revoke_token
from backend.providers.reports.adapter import ReportAdapter
from backend.secret import Secret


@dataclass(frozen=True)
class Endpoints:
    authorization: str
    token: str
    revocation: str | None = None
    userinfo: str | None = None
    jwks: str | None = None  # where the id_token signing keys are (OIDC Discovery §3)


@dataclass(frozen=True)
class ProviderSettings:
    """What every provider of this package is built from (the registry resolves it)."""

    id: str
    kind: str
    display_name: str
    scopes: list[str]
    redirect_mode: RedirectMode
    issuer: str | None
    max_report_days: int
    authorize_params: dict[str, str]
    relay_redirect_uri: str | None
    manage_access_url: str | None = None
    lapse: GrantLapse | None = None
    iss_parameter_supported: bool = False


class OAuth2Provider(Provider):
    """RFC 6749 code grant + RFC 7636 PKCE (S256 only) + RFC 7009 revocation + OIDC identity."""

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        credentials: ClientCredentials,
        endpoints: Endpoints,
        adapter: ReportAdapter | None,
        ctx: HttpContext,
    ) -> None:
        self.id = settings.id
        self.kind = settings.kind
        self.display_name = settings.display_name
        self.scopes = list(settings.scopes)
        self.redirect_mode = settings.redirect_mode
        self.issuer = settings.issuer
        self.max_report_days = settings.max_report_days
        self.relay_redirect_uri = settings.relay_redirect_uri
        self.manage_access_url = settings.manage_access_url
        self.lapse = settings.lapse
        self.iss_parameter_supported = settings.iss_parameter_supported
        self._authorize_params = dict(settings.authorize_params)
        self._credentials = credentials
        self.endpoints = endpoints
        self.adapter = adapter
        self._ctx = ctx
        self._jwks = JwksCache(ctx, endpoints.jwks) if endpoints.jwks else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} kind={self.kind!r}>"

    # -- the authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) ---------------------------

    def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, nonce: str | None
    ) -> str:
        params: dict[str, str] = {
            "response_type": "code",
            "client_id": self._credentials.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            # RFC 9700 §2.1.1: S256 always; there is no code path that could send "plain".
            "code_challenge_method": "S256",
        }
        if self.scopes:
            params["scope"] = self._scope_param()
        if nonce is not None and "openid" in self.scopes:
            params["nonce"] = nonce  # OIDC Core §3.1.2.1: binds the id_token to this flow
        params.update(self._authorize_params)
        return _add_query(self.endpoints.authorization, params)

    def _scope_param(self) -> str:
        return " ".join(self.scopes)  # RFC 6749 §3.3: space-delimited

    # -- token endpoint ----------------------------------------------------------------------

    async def _token_request(self, form: dict[str, str], action: str) -> TokenSet:
        headers = {"Accept": "application/json"}
        self._credentials.apply(form, headers)
        response = await request_with_retries(
            self._ctx.client,
            "POST",
            self.endpoints.token,
            provider=self.display_name,
            action=action,
            policy=self._ctx.policy,
            idempotent=False,  # a code or a rotating refresh token must not be sent twice
            data=form,
            headers=headers,
        )
        return parse_token_response(response, self.display_name)

    async def redeem_code(
        self, *, code: Secret, redirect_uri: str, code_verifier: Secret
    ) -> TokenSet:
        form = {
            "grant_type": "authorization_code",
            "code": code.reveal(),
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier.reveal(),
        }
        return await self._token_request(form, "exchange the sign-in code")

    async def refresh(self, refresh_token: Secret) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token.reveal()}
        return await self._token_request(form, "refresh the access token")

    async def revoke(self, token: Secret) -> None:
        if not self.endpoints.revocation:
            where = (
                f"at {self.manage_access_url}"
                if self.manage_access_url
                else "in your account settings on its site"
            )
            raise RevocationUnsupported(
                f"{self.display_name} offers apps no way to revoke access, so this backend "
                "deleted its copy of the sign-in; to end the grant itself, remove this app "
                f"{where}.",
                manage_access_url=self.manage_access_url,
            )
        await revoke_token(
            self._ctx,
            self.endpoints.revocation,
            token,
            credentials=self._credentials,
            provider=self.display_name,
        )

    # -- identity and reports -----------------------------------------------------------------

    async def identify(self, tokens: TokenSet, *, nonce: str | None = None) -> Identity:
        claims: dict[str, Any] = {}
        if tokens.id_token is not None:
            claims = await self.id_token_claims(tokens.id_token, nonce=nonce)
        if self.endpoints.userinfo and "openid" in self.scopes and not _has_name(claims):
            info = await self._userinfo(tokens.access_token)
            # OIDC Core §5.3.2: userinfo's sub must equal the id_token's.
            if not claims.get("sub") or info.get("sub") == claims.get("sub"):
                claims = {**info, **claims}
        subject = str(claims.get("sub") or "")
        name = str(claims.get("name") or claims.get("email") or "")
        if self.adapter is not None and (not subject or not name):
            me = await self.adapter.me(tokens.access_token)
            if me is not None:
                subject = subject or me.subject
                name = name or me.display_name
        if not subject:
            raise ProviderRequestError(
                f"{self.display_name} did not say which account signed in; add the 'openid' "
                "scope or a report adapter to this provider's configuration."
            )
        accounts = await self.list_accounts(tokens.access_token)
        return Identity(subject=subject, display_name=name or subject, accounts=accounts)

    async def id_token_claims(
        self, id_token: Secret, *, nonce: str | None = None
    ) -> dict[str, Any]:
        """Claims of an id_token whose signature (the provider's JWKS), iss, aud, exp and
        nonce (when given) all hold (OIDC Core §3.1.3.7; see oidc_id_token.py)."""
        return await verify_id_token(
            id_token,
            provider=self.display_name,
            jwks=self._jwks,
            client_id=self._credentials.client_id,
            issuer=self.issuer,
            nonce=nonce,
        )

    async def _userinfo(self, access_token: Secret) -> dict[str, Any]:
        assert self.endpoints.userinfo is not None
        response = await request_with_retries(
            self._ctx.client,
            "GET",
            self.endpoints.userinfo,
            provider=self.display_name,
            action="read who signed in",
            policy=self._ctx.policy,
            headers=bearer(access_token),
        )
        if response.status_code == 401:
            raise AccessTokenRejected(f"{self.display_name} refused the access token.")
        if response.status_code != 200:
            raise ProviderRequestError(
                f"{self.display_name} would not say who signed in (HTTP {response.status_code})."
            )
        body = json_of(response, self.display_name, "read who signed in")
        return body if isinstance(body, dict) else {}

    async def list_accounts(self, access_token: Secret) -> list[AdAccount]:
        if self.adapter is None:
            return []
        return await self.adapter.list_accounts(access_token)

    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        if self.adapter is None:
            raise ProviderRequestError(
                f"{self.display_name} has no report adapter configured, so it has no reports."
            )
        check_range(self, query)
        return await self.adapter.fetch_report(access_token, query)

    @property
    def report_levels(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.adapter.levels if self.adapter is not None else ()

    @property
    def report_breakdowns(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.adapter.breakdowns if self.adapter is not None else ()

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        if self.adapter is None:
            raise ProviderRequestError(
                f"{self.display_name} has no report adapter configured, so it has no reports."
            )
        check_range(self, query)
        return await self.adapter.fetch_report_data(access_token, query)

    async def aclose(self) -> None:
        await self._ctx.client.aclose()


def check_range(provider: Provider, query: ReportQuery) -> None:
    """Refuse a range the provider would refuse anyway, in words the user can act on."""
    if query.since > query.until:
        raise ProviderRequestError("The report starts after it ends; swap the dates.")
    days = (query.until - query.since).days + 1
    if days > provider.max_report_days:
        raise ProviderRequestError(
            f"{provider.display_name} reports cover at most {provider.max_report_days} days; "
            f"this range has {days}. Pick a shorter range."
        )


def _has_name(claims: dict[str, Any]) -> bool:
    return bool(claims.get("sub") and (claims.get("name") or claims.get("email")))


def _add_query(url: str, params: dict[str, str]) -> str:
    """Append params to an endpoint that may already carry a query (RFC 6749 §3.1 allows it)."""
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(params)}" if parts.query else urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
