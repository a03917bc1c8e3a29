"""When a grant lapses by itself, in the words the card, `list` and the notification share.

The backend sends `expires_at` (ISO 8601, UTC) and `expiry_reason` on every connection; from
`WARN_DAYS` before that moment a person is told to reconnect, while there is still time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from desktop.models.format import parse_time

WARN_DAYS = 14
# A connection that already needs reconnecting says so itself; a disconnected one lapses never.
WARNED_STATUSES = ("connected", "error")


def local_time(value: Any) -> str:
    """An API timestamp in this computer's time zone, to the minute ("–" when absent)."""
    parsed = parse_time(value)
    return parsed.astimezone().strftime("%Y-%m-%d %H:%M") if parsed is not None else "–"


def days_left(connection: Mapping[str, Any], now: datetime) -> int | None:
    """`days_until` for a connection as the API sends it."""
    return days_until(
        str(connection.get("status")),
        bool(connection.get("revocation_pending")),
        parse_time(connection.get("expires_at")),
        now,
    )


def days_until(status: str, pending: bool, expires: datetime | None, now: datetime) -> int | None:
    """Whole days until the grant lapses, counted up (9.2 days left is "10 days"): None when
    no lapse is known, the connection is not usable anyway, or the warning is not due yet."""
    if status not in WARNED_STATUSES or pending or expires is None:
        return None
    left = expires - now
    if left > timedelta(days=WARN_DAYS) or left <= timedelta(0):
        return None
    return max(1, math.ceil(left / timedelta(days=1)))


def expiry_warning(connection: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """ "Expires in N days: reconnect to keep reports flowing" within the last 14 days."""
    return warning_text(days_left(connection, now or datetime.now(UTC)))


def warning_text(days: int | None) -> str | None:
    if days is None:
        return None
    unit = "day" if days == 1 else "days"
    return f"Expires in {days} {unit}: reconnect to keep reports flowing"


def lapse_key(connection: Mapping[str, Any]) -> str | None:
    """Identifies one lapse of one connection (a reconnect brings a new date, a new warning)."""
    expires = parse_time(connection.get("expires_at"))
    if expires is None or not connection.get("id"):
        return None
    return f"{connection['id']}@{expires.astimezone(UTC).isoformat()}"
