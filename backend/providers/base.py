"""The provider interface every ad platform implements, and its error hierarchy."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from backend.secret import Secret

RedirectMode = Literal["loopback", "backend"]
Level = Literal["account", "campaign", "adset", "ad"]
TimeGrain = Literal["daily", "total"]
# The report's breakdown names (each provider maps them to its own; docs/PROVIDERS.md).
BREAKDOWNS: tuple[str, ...] = ("age", "gender", "country", "platform", "device")


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint returned; `refresh_token=None` means keep the old one."""

    access_token: Secret
    refresh_token: Secret | None
    expires_in: int | None
    scope: list[str] | None = None
    id_token: Secret | None = None
    # Seconds the refresh token itself lives, where the provider says (LinkedIn, Demo Ads).
    refresh_expires_in: int | None = None


@dataclass(frozen=True)
class AdAccount:
    """An ad account; `parent_id` is its manager (Google) or owning customer (Microsoft)."""

    id: str
    name: str
    currency: str
    time_zone: str
    parent_id: str | None = None
    is_manager: bool = False
    # Google Ads: the manager through which this account is reached (the login-customer-id
    # header of every call about it); None when the login reaches it directly.
    login_customer_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The account as stored with its connection and shown by the API."""
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "time_zone": self.time_zone,
            "parent_id": self.parent_id,
            "is_manager": self.is_manager,
            "login_customer_id": self.login_customer_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdAccount:
        """Read a stored account (rows stored before the hierarchy existed lack its keys)."""
        parent, login = data.get("parent_id"), data.get("login_customer_id")
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or data["id"]),
            currency=str(data.get("currency") or ""),
            time_zone=str(data.get("time_zone") or "UTC"),
            parent_id=str(parent) if parent else None,
            is_manager=bool(data.get("is_manager")),
            login_customer_id=str(login) if login else None,
        )


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
    # From the stored account: Google's login-customer-id, Microsoft's CustomerId.
    login_customer_id: str | None = None
    parent_id: str | None = None
    breakdowns: tuple[str, ...] = ()
    time: TimeGrain = "daily"
    # Ask for the provider's own aggregate of the whole range (reach is not additive).
    summary: bool = False


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
    adset_id: str | None = None
    adset_name: str | None = None
    ad_id: str | None = None
    ad_name: str | None = None
    # One value per breakdown asked for, under the report's breakdown name.
    dims: dict[str, str] = field(default_factory=dict)
    reach: int | None = None  # for exactly this row's range and entity, as the provider says
    conversion_value: Decimal = Decimal(0)
    # Fractional conversions as reported (Google's modelled conversions are doubles);
    # `conversions` keeps the rounded count the classic report shows.
    conversions_exact: Decimal | None = None


@dataclass(frozen=True)
class RawSummary:
    """The provider's own aggregate for the whole range and level (Meta's default_summary)."""

    reach: int | None
    frequency: Decimal | None = None


@dataclass
class RawReport:
    rows: list[RawRow]
    summary: RawSummary | None = None
    # A plain sentence when something asked for is not offered by this provider (e.g. reach).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GrantLapse:
    """When a provider ends a grant by itself, and why, in words.

    `fixed`: at a date set when the grant was made (`days` after it unless the provider said);
    `unused`: `days` after the grant was last used (each refresh is a use).
    """

    kind: Literal["fixed", "unused"]
    days: int
    reason: str


class ProviderError(Exception):
    """Base of every provider failure; the message is plain words and never holds a token."""


class InvalidGrant(ProviderError):
    """The grant is gone (revoked, expired, reused): the connection needs reconnecting.

    `reason`, when the provider said why, is a plain sentence naming the cause and the remedy;
    it becomes the connection's needs_reconnect reason.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


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


class ReportTooLarge(ProviderRequestError):
    """More rows (or pages) than one report may hold: refused in words, not fetched to the end."""


class RevocationUnsupported(ProviderError):
    """The provider offers no way to revoke a grant by API: the user removes access on its site
    (at `manage_access_url` when known)."""

    def __init__(self, message: str, *, manage_access_url: str | None = None) -> None:
        super().__init__(message)
        self.manage_access_url = manage_access_url


class Provider(ABC):
    """One configured ad platform. Implementations: oauth/oauth2.py, platforms/meta.py."""

    id: str
    display_name: str
    kind: str
    scopes: list[str]
    redirect_mode: RedirectMode
    issuer: str | None
    max_report_days: int
    # `{public_url}/v1/flows/callback` when redirect_mode is "backend" (set by the registry).
    relay_redirect_uri: str | None = None
    # How a grant lapses (backend/providers/lapse.py); None: the provider does not say.
    lapse: GrantLapse | None = None
    # RFC 9207 §3: the provider promises `iss` in every authorization response, so one
    # without it is refused (a mix-up defence, RFC 9700 §4.4.2).
    iss_parameter_supported: bool = False

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
    async def identify(self, tokens: TokenSet, *, nonce: str | None = None) -> Identity:
        """Who the grant belongs to; `nonce` (OIDC Core §3.1.3.7 (11)) when the flow sent one."""

    @abstractmethod
    async def list_accounts(self, access_token: Secret) -> list[AdAccount]: ...

    @abstractmethod
    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]: ...

    # What this provider's reports can do (refused in words otherwise).
    report_levels: tuple[str, ...] = ("account", "campaign")
    report_breakdowns: tuple[str, ...] = ()

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        """Rows plus the provider's aggregate; providers without one give no summary."""
        return RawReport(await self.fetch_report(access_token, query))

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release pooled HTTP connections."""
