"""The provider interface every ad platform implements, and its error hierarchy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from backend.secret import Secret

RedirectMode = Literal["loopback", "backend"]
Level = Literal["account", "campaign"]


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint returned; `refresh_token=None` means keep the old one."""

    access_token: Secret
    refresh_token: Secret | None
    expires_in: int | None
    scope: list[str] | None = None
    id_token: Secret | None = None


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str
    currency: str
    time_zone: str


@dataclass(frozen=True)
class Identity:
    """Who the grant belongs to and the ad accounts it covers."""

    subject: str
    display_name: str
    accounts: list[AdAccount]
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ReportQuery:
    account_id: str
    since: date
    until: date
    level: Level = "account"
    metrics: list[str] = field(
        default_factory=lambda: [
            "impressions",
            "clicks",
            "spend",
            "conversions",
            "ctr",
            "cpc",
            "cpm",
        ]  # fmt: skip
    )


@dataclass
class RawRow:
    """One row per day (and per campaign at campaign level), in the account's currency."""

    date: date
    campaign_id: str | None
    campaign_name: str | None
    impressions: int
    clicks: int
    spend: Decimal
    conversions: int


class ProviderError(Exception):
    """Base of every provider failure; the message is plain words and never holds a token."""


class InvalidGrant(ProviderError):
    """The grant is gone (revoked, expired, reused): the connection needs reconnecting."""


class AccessTokenRejected(ProviderError):
    """The API refused the access token (401): refresh once, then retry."""


class ProviderUnavailable(ProviderError):
    """5xx, a network error or a timeout, after the bounded retries."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ProviderUnavailable):
    """429 from the provider; `retry_after` in seconds when it said."""


class ProviderRequestError(ProviderError):
    """The provider refused the request itself (a 4xx we caused, e.g. a range over its limit)."""


class RevocationUnsupported(ProviderError):
    """The provider offers no way to revoke a grant by API: the user removes access on its site."""


class Provider(ABC):
    """One configured ad platform. Implementations live one per module in this package."""

    id: str
    display_name: str
    kind: str
    scopes: list[str]
    redirect_mode: RedirectMode
    issuer: str | None
    max_report_days: int
    # `{public_url}/v1/flows/callback` when redirect_mode is "backend" (set by the registry).
    relay_redirect_uri: str | None = None

    def provider_redirect_uri(self, loopback_redirect_uri: str) -> str:
        """The redirect_uri to send to the provider: the desktop's receiver, or the relay."""
        if self.redirect_mode == "backend":
            if not self.relay_redirect_uri:
                raise ProviderRequestError(
                    f"{self.display_name} redirects to the backend, but the backend's public URL "
                    "is not configured."
                )
            return self.relay_redirect_uri
        return loopback_redirect_uri

    @abstractmethod
    def authorization_url(
        self, *, redirect_uri: str, state: str, code_challenge: str, nonce: str | None
    ) -> str: ...

    @abstractmethod
    async def redeem_code(
        self, *, code: Secret, redirect_uri: str, code_verifier: Secret
    ) -> TokenSet: ...

    @abstractmethod
    async def refresh(self, refresh_token: Secret) -> TokenSet: ...

    @abstractmethod
    async def revoke(self, token: Secret) -> None: ...

    @abstractmethod
    async def identify(self, tokens: TokenSet) -> Identity: ...

    @abstractmethod
    async def list_accounts(self, access_token: Secret) -> list[AdAccount]: ...

    @abstractmethod
    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release pooled HTTP connections."""
