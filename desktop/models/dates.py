"""Date-range presets for reports (ending yesterday, like the ad platforms' own presets)."""

from __future__ import annotations

from datetime import date, timedelta

PRESETS = ("Last 7 days", "Last 30 days", "Last 90 days", "This month", "Last month")
CUSTOM = "Custom range"


def preset_range(name: str, today: date) -> tuple[date, date]:
    """(since, until) for a preset; full days, in the account's calendar."""
    yesterday = today - timedelta(days=1)
    if name == "Last 7 days":
        return yesterday - timedelta(days=6), yesterday
    if name == "Last 30 days":
        return yesterday - timedelta(days=29), yesterday
    if name == "Last 90 days":
        return yesterday - timedelta(days=89), yesterday
    if name == "This month":
        return today.replace(day=1), today
    if name == "Last month":
        last_of_previous = today.replace(day=1) - timedelta(days=1)
        return last_of_previous.replace(day=1), last_of_previous
    raise ValueError(f"Unknown date range: {name}")
