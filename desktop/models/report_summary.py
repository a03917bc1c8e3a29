"""The report's comparison and per-currency totals, as words the window shows.

A change is told three ways at once, so it reads without colour: an arrow, a sign and the
percentage (▲ +12.3 % / ▼ −4.0 %); the colour (blue up, orange down: a pair told apart with
every common colour-vision deficiency) only repeats it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from desktop.models.report import format_cell

UP_COLOUR = "#1f6feb"
DOWN_COLOUR = "#c4540b"
FLAT_COLOUR = "#6e7781"


@dataclass(frozen=True)
class Change:
    key: str
    label: str
    text: str  # "▲ +12.3 %", "▼ −4.0 %", "■ 0.0 %" or "– no base"
    direction: int  # 1 up, -1 down, 0 flat or unknown

    @property
    def colour(self) -> str:
        return {1: UP_COLOUR, -1: DOWN_COLOUR}.get(self.direction, FLAT_COLOUR)


def change_text(value: object) -> tuple[str, int]:
    """A relative change (0.123 = +12.3 %) as arrow, sign and percentage, and its direction."""
    if value is None:
        return "– no base", 0
    try:
        pct = (Decimal(str(value)) * 100).quantize(Decimal("0.1"))
    except (InvalidOperation, ValueError):
        return "– no base", 0
    if pct > 0:
        return f"▲ +{pct} %", 1
    if pct < 0:
        return f"▼ −{-pct} %", -1  # a real minus sign, as typeset
    return "■ 0.0 %", 0


def changes(report: dict[str, Any] | None) -> list[Change]:
    """Each total's change against the comparison period, in column order."""
    comparison = (report or {}).get("comparison") or {}
    change = comparison.get("change") or {}
    out: list[Change] = []
    for column in (report or {}).get("columns") or []:
        key = str(column.get("key"))
        if key in change:
            text, direction = change_text(change[key])
            out.append(Change(key, str(column.get("label") or key), text, direction))
    return out


def compared_range(report: dict[str, Any] | None) -> str:
    comparison = (report or {}).get("comparison") or {}
    if not comparison:
        return ""
    return f"Compared with {comparison.get('since')} to {comparison.get('until')}"


def currency_totals(report: dict[str, Any] | None) -> list[str]:
    """One line per currency when the report spans several accounts; money is never added
    across currencies, so each currency keeps its own totals."""
    by_currency = (report or {}).get("totals_by_currency") or {}
    if not by_currency:
        return []
    columns = {str(c.get("key")): c for c in (report or {}).get("columns") or []}
    lines = []
    for currency, sums in by_currency.items():
        cells = []
        for key, value in sums.items():
            column = columns.get(key)
            if column is None:
                continue
            label = column.get("label") or key
            cells.append(f"{label} {format_cell(value, str(column.get('type', '')))}")
        lines.append(f"{currency}: " + ", ".join(cells))
    return lines
