"""`connected-accounts report`: its arguments, and writing the report as a table, JSON or CSV.

The one CSV format (the window's export writes the same): a header of column keys, ISO dates,
`account_id` and `currency` on every row, decimals exactly as the API sent them, ratio columns
with their unit in the header (`ctr_percent`, `roas_ratio`), formula-safe cells
(desktop/models/csv_cells.py), and no total row unless `--totals` asks for one (per currency).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from desktop.cli.backend import CliError
from desktop.cli.output import report_table, to_json
from desktop.models.csv_cells import safe_row

LEVELS = ("account", "campaign", "adset", "ad")
PRESETS = (
    "today", "yesterday", "last_7d", "last_14d", "last_30d", "last_90d", "this_week",
    "this_month", "last_month",
)  # fmt: skip
BREAKDOWNS = ("age", "gender", "country", "platform", "device")
METRICS = (
    "impressions", "clicks", "spend", "reach", "frequency", "conversions", "conversion_value",
    "ctr", "cpc", "cpm", "cpa", "roas",
)  # fmt: skip
COMPARES = ("previous_period", "previous_year")
# Ratio columns: the unit goes into the CSV header, the value stays a plain decimal.
_UNITS = {"percent": "percent"}
_KEY_UNITS = {"roas": "ratio", "frequency": "per_person"}


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-01") from None


def _metrics(value: str) -> list[str]:
    wanted = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in METRICS]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"unknown metric {', '.join(unknown) or '(none)'}; choose from {','.join(METRICS)}"
        )
    return wanted


def add_report_arguments(report: argparse.ArgumentParser) -> None:
    report.add_argument("connection", help="connection id or a unique prefix")
    who = report.add_mutually_exclusive_group()
    who.add_argument("--account", nargs="+", action="extend", metavar="A",
                     help="ad account id(s) (default: the only one)")  # fmt: skip
    who.add_argument("--all-accounts", action="store_true", help="every covered ad account")
    report.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    report.add_argument("--until", type=_date, metavar="YYYY-MM-DD")
    zone_help = "a range in the ad account's time zone (default last_30d)"
    report.add_argument("--preset", choices=PRESETS, help=zone_help)
    report.add_argument("--level", choices=LEVELS, default="account")
    report.add_argument("--breakdown", nargs="+", action="extend", choices=BREAKDOWNS)
    report.add_argument("--time", choices=("daily", "total"), default="daily")
    report.add_argument("--metrics", type=_metrics, metavar="M,M,…",
                        help=f"comma list of {','.join(METRICS)}")  # fmt: skip
    report.add_argument("--compare", choices=COMPARES)
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--totals", action="store_true", help="CSV: add the total row(s)")
    out_help = "write to this file (a folder: a file named after the account)"
    report.add_argument("--output", "-o", metavar="PATH", help=out_help)


def check_report_arguments(args: argparse.Namespace) -> None:
    if (args.since is None) != (args.until is None):
        raise CliError("Give both --since and --until, or a --preset.", 2)
    if args.since is not None and args.preset:
        raise CliError("Give either --since/--until or --preset, not both.", 2)
    if args.since is not None and args.since > args.until:
        raise CliError("--since must be on or before --until.", 2)


def csv_header(columns: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in columns:
        key = str(c.get("key"))
        unit = _KEY_UNITS.get(key) or _UNITS.get(str(c.get("type")))
        out.append(f"{key}_{unit}" if unit else key)
    return out


def report_csv(report: dict[str, Any], *, totals: bool = False) -> str:
    """The report in the one CSV format (RFC 4180, formula-safe cells)."""
    columns: list[dict[str, Any]] = list(report.get("columns") or [])
    keys = [str(c.get("key")) for c in columns]
    account = report.get("account") or {}
    add_account = "account_id" not in keys  # one account: its id and currency on every row
    # The several-accounts layout for one account too: date (if daily), account_id, currency.
    at = 1 if keys[:1] == ["date"] else 0
    if add_account:
        columns[at:at] = [{"key": "account_id"}, {"key": "currency"}]
        keys[at:at] = ["account_id", "currency"]
    fixed = [account.get("id"), account.get("currency")] if add_account else []
    out = io.StringIO()
    # CRLF rows (RFC 4180 §2.1): the writer quotes a cell holding any character of its line
    # terminator, so with "\n" alone a bare CR in a name went out unquoted and split the row.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(safe_row(csv_header(columns)))
    for row in report.get("rows") or []:
        writer.writerow(safe_row([*row[:at], *fixed, *row[at:]]))
    if totals:
        by_currency = report.get("totals_by_currency") or {
            str(account.get("currency") or ""): report.get("totals") or {}
        }
        for currency, sums in by_currency.items():
            cells: list[object] = []
            for key in keys:
                if key == "currency":
                    cells.append(currency)
                elif key in sums:
                    cells.append(sums[key])
                else:
                    cells.append("")
            cells[0] = "Total"
            writer.writerow(safe_row(cells))
    return out.getvalue()


def default_file_name(report: dict[str, Any], fmt: str) -> str:
    """`report-{account}-{since}-{until}.{csv|json|txt}`, safe as a file name anywhere."""
    several = report.get("accounts")
    who = "all-accounts" if several else str((report.get("account") or {}).get("id") or "")
    raw = f"report-{who}-{report.get('since')}-{report.get('until')}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._") or "report"
    return f"{name}.{ {'csv': 'csv', 'json': 'json'}.get(fmt, 'txt') }"


def render(report: dict[str, Any], args: argparse.Namespace) -> str:
    if args.format == "json":
        return to_json(report) + "\n"
    if args.format == "csv":
        return report_csv(report, totals=args.totals)
    return report_table(report) + "\n"


def write_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    text = render(report, args)
    if not args.output or args.output == "-":
        sys.stdout.write(text)
        return
    path = Path(args.output)
    if path.is_dir():
        path = path / default_file_name(report, args.format)
    try:
        # newline="" keeps the CSV writer's line ends as they are (RFC 4180 rows).
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise CliError(f"Could not write {path}: {exc.strerror or exc}.", 1) from None
    print(f"Wrote {path}", file=sys.stderr)
