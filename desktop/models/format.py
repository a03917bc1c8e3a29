"""Words and numbers for display: relative times, status labels, decimal strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the window's first paint formats no money
    from decimal import Decimal


def parse_time(value: object) -> datetime | None:
    """An API timestamp (ISO 8601, `Z`) as an aware datetime; None when missing or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def relative_time(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 minutes ago', 'yesterday', '3 days ago' — or 'never'."""
    if when is None:
        return "never"
    now = now or datetime.now(UTC)
    seconds = int((now - when).total_seconds())
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return "1 minute ago" if minutes == 1 else f"{minutes} minutes ago"
    hours = round(seconds / 3600)
    if hours < 24:
        return "1 hour ago" if hours == 1 else f"{hours} hours ago"
    days = round(seconds / 86400)
    if days == 1:
        return "yesterday"
    if days < 60:
        return f"{days} days ago"
    return when.astimezone().strftime("%d %b %Y")


def format_integer(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "—" if value is None else str(value)
    return f"{value:,}"


def format_decimal(value: object, suffix: str = "") -> str:
    """Money and percentages arrive as decimal strings: show them as sent, grouped, never floats."""
    if value is None:
        return "—"
    from decimal import Decimal, InvalidOperation

    text = str(value)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    if not number.is_finite():
        return text
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-")
    whole, _, fraction = digits.partition(".")
    grouped = f"{int(whole):,}" if whole.isdigit() else whole
    return f"{sign}{grouped}{'.' + fraction if fraction else ''}{suffix}"


def to_decimal(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def rich_safe(text: str) -> str:
    """`text` for places Qt may read as HTML and that have no plain-text switch (tooltips, tray
    balloons): escaped inside a paragraph, so Qt takes it as rich text and shows every
    character literally — a provider's `<h1>x</h1>` stays those nine characters. Text without
    a `<` cannot hold a tag and is returned as it is."""
    if "<" not in text:  # no tag, so Qt shows it as plain text already: leave it be
        return text
    return '<p style="white-space:pre-wrap">' + _escape(text) + "</p>"


def _escape(text: str) -> str:
    """`html.escape(text, quote=False)`, without importing `html` and its 2,000-entry table
    before the window's first paint (bench/cold_start.py)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
