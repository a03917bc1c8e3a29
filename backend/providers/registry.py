"""Build the enabled providers from the `[providers.<id>]` tables of the backend's TOML."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from backend import __version__
from backend.providers.base import Provider
from backend.providers.config import PRESETS, ProviderConfig
from backend.providers.http import MAX_PAGES, MAX_REPORT_ROWS, HttpContext, RetryPolicy
from backend.providers.lapse import lapse_for
from backend.providers.oauth.oauth2 import Endpoints, OAuth2Provider, ProviderSettings
from backend.providers.oauth.rfc6749_token import ClientCredentials
from backend.providers.oauth.rfc8414_discovery import discover
from backend.providers.platforms.meta import MetaProvider
from backend.providers.presets import merge, preset_defaults
from backend.providers.reports.adapter import ReportAdapter
from backend.providers.reports.demo import DemoAdapter
from backend.providers.reports.google_ads import GoogleAdsAdapter
from backend.providers.reports.linkedin_ads import LinkedInAdsAdapter
from backend.providers.reports.meta_insights import DEFAULT_CONVERSION_ACTION, MetaInsightsAdapter
from backend.providers.reports.microsoft_ads import MicrosoftAdsAdapter
from backend.secret import Secret

RELAY_PATH = "/v1/flows/callback"

log = logging.getLogger(__name__)


async def build_providers(
    tables: Mapping[str, Mapping[str, Any]],
    *,
    env: Mapping[str, str],
    public_url: str,
    sandbox_url: str | None,
) -> dict[str, Provider]:
    """One Provider per table; ValueError naming the provider and the field on bad config."""
    providers: dict[str, Provider] = {}
    try:
        for provider_id, table in tables.items():
            providers[provider_id] = await build_provider(
                provider_id, table, env=env, public_url=public_url, sandbox_url=sandbox_url
            )
    except BaseException:
        for built in providers.values():
            await built.aclose()
        raise
    return providers


def load_config(
    provider_id: str, table: Mapping[str, Any], *, sandbox_url: str | None
) -> ProviderConfig:
    """The preset's defaults with the table over them, validated."""
    preset = table.get("preset")
    if not isinstance(preset, str) or not preset:
        raise ValueError(f"Provider '{provider_id}': set 'preset' to one of {', '.join(PRESETS)}.")
    defaults = preset_defaults(preset, sandbox_url=sandbox_url)
    if defaults is None:
        raise ValueError(
            f"Provider '{provider_id}': unknown preset '{preset}'; "
            f"choose one of {', '.join(PRESETS)}."
        )
    try:
        return ProviderConfig.model_validate(merge(defaults, table))
    except ValidationError as exc:
        # Only field names and pydantic's words: the rejected values may be secrets.
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors()
        )
        raise ValueError(f"Provider '{provider_id}': {problems}.") from None


def _client_secret(provider_id: str, cfg: ProviderConfig, env: Mapping[str, str]) -> Secret | None:
    if cfg.client_secret_env:
        value = env.get(cfg.client_secret_env)
        if not value:
            raise ValueError(
                f"Provider '{provider_id}': client_secret_env names the environment variable "
                f"{cfg.client_secret_env}, which is not set."
            )
        return Secret(value)
    if cfg.client_secret is not None:
        if cfg.preset != "demo":  # the sandbox's well-known secret guards nothing real
            log.warning(
                "provider %s: client_secret is written in the config file; prefer "
                "client_secret_env so the secret stays out of files",
                provider_id,
            )
        return Secret(cfg.client_secret.get_secret_value())
    public = cfg.token_endpoint_auth_method == "none"  # noqa: S105 - a method name
    if public and cfg.preset != "meta":
        return None
    raise ValueError(
        f"Provider '{provider_id}': no client secret; set client_secret_env to the name of the "
        'environment variable that holds it (or token_endpoint_auth_method = "none").'
    )


def _developer_token(provider_id: str, cfg: ProviderConfig, env: Mapping[str, str]) -> Secret:
    reports = cfg.reports
    if reports.developer_token is not None:
        return Secret(reports.developer_token.get_secret_value())
    name = reports.developer_token_env
    value = env.get(name) if name else None
    if not value:
        platform = "Microsoft Advertising" if reports.adapter == "microsoft_ads" else "Google Ads"
        raise ValueError(
            f"Provider '{provider_id}': reports.developer_token_env names the environment "
            f"variable {name}, which is not set ({platform} needs a developer token)."
        )
    return Secret(value)


def _adapter(
    provider_id: str, cfg: ProviderConfig, ctx: HttpContext, env: Mapping[str, str]
) -> ReportAdapter | None:
    reports = cfg.reports
    if reports.adapter is None:
        return None
    if not reports.base_url:
        raise ValueError(
            f"Provider '{provider_id}': reports.base_url is not set"
            + (" (is the Demo Ads sandbox enabled?)." if reports.adapter == "demo" else ".")
        )
    if reports.adapter == "demo":
        return DemoAdapter(ctx, base_url=reports.base_url, page_size=reports.page_size or 500)
    if reports.adapter == "meta_insights":
        return MetaInsightsAdapter(
            ctx,
            base_url=reports.base_url,
            conversion_action_types=(
                [reports.conversion_action]
                if reports.conversion_action
                else reports.conversion_action_types or [DEFAULT_CONVERSION_ACTION]
            ),
            page_size=reports.page_size or 500,
            attribution_windows=reports.attribution_windows,
            async_rows=reports.async_rows or 20_000,
            poll_interval_s=reports.poll_interval_s or 2.0,
            poll_timeout_s=reports.poll_timeout_s or 300.0,
        )
    if reports.adapter == "linkedin_ads":
        return LinkedInAdsAdapter(
            ctx, base_url=reports.base_url, api_version=reports.api_version or "202511"
        )
    if reports.adapter == "microsoft_ads":
        if not reports.customer_base_url:
            raise ValueError(f"Provider '{provider_id}': reports.customer_base_url is not set.")
        return MicrosoftAdsAdapter(
            ctx,
            base_url=reports.base_url,
            customer_base_url=reports.customer_base_url,
            developer_token=_developer_token(provider_id, cfg, env),
            poll_interval_s=reports.poll_interval_s or 2.0,
            poll_timeout_s=reports.poll_timeout_s or 120.0,
        )
    return GoogleAdsAdapter(
        ctx,
        base_url=reports.base_url,
        api_version=reports.api_version or "v22",
        developer_token=_developer_token(provider_id, cfg, env),
        login_customer_id=reports.login_customer_id,
    )


