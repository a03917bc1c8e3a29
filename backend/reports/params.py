"""The reports endpoint's query string, checked without the database, problems in words."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, get_args

from backend.errors import InvalidRequest
from backend.providers.base import BREAKDOWNS, Level, TimeGrain
from backend.reports.normalize import METRICS
from backend.reports.ranges import COMPARES, DEFAULT_PRESET, PRESETS
from backend.reports.shape import ALL_METRICS

_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEVELS: Final = get_args(Level)


@dataclass(frozen=True)
class ReportParams:
    """The query string, checked; `accounts` empty means the first covered one."""

    account: str | None
    since: date | None
    until: date | None
    level: Level
    metrics: list[str]
    accounts: tuple[str, ...] = ()
    all_accounts: bool = False
    preset: str | None = None
    breakdowns: tuple[str, ...] = ()
    time: TimeGrain = "daily"
    compare: str | None = None

    @property
    def classic(self) -> bool:
        """The report existing callers know: one account, daily, account/campaign, old metrics."""
        return (
            len(self.accounts) <= 1 and not self.all_accounts and not self.breakdowns
            and self.time == "daily" and self.level in ("account", "campaign")
            and not self.compare and set(self.metrics) <= set(METRICS)
        )  # fmt: skip


def _parse_date(name: str, value: str | None) -> date:
    if not value:
        raise InvalidRequest(f"Give '{name}' as a date like 2026-11-01.")
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"'{name}' must be a real date written YYYY-MM-DD, like 2026-11-01."
        ) from None


def _words(values: list[str] | str | None) -> list[str]:
    """A repeatable parameter that may also be a comma list."""
    items = [values] if isinstance(values, str) else (values or [])
    return [w.strip() for v in items for w in v.split(",") if w.strip()]


def parse_params(
    *,
    account: list[str] | str | None,
    since: str | None,
    until: str | None,
    level: str | None,
    metrics: str | None,
    all_accounts: bool = False,
    preset: str | None = None,
    breakdowns: list[str] | str | None = None,
    time: str | None = None,
    compare: str | None = None,
) -> ReportParams:
    """Everything checkable without the database, each problem in words."""
    first = last = None
    if since or until or not preset:
        if preset and (since or until):
            raise InvalidRequest("Give either 'preset' or 'since' and 'until', not both.")
        if since or until:
            first = _parse_date("since", since)
            last = _parse_date("until", until)
            if first > last:
                raise InvalidRequest(
                    f"The report starts ({first}) after it ends ({last}); swap the dates."
                )
    if preset and preset not in PRESETS:
        raise InvalidRequest(f"'preset' must be one of {', '.join(PRESETS)}.")
    lvl = level or "account"
    if lvl not in _LEVELS:
        raise InvalidRequest(f"'level' must be one of {', '.join(_LEVELS)}.")
    wanted = [m.strip() for m in (metrics or "").split(",") if m.strip()] or list(METRICS)
    unknown = [m for m in wanted if m not in ALL_METRICS]
    if unknown:
        raise InvalidRequest(
            f"Unknown metric {', '.join(repr(m[:40]) for m in unknown)}; "
            f"choose from {', '.join(ALL_METRICS)}."
        )
    chosen = [m for m in ALL_METRICS if m in set(wanted)]
    dims = _words(breakdowns)
    bad = [b for b in dims if b not in BREAKDOWNS]
    if bad:
        raise InvalidRequest(
            f"Unknown breakdown {', '.join(repr(b[:40]) for b in bad)}; "
            f"choose from {', '.join(BREAKDOWNS)}."
        )
    if len(set(dims)) != len(dims):
        raise InvalidRequest("Name each breakdown once.")
    grain = time or "daily"
    if grain not in ("daily", "total"):
        raise InvalidRequest("'time' must be daily or total.")
    if compare and compare not in COMPARES:
        raise InvalidRequest(f"'compare' must be one of {', '.join(COMPARES)}.")
    accounts = tuple(dict.fromkeys(_words(account)))
    if all_accounts and accounts:
        raise InvalidRequest("Give either 'account' or 'all_accounts', not both.")
    return ReportParams(
        accounts[0] if len(accounts) == 1 else None, first, last, lvl, chosen,  # type: ignore[arg-type]
        accounts=accounts, all_accounts=all_accounts,
        preset=None if first else (preset or DEFAULT_PRESET), breakdowns=tuple(dims),
        time=grain, compare=compare or None,  # type: ignore[arg-type]
    )  # fmt: skip


QUERY: Final = (
    ("account", "list", 200), ("all_accounts", "flag", 5), ("since", "text", 200),
    ("until", "text", 200), ("preset", "text", 200), ("level", "text", 200),
    ("breakdowns", "list", 200), ("time", "text", 200), ("metrics", "text", 500),
    ("compare", "text", 200),
)  # fmt: skip
"""The reports endpoint's query parameters: (name, kind, longest value). A "list" may be
repeated (up to MAX_VALUES times); a "flag" is true or false (_TRUE, _FALSE); "text" is one
value. Read by params_from_query, documented in OpenAPI by backend/reports/endpoints.py."""
# The most values a repeatable parameter may carry, and the most ad accounts one report asks for.
MAX_VALUES: Final = 200
MAX_ACCOUNTS: Final = 50
_LIMITS: Final = {name: (kind == "list", longest) for name, kind, longest in QUERY}
_TRUE: Final = frozenset({"1", "true", "on", "yes", "t", "y"})
_FALSE: Final = frozenset({"0", "false", "off", "no", "f", "n"})


def params_from_query(
    query: Mapping[str, str], getlist: Callable[[str], list[str]]
) -> ReportParams:
    """The reports endpoint's query string (`query.get` reads a value, the last one when
    repeated; `getlist` all of them), checked in words: lengths, then `parse_params`."""
    for name in query:  # only what was given: a report asks with four or five of them
        limits = _LIMITS.get(name)
        if limits is None:
            continue  # unknown parameters are ignored, as they always were
        repeatable, longest = limits
        values = getlist(name) if repeatable else [query[name]]
        if len(values) > MAX_VALUES:
            raise InvalidRequest(f"'{name}' is given too often: at most {MAX_VALUES} values.")
        if any(len(v) > longest for v in values):
            raise InvalidRequest(f"'{name}' is too long: at most {longest} characters.")
    account = getlist("account") or None
    if account is not None and len(account) > MAX_ACCOUNTS:
        raise InvalidRequest(f"Ask for at most {MAX_ACCOUNTS} ad accounts at a time.")
    flag = query.get("all_accounts", "false").lower()
    if flag not in _TRUE and flag not in _FALSE:
        raise InvalidRequest("'all_accounts' must be true or false.")
    return parse_params(
        account=account, all_accounts=flag in _TRUE, since=query.get("since"),
        until=query.get("until"), preset=query.get("preset"), level=query.get("level"),
        breakdowns=getlist("breakdowns") or None, time=query.get("time"),
        metrics=query.get("metrics"), compare=query.get("compare"),
    )  # fmt: skip
