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
    ReportTooLarge,
)
from backend.providers.http import RetryPolicy, request_with_retries
from backend.secret import Secret

# One report holds at most this many rows (issue 14 point 13): past it, one request would keep
# the backend paging, normalising and sending for minutes and gigabytes.
MAX_REPORT_ROWS = 2_000_000
# Pages followed for one listing, whatever the page size (a provider that pages forever, or in
# tiny pages, must not keep us busy): at 500 rows a page, the row cap and some margin.
MAX_PAGES = 4_200


@dataclass(frozen=True)
class HttpContext:
    """The pooled client, the provider's display name (for messages), its retry policy, and
    how much one listing may hold."""

    client: httpx.AsyncClient
    provider: str
    policy: RetryPolicy
    max_rows: int = MAX_REPORT_ROWS
    max_pages: int = MAX_PAGES

    def check_size(self, pages: int, rows: int, *, report: bool = True) -> None:
        """Stop paging once a listing is past the caps, saying what to do instead."""
        if rows <= self.max_rows and pages <= self.max_pages:
            return
        if report:
            raise ReportTooLarge(
                f"This report would have more than {self.max_rows:,} rows, more than one "
                "report can hold; narrow the dates or the level (or pick fewer accounts)."
            )
        raise ReportTooLarge(
            f"{self.provider} sent more than {self.max_pages:,} pages ({rows:,} items); "
            "that is more than this app reads at once."
        )

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
