"""What a report adapter does (read identity, accounts and daily rows) and what it shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import httpx

from backend.providers.base import (
    AdAccount,
    ProviderUnavailable,
    RawReport,
    RawRow,
    ReportQuery,
)
from backend.providers.http import RetryPolicy, request_with_retries
from backend.secret import Secret


@dataclass(frozen=True)
class HttpContext:
    """The pooled client, the provider's display name (for messages) and its retry policy."""

    client: httpx.AsyncClient
    provider: str
    policy: RetryPolicy

    async def get_json(
        self,
        url: str,
        token: Secret,
        action: str,
        *,
        error: Callable[[httpx.Response, str], Exception],
        params: dict[str, str] | None = None,
        final: Callable[[httpx.Response], bool] | None = None,
    ) -> Any:
        """GET an ads API with the bearer token; `error(response, action)` words a non-200."""
        response = await request_with_retries(
            self.client,
            "GET",
            url,
            provider=self.provider,
            action=action,
            policy=self.policy,
            params=params,
            headers=bearer(token),
            final=final,
        )
        if response.status_code != 200:
            raise error(response, action)
        return json_of(response, self.provider, action)


@dataclass(frozen=True)
class Me:
    """Who an access token belongs to, as the ads API says."""

    subject: str
    display_name: str


class ReportAdapter(ABC):
    """One ads API: `demo`, `meta_insights` or `google_ads`."""

    name: str

    @abstractmethod
    async def me(self, access_token: Secret) -> Me | None:
        """The account behind the token, or None when this API cannot say."""

    @abstractmethod
    async def list_accounts(self, access_token: Secret) -> list[AdAccount]: ...

    @abstractmethod
    async def fetch_report(self, access_token: Secret, query: ReportQuery) -> list[RawRow]:
        """Every row of the range, all pages followed to the end."""

    levels: tuple[str, ...] = ("account", "campaign")
    breakdowns: tuple[str, ...] = ()

    async def fetch_report_data(self, access_token: Secret, query: ReportQuery) -> RawReport:
        """Rows and, where the API offers one, its aggregate of the range (reach, frequency)."""
        return RawReport(await self.fetch_report(access_token, query))


def bearer(token: Secret) -> dict[str, str]:
    """RFC 6750 §2.1: the token goes in a header, never in a URL that might be logged."""
    return {"Authorization": f"Bearer {token.reveal()}", "Accept": "application/json"}


def json_of(response: httpx.Response, provider: str, action: str) -> Any:
    """The JSON body of a successful response; garbage reads as the provider being unwell."""
    try:
        return response.json()
    except ValueError:
        raise ProviderUnavailable(
            f"{provider} sent an unreadable answer when we tried to {action}; try again shortly."
        ) from None


def to_int(value: Any) -> int:
    """A count that may arrive as a string or a JSON number (or be absent: zero)."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    try:
        # Fractional counts (Google's modelled conversions) round half up to whole ones.
        return int(Decimal(str(value)).to_integral_value(rounding=ROUND_HALF_UP))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def to_decimal(value: Any) -> Decimal:
    """Money as an exact Decimal; strings stay exact, JSON floats go through their repr."""
    if value is None or value == "":
        return Decimal(0)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {value!r}") from None
