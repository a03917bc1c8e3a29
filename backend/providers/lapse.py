"""The expiry calendar: when each platform ends a grant by itself, and why, in words.

Meta: the long-lived user token lasts about 60 days (developers.facebook.com/docs/facebook-login/
guides/access-tokens/get-long-lived). Google: 7 days for an app whose OAuth consent screen is
in testing, else 6 months without use (developers.google.com/identity/protocols/
oauth2#expiration). LinkedIn: the refresh token's 365 days from sign-in, which refreshing does
not extend (learn.microsoft.com/linkedin/shared/authentication/programmatic-refresh-tokens).
Microsoft identity platform: refresh tokens lapse after 90 days without use (learn.microsoft.com/
entra/identity-platform/refresh-tokens). Demo Ads models a 60-day grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backend.providers.base import GrantLapse, Identity, Provider, TokenSet
from backend.providers.config import ProviderConfig

DAY_S = 86_400


def lapse_for(cfg: ProviderConfig, display_name: str) -> GrantLapse | None:
    """The lapse rule of a configured provider; None for a generic oauth2 one."""
    if cfg.preset == "demo":
        return GrantLapse(
            "fixed", 60, "Demo Ads grants last 60 days, like Meta's; reconnect to renew it."
        )
    if cfg.preset == "meta":
        return GrantLapse(
            "fixed",
            60,
            f"{display_name} sign-ins (long-lived tokens) last 60 days; reconnect to renew it.",
        )
    if cfg.preset == "google_ads":
        if cfg.publishing_status == "testing":
            return GrantLapse(
                "fixed",
                7,
                "This backend's Google app is in testing mode, where Google ends every grant "
                "after 7 days; reconnect weekly, or have the operator publish the app.",
            )
        return GrantLapse(
            "unused", 183, "Google ends a grant that goes unused for 6 months; use it or reconnect."
        )
    if cfg.preset == "linkedin_ads":
        return GrantLapse(
            "fixed",
            365,
            "LinkedIn's refresh token lasts 365 days from sign-in; reconnect to renew it.",
        )
    if cfg.preset == "microsoft_ads":
        return GrantLapse(
            "unused",
            90,
            "Microsoft ends a sign-in that goes unused for 90 days; use it or reconnect.",
        )
    return None


def expiry_at_connect(
    provider: Provider, identity: Identity, tokens: TokenSet, now: datetime
) -> datetime | None:
    """The date to store with a fresh grant: what the provider said, else the fixed rule."""
    if identity.expires_at is not None:
        return identity.expires_at  # Meta's debug_token
    if tokens.refresh_expires_in is not None:
        return now + timedelta(seconds=max(0, tokens.refresh_expires_in))
    lapse = provider.lapse
    if lapse is not None and lapse.kind == "fixed":
        return now + timedelta(days=lapse.days)
    return None


@dataclass(frozen=True)
class Expiry:
    at: datetime | None
    reason: str | None


def expiry_now(
    lapse: GrantLapse | None, *, stored: datetime | None, last_used: datetime | None
) -> Expiry:
    """When the grant lapses as of now: a sliding rule counts from the last use (refresh)."""
    if lapse is not None and lapse.kind == "unused" and last_used is not None:
        return Expiry(last_used + timedelta(days=lapse.days), lapse.reason)
    if stored is None:
        return Expiry(None, None)
    if lapse is None:
        return Expiry(stored, "The provider said when this grant ends; reconnect before then.")
    return Expiry(stored, lapse.reason)