async def _endpoints(
    provider_id: str, cfg: ProviderConfig, ctx: HttpContext
) -> tuple[Endpoints, bool]:
    """The provider's endpoints, and whether it promises `iss` in its responses (RFC 9207)."""
    authorization, token = cfg.authorization_endpoint, cfg.token_endpoint
    revocation, userinfo = cfg.revocation_endpoint, cfg.userinfo_endpoint
    jwks = cfg.jwks_uri
    sends_iss = cfg.authorization_response_iss_parameter_supported
    if cfg.preset == "meta":
        graph = cfg.reports.base_url or ""
        token = token or f"{graph}/oauth/access_token"
        revocation = revocation or f"{graph}/me/permissions"
    elif cfg.discovery and cfg.issuer and not (authorization and token):
        meta = await discover(ctx.client, cfg.issuer, provider_id=provider_id, policy=ctx.policy)
        methods = meta.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise ValueError(
                f"Provider '{provider_id}': the issuer does not support PKCE S256, which this "
                "backend requires (RFC 9700 §2.1.1)."
            )
        authorization = authorization or meta.get("authorization_endpoint")
        token = token or meta.get("token_endpoint")
        revocation = revocation or meta.get("revocation_endpoint")
        userinfo = userinfo or meta.get("userinfo_endpoint")
        jwks = jwks or _str_or_none(meta.get("jwks_uri"))
        if sends_iss is None:
            sends_iss = meta.get("authorization_response_iss_parameter_supported") is True
    for field, value in (("authorization_endpoint", authorization), ("token_endpoint", token)):
        if not value:
            where = " (is the Demo Ads sandbox enabled?)" if cfg.preset == "demo" else ""
            raise ValueError(
                f"Provider '{provider_id}': {field} is not set and could not be discovered{where}; "
                "set 'issuer' or the endpoint itself."
            )
    assert authorization
    assert token
    return Endpoints(authorization, token, revocation, userinfo, jwks), bool(sends_iss)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def build_provider(
    provider_id: str,
    table: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    public_url: str,
    sandbox_url: str | None,
) -> Provider:
    """One provider from its table (see `build_providers`)."""
    cfg = load_config(provider_id, table, sandbox_url=sandbox_url)
    if not cfg.client_id:
        raise ValueError(f"Provider '{provider_id}': client_id is not set.")
    credentials = ClientCredentials(
        client_id=cfg.client_id,
        client_secret=_client_secret(provider_id, cfg, env),
        auth_method=cfg.token_endpoint_auth_method or "client_secret_basic",
    )
    policy = RetryPolicy(
        attempts=cfg.retry_attempts,
        base_delay_s=cfg.retry_base_delay_s,
        max_delay_s=cfg.retry_max_delay_s,
        retry_after_cap_s=cfg.retry_after_cap_s,
    )
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s),
        follow_redirects=False,  # a redirect must never carry our Authorization header onward
        headers={"User-Agent": f"connected-accounts-backend/{__version__}"},
    )
    display_name = cfg.display_name or provider_id
    ctx = HttpContext(
        client=client,
        provider=display_name,
        policy=policy,
        max_rows=cfg.reports.max_rows or MAX_REPORT_ROWS,
        max_pages=cfg.reports.max_pages or MAX_PAGES,
    )
    try:
        endpoints, sends_iss = await _endpoints(provider_id, cfg, ctx)
        adapter = _adapter(provider_id, cfg, ctx, env)
    except BaseException:
        await client.aclose()
        raise
    settings = ProviderSettings(
        id=provider_id,
        kind=cfg.preset,
        display_name=display_name,
        scopes=list(cfg.scopes or []),
        redirect_mode=cfg.redirect or "loopback",
        issuer=cfg.issuer,
        max_report_days=cfg.max_report_days or 366,
        authorize_params=dict(cfg.authorize_params),
        relay_redirect_uri=f"{public_url.rstrip('/')}{RELAY_PATH}",
        manage_access_url=cfg.manage_access_url,
        lapse=lapse_for(cfg, display_name),
        iss_parameter_supported=sends_iss,
    )
    if cfg.preset == "meta":
        if not isinstance(adapter, MetaInsightsAdapter):
            await client.aclose()
            raise ValueError(
                f"Provider '{provider_id}': the meta preset reads reports with the "
                'meta_insights adapter; set reports.adapter = "meta_insights".'
            )
        return MetaProvider(
            settings, credentials=credentials, endpoints=endpoints, adapter=adapter, ctx=ctx
        )
    return OAuth2Provider(
        settings, credentials=credentials, endpoints=endpoints, adapter=adapter, ctx=ctx
    )
