"""Plain-text renderings for the command line: tables, CSV, one-line summaries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from desktop.models.expiry import expiry_warning, local_time

NUMERIC_TYPES = {"integer", "money", "percent", "number", "decimal"}


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """An aligned text table; `right` marks the right-aligned (numeric) columns."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = [
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(cells, widths, right, strict=True)
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _value(value: Any, column: dict[str, Any]) -> str:
    if value is not None and column.get("type") == "percent":
        return f"{value} %"
    return cell(value)


def report_table(report: dict[str, Any]) -> str:
    """The report's rows under their labels, then a totals line with the summed metrics."""
    columns: list[dict[str, Any]] = report.get("columns") or []
    keys = [str(c.get("key")) for c in columns]
    headers = [str(c.get("label") or c.get("key")) for c in columns]
    right = [c.get("type") in NUMERIC_TYPES for c in columns]
    rows = [
        [_value(v, c) for v, c in zip(r, columns, strict=False)] for r in report.get("rows") or []
    ]
    totals = report.get("totals") or {}
    total_row = []
    for i, (key, col) in enumerate(zip(keys, columns, strict=True)):
        if key in totals:
            total_row.append(_value(totals[key], col))
        else:
            total_row.append("Total" if i == 0 else "")
    body = table(headers, [*rows, total_row], right) if columns else "(no columns)"
    account = report.get("account") or {}
    title = (
        f"{account.get('name') or account.get('id') or 'Account'}"
        f" ({account.get('id', '')}, {account.get('currency', '')})"
        f" — {report.get('since')} to {report.get('until')}, {report.get('level')} level"
    )
    lines = body.splitlines()
    if rows:
        # A rule above the totals line so it reads as a sum, not as another day.
        lines.insert(len(lines) - 1, lines[1])
    else:
        lines.insert(2, "(no data in this period)")
    return "\n".join([title, "", *lines, *_report_footer(report, columns)])


def _report_footer(report: dict[str, Any], columns: list[dict[str, Any]]) -> list[str]:
    """The comparison's change per total, totals per currency, and the report's notes."""
    out: list[str] = []
    labels = {str(c.get("key")): str(c.get("label") or c.get("key")) for c in columns}
    comparison = report.get("comparison") or {}
    if comparison:
        changes = []
        for key, value in (comparison.get("change") or {}).items():
            if value is None:
                changes.append(f"{labels.get(key, key)} –")
                continue
            pct = float(value) * 100
            changes.append(f"{labels.get(key, key)} {pct:+.1f} %")
        out += ["", f"Compared with {comparison.get('since')} to {comparison.get('until')}: "
                + ", ".join(changes)]  # fmt: skip
    by_currency = report.get("totals_by_currency") or {}
    if len(by_currency) > 1:
        out.append("")
        for currency, sums in by_currency.items():
            shown = ", ".join(f"{labels.get(k, k)} {cell(v)}" for k, v in sums.items())
            out.append(f"Total in {currency}: {shown}")
    notes = report.get("notes") or []
    if notes:
        out += ["", *(f"Note: {n}" for n in notes)]
    return out


def connections_table(connections: Sequence[dict[str, Any]], now: datetime | None = None) -> str:
    """One row per connection with its ad accounts by name and times in local time; below,
    why a connection needs attention and which grants lapse within 14 days."""
    if not connections:
        return "No connections yet. Connect one with: connected-accounts connect PROVIDER"
    rows = []
    for c in connections:
        status = str(c.get("status"))
        if c.get("revocation_pending"):
            status += " (revocation pending)"
        rows.append(
            [
                str(c.get("id", ""))[:8],
                str(c.get("provider_display_name") or c.get("provider")),
                cell(c.get("display_name")),
                status,
                account_names(c.get("accounts") or []),
                local_time(c.get("last_refreshed_at")),
                local_time(c.get("expires_at")),
            ]
        )
    headers = ["ID", "Provider", "Account", "Status", "Ad accounts", "Last refreshed", "Expires"]
    text = table(headers, rows, [False] * len(headers))
    notes = [
        f"{str(c.get('id'))[:8]}: {c['status_reason']}"
        for c in connections
        if c.get("status_reason") and c.get("status") != "connected"
    ]
    for c in connections:
        warning = expiry_warning(c, now)
        if warning is not None:
            reason = f" ({c['expiry_reason']})" if c.get("expiry_reason") else ""
            notes.append(f"{str(c.get('id'))[:8]}: {warning}{reason}")
    return "\n".join([text, *([""] + notes if notes else [])])


def account_names(accounts: Sequence[dict[str, Any]], shown: int = 3) -> str:
    names = [str(a.get("name") or a.get("id")) for a in accounts]
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def providers_table(providers: Sequence[dict[str, Any]]) -> str:
    if not providers:
        return "This backend has no providers enabled."
    rows = [
        [str(p.get("id")), str(p.get("display_name")), str(p.get("redirect", ""))]
        for p in providers
    ]
    return table(["ID", "Name", "Redirect"], rows, [False, False, False])


def connection_summary(c: dict[str, Any]) -> str:
    accounts = c.get("accounts") or []
    names = ", ".join(str(a.get("name") or a.get("id")) for a in accounts[:5])
    more = f" and {len(accounts) - 5} more" if len(accounts) > 5 else ""
    lines = [
        f"Connected {c.get('provider_display_name') or c.get('provider')}: "
        f"{c.get('display_name')} ({c.get('status')})",
        f"Connection id: {c.get('id')}",
        f"Ad accounts: {names}{more}" if accounts else "Ad accounts: none",
    ]
    return "\n".join(lines)
