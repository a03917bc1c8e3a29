"""Default settings of each preset; a `[providers.<id>]` table overrides any of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

META_GRAPH_VERSION = "v23.0"
GOOGLE_ADS_API_VERSION = "v22"
# LinkedIn-Version header (YYYYMM); LinkedIn serves each version for about a year.
LINKEDIN_API_VERSION = "202511"


def _demo(sandbox_url: str | None) -> dict[str, Any]:
    base = (sandbox_url or "").rstrip("/")
    endpoints: dict[str, Any] = {}
    if base:
        # The sandbox is ours: its endpoints are known, no discovery round trip at start-up.
        endpoints = {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/jwks",
        }
    return {
        "display_name": "Demo Ads",
        "client_id": "demo-desktop",
        "client_secret": "demo-secret",
        "redirect": "loopback",
        # The sandbox advertises it (RFC 9207 §3) and always sends `iss`.
        "authorization_response_iss_parameter_supported": True,
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["ads_read"],
        "max_report_days": 731,
        "discovery": False,
        "reports": {"adapter": "demo", "base_url": base or None, "page_size": 500},
        **endpoints,
    }


def _meta() -> dict[str, Any]:
    graph = f"https://graph.facebook.com/{META_GRAPH_VERSION}"
    return {
        "display_name": "Meta Ads",
        # Meta live apps refuse http://127.0.0.1 redirect URIs: relay through the backend.
        "redirect": "backend",
        "authorization_endpoint": f"https://www.facebook.com/{META_GRAPH_VERSION}/dialog/oauth",
        # token_endpoint, revocation_endpoint and debug_token derive from reports.base_url
        # (the Graph API root) unless set: one override points every Graph call elsewhere.
        "token_endpoint_auth_method": "client_secret_post",
        "scopes": ["ads_read"],
        "max_report_days": 1095,  # Insights keep 37 months; 3 years is safely inside.
        "discovery": False,
        "reports": {
            "adapter": "meta_insights",
            "base_url": graph,
            "page_size": 500,
        },
    }


def _google_ads() -> dict[str, Any]:
    return {
        "display_name": "Google Ads",
        "redirect": "loopback",
        "issuer": "https://accounts.google.com",
        "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_endpoint": "https://oauth2.googleapis.com/token",
        "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
        "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
        "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
        "token_endpoint_auth_method": "client_secret_post",
        "scopes": ["openid", "email", "https://www.googleapis.com/auth/adwords"],
        # offline + consent: Google issues a refresh token only on a consented offline grant.
        "authorize_params": {
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
        },
        "max_report_days": 1095,
        "discovery": False,
        "reports": {
            "adapter": "google_ads",
            "base_url": "https://googleads.googleapis.com",
            "api_version": GOOGLE_ADS_API_VERSION,
            "developer_token_env": "GOOGLE_ADS_DEVELOPER_TOKEN",
        },
    }


def _linkedin_ads() -> dict[str, Any]:
    # learn.microsoft.com/linkedin/shared/authentication/authorization-code-flow and
    # …/programmatic-refresh-tokens: 60-day access tokens, 365-day refresh tokens.
    return {
        "display_name": "LinkedIn Ads",
        # LinkedIn accepts only absolute HTTPS redirect URLs registered on the app.
        "redirect": "backend",
        "authorization_endpoint": "https://www.linkedin.com/oauth/v2/authorization",
        "token_endpoint": "https://www.linkedin.com/oauth/v2/accessToken",
        # LinkedIn documents no token revocation for third-party apps: members remove an
        # app's access themselves.
        "manage_access_url": "https://www.linkedin.com/psettings/permitted-services",
        "token_endpoint_auth_method": "client_secret_post",
        "scopes": ["r_ads", "r_ads_reporting"],
        "max_report_days": 730,
        "discovery": False,
        "reports": {
            "adapter": "linkedin_ads",
            "base_url": "https://api.linkedin.com/rest",
            "api_version": LINKEDIN_API_VERSION,
        },
    }


def _microsoft_ads() -> dict[str, Any]:
    # learn.microsoft.com/advertising/guides/authentication-oauth-identity-platform
    login = "https://login.microsoftonline.com/common/oauth2/v2.0"
    return {
        "display_name": "Microsoft Advertising",
        "redirect": "loopback",
        "authorization_endpoint": f"{login}/authorize",
        "token_endpoint": f"{login}/token",
        # The Microsoft identity platform has no RFC 7009 endpoint: users remove the app.
        "manage_access_url": "https://account.live.com/consent/Manage",
        "token_endpoint_auth_method": "client_secret_post",
        "scopes": ["https://ads.microsoft.com/msads.manage", "offline_access"],
        "authorize_params": {"prompt": "select_account"},
        "max_report_days": 1095,
        "discovery": False,
        "reports": {
            "adapter": "microsoft_ads",
            "base_url": "https://reporting.api.bingads.microsoft.com",
            "customer_base_url": "https://clientcenter.api.bingads.microsoft.com",
            "developer_token_env": "MICROSOFT_ADS_DEVELOPER_TOKEN",
        },
    }


def _oauth2() -> dict[str, Any]:
    return {
        "redirect": "loopback",
        "token_endpoint_auth_method": "client_secret_basic",
        "max_report_days": 366,
    }


def preset_defaults(preset: str, *, sandbox_url: str | None) -> dict[str, Any] | None:
    """The defaults of `preset`, or None when there is no such preset."""
    if preset == "demo":
        return _demo(sandbox_url)
    if preset == "meta":
        return _meta()
    if preset == "google_ads":
        return _google_ads()
    if preset == "linkedin_ads":
        return _linkedin_ads()
    if preset == "microsoft_ads":
        return _microsoft_ads()
    if preset == "oauth2":
        return _oauth2()
    return None


def merge(defaults: Mapping[str, Any], table: Mapping[str, Any]) -> dict[str, Any]:
    """The table over the defaults; `reports` and `authorize_params` merge key by key."""
    merged = dict(defaults)
    for key, value in table.items():
        if key in ("reports", "authorize_params") and isinstance(value, Mapping):
            merged[key] = {**dict(defaults.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged
