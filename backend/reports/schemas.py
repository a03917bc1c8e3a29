"""The report answer (docs/ARCHITECTURE.md "Report").

Documents the body only: the endpoint sends it pre-serialized, since validating 100,000 rows
through pydantic on every request would cost more than building them (bench/backend_overhead.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from backend.connections.schemas import AccountOut

Cell = str | int | None
"""A row cell: dates, ids, names and decimal strings are strings, counts are numbers; a ratio
whose denominator is 0 is null."""


class ColumnOut(BaseModel):
    """One column of the rows, in order: its key, its label and how to show its values."""

    model_config = ConfigDict(extra="forbid")

    key: str
    label: str
    type: Literal["date", "string", "integer", "money", "percent", "decimal"]


class ReportTotals(BaseModel):
    """Sums, and ratios from the sums; only the selected metrics are present."""

    model_config = ConfigDict(extra="forbid")

    impressions: int | None = None
    clicks: int | None = None
    spend: str | None = None
    reach: int | None = None  # the provider's own aggregate of the range, never a sum
    frequency: str | None = None
    conversions: int | str | None = None  # a decimal string where the provider reports fractions
    conversion_value: str | None = None
    ctr: str | None = None
    cpc: str | None = None
    cpm: str | None = None
    cpa: str | None = None
    roas: str | None = None


class ReportAccountOut(AccountOut):
    """One of several accounts in a report, with its own range (presets follow its time zone)."""

    since: str
    until: str


class ComparisonOut(BaseModel):
    """The comparison period's totals and the relative change of each total (null: base 0)."""

    model_config = ConfigDict(extra="forbid")

    compare: Literal["previous_period", "previous_year"]
    since: str
    until: str
    totals: ReportTotals
    change: dict[str, str | None]


class ReportOut(BaseModel):
    """The normalised report of one account: `rows` are arrays in `columns` order."""

    model_config = ConfigDict(extra="forbid")  # held to by tests, not at runtime

    connection_id: str
    provider: str
    account: AccountOut
    since: str
    until: str
    level: Literal["account", "campaign", "adset", "ad"]
    breakdowns: list[str] | None = None
    time: Literal["daily", "total"] | None = None
    columns: list[ColumnOut]
    rows: list[list[Cell]]
    totals: ReportTotals
    accounts: list[ReportAccountOut] | None = None  # several accounts only
    totals_by_currency: dict[str, ReportTotals] | None = None  # several accounts only
    comparison: ComparisonOut | None = None
    notes: list[str] | None = None
    fetched_at: str
    cached: bool
