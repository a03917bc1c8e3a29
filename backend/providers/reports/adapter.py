"""What a report adapter does (read identity, accounts and daily rows) and what it shares.

The HTTP context every adapter calls with (HttpContext, bearer, json_of) is in ../http.py:
the OAuth clients use it too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from backend.providers.base import AdAccount, RawReport, RawRow, ReportQuery
from backend.secret import Secret


@dataclass(frozen=True)
class Me:
    """Who an access token belongs to, as the ads API says."""

    subject: str
    display_name: str


class ReportAdapter(ABC):
    """One ads API, one module each in this folder (`name` is its `reports.adapter` value)."""

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
