"""CSV cells that a spreadsheet cannot run as formulas (CSV/formula injection, OWASP).

Every CSV this app writes (the window's export and `report --format csv`) goes through
`safe_row`, and through the stdlib `csv` writer, which quotes a cell holding CR, LF, the
delimiter or a quote (RFC 4180 §2.6), so a bare CR in a campaign name cannot split a row.

A text cell starting with `=`, `+`, `-`, `@`, tab or CR is written with a leading `'`, which
spreadsheets show as text instead of evaluating. Deliberate exception: a cell that is a plain
decimal number (`-12.50`, `-3`) is left alone. Money and other decimals travel as strings,
so a negative amount would otherwise turn into the text `'-12.50` and stop adding up; a plain
number cannot call a function or reach another cell, so it carries no formula.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def safe_cell(value: object) -> object:
    """`value` as a CSV cell: None becomes empty; formula-like text gets a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(row: Sequence[object]) -> list[object]:
    return [safe_cell(v) for v in row]
