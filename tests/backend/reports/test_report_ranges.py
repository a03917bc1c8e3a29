"""Presets and comparisons in the ad account's time zone, with a fixed clock (no wall clock).

Meta's date_preset meanings: last_Nd ends yesterday, this_week starts on Monday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from backend.reports.ranges import compare_range, preset_range, today_in

# 23:30 UTC on Sunday 30 November 2025: already Monday 1 December in Berlin and Tokyo,
# still Sunday in New York.
NOW = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)


def test_today_is_the_accounts_calendar_day() -> None:
    assert today_in("Europe/Berlin", NOW) == date(2025, 12, 1)
    assert today_in("America/New_York", NOW) == date(2025, 11, 30)
    assert today_in("Not/AZone", NOW) == date(2025, 11, 30)  # unknown: UTC


@pytest.mark.parametrize(
    ("preset", "zone", "expected"),
    [
        ("today", "Europe/Berlin", ("2025-12-01", "2025-12-01")),
        ("today", "America/New_York", ("2025-11-30", "2025-11-30")),
        ("yesterday", "Europe/Berlin", ("2025-11-30", "2025-11-30")),
        ("last_7d", "Europe/Berlin", ("2025-11-24", "2025-11-30")),
        ("last_7d", "America/New_York", ("2025-11-23", "2025-11-29")),
        ("last_30d", "Asia/Tokyo", ("2025-11-01", "2025-11-30")),
        ("this_week", "Europe/Berlin", ("2025-12-01", "2025-12-01")),
        ("this_week", "America/New_York", ("2025-11-24", "2025-11-30")),
        ("this_month", "Europe/Berlin", ("2025-12-01", "2025-12-01")),
        ("this_month", "America/New_York", ("2025-11-01", "2025-11-30")),
        ("last_month", "Europe/Berlin", ("2025-11-01", "2025-11-30")),
        ("last_month", "America/New_York", ("2025-10-01", "2025-10-31")),
    ],
)
def test_presets_in_the_accounts_time_zone(
    preset: str, zone: str, expected: tuple[str, str]
) -> None:
    since, until = preset_range(preset, today_in(zone, NOW))
    assert (since.isoformat(), until.isoformat()) == expected


def test_comparison_ranges() -> None:
    assert compare_range("previous_period", date(2026, 3, 1), date(2026, 3, 7)) == (
        date(2026, 2, 22), date(2026, 2, 28),
    )  # fmt: skip
    assert compare_range("previous_year", date(2024, 2, 29), date(2024, 3, 1)) == (
        date(2023, 2, 28), date(2023, 3, 1),
    )  # fmt: skip
