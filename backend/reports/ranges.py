"""Date presets, "today" and comparison ranges, all in the ad account's own time zone.

Providers report by the account's calendar day (Meta and Google both bill and bucket in the
account's time zone), so "yesterday" at 01:00 in Berlin is not UTC's yesterday.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PRESETS: Final = (
    "today",
    "yesterday",
    "last_7d",
    "last_14d",
    "last_30d",
    "last_90d",
    "this_week",
    "this_month",
    "last_month",
)
DEFAULT_PRESET: Final = "last_30d"
COMPARES: Final = ("previous_period", "previous_year")


def today_in(time_zone: str, now: datetime) -> date:
    """The calendar day it is in `time_zone` at the aware instant `now` (unknown zone: UTC)."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return now.astimezone(zone).date()


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """Meta's date_preset meanings: `last_Nd` ends yesterday; weeks start on Monday."""
    if preset == "today":
        return today, today
    if preset == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if preset.startswith("last_") and preset.endswith("d"):
        days = int(preset[5:-1])
        return today - timedelta(days=days), today - timedelta(days=1)
    if preset == "this_week":
        return today - timedelta(days=today.weekday()), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    raise ValueError(preset)


def compare_range(kind: str, since: date, until: date) -> tuple[date, date]:
    """The period just before (same length), or the same days a year earlier."""
    if kind == "previous_period":
        length = until - since + timedelta(days=1)
        return since - length, until - length
    return _year_back(since), _year_back(until)


def _year_back(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February -> 28 February
        return day.replace(year=day.year - 1, day=28)
