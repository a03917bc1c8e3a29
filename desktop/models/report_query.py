"""What the Reports window asks for: one query object, built from the window's choices.

The view only reads and writes this object's fields; the fetch, the cache key and the status
line all come from here, so the window and `connected-accounts report` ask the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

LEVELS = {"account": "Account", "campaign": "Campaign", "adset": "Ad set", "ad": "Ad"}
BREAKDOWNS = {
    "age": "Age",
    "gender": "Gender",
    "country": "Country",
    "platform": "Platform",
    "device": "Device",
}
TIMES = {"daily": "Daily", "total": "Total"}
COMPARES = {
    "": "No comparison",
    "previous_period": "Previous period",
    "previous_year": "Previous year",
}
METRICS = {
    "impressions": "Impressions",
    "clicks": "Clicks",
    "spend": "Spend",
    "reach": "Reach",
    "frequency": "Frequency",
    "conversions": "Conversions",
    "conversion_value": "Conversion value",
    "ctr": "CTR",
    "cpc": "CPC",
    "cpm": "CPM",
    "cpa": "CPA",
    "roas": "ROAS",
}
DEFAULT_METRICS = ("impressions", "clicks", "spend", "conversions", "ctr", "cpc", "cpm")
"""The columns a report had before issue 16: a plain Load asks for what it always did."""

ALL_ACCOUNTS = "*all*"
"""The account box's "All accounts" entry."""


@dataclass(frozen=True)
class ReportQuery:
    """One report request: `GET /v1/connections/{id}/reports`' options, checked by the backend."""

    since: date
    until: date
    accounts: tuple[str, ...] = ()
    all_accounts: bool = False
    level: str = "account"
    breakdowns: tuple[str, ...] = ()
    time: str = "daily"
    metrics: tuple[str, ...] = DEFAULT_METRICS
    compare: str | None = None

    @property
    def account(self) -> str | None:
        """The one account asked for, if exactly one."""
        return self.accounts[0] if len(self.accounts) == 1 and not self.all_accounts else None

    def with_(self, **changes: Any) -> ReportQuery:
        return replace(self, **changes)

    def key(self) -> str:
        """A stable text naming this query: the cache keeps one report per key."""
        return json.dumps(
            {
                "accounts": sorted(self.accounts),
                "all": self.all_accounts,
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
                "level": self.level,
                "breakdowns": sorted(self.breakdowns),
                "time": self.time,
                "metrics": list(self.metrics),
                "compare": self.compare or "",
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `ApiClient.report`."""
        return {
            "account": self.account,
            "accounts": () if self.all_accounts else self.accounts,
            "all_accounts": self.all_accounts,
            "since": self.since,
            "until": self.until,
            "level": self.level,
            "breakdowns": self.breakdowns,
            "time": self.time,
            "metrics": list(self.metrics),
            "compare": self.compare,
        }

    def describe(self) -> str:
        """The query in words for the status line."""
        parts = [LEVELS.get(self.level, self.level), TIMES.get(self.time, self.time).lower()]
        if self.breakdowns:
            parts.append("by " + ", ".join(BREAKDOWNS.get(b, b) for b in self.breakdowns))
        if self.compare:
            parts.append("vs " + COMPARES.get(self.compare, self.compare).lower())
        return " · ".join(parts)
