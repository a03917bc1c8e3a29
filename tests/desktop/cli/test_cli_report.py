"""`connected-accounts report` end to end: the real backend, Demo Ads, the command line.

Follows the command line in docs (README "Command line") and the one CSV format
(desktop/cli/report.py): ISO dates, account_id and currency columns, units in ratio headers,
formula-safe cells (OWASP "CSV Injection"), no total row unless --totals.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from desktop.cli.output import report_table
from desktop.cli.report import report_csv
from tests.desktop.cli.test_cli_backend import (  # noqa: F401 - module-scoped fixtures
    Env,
    cli,
    connect_demo,
    env,
    signed_in,
)

RANGE = ["--since", "2026-11-01", "--until", "2026-11-07"]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_report_command_line_against_demo_ads(signed_in: Env, tmp_path: Path) -> None:  # noqa: F811
    code, out, err = connect_demo(signed_in)
    assert code == 0, err
    conn: dict[str, Any] = json.loads(out)
    prefix = conn["id"][:8]
    first = conn["accounts"][0]

    ads = cli(signed_in, "report", prefix, "--account", first["id"], *RANGE, "--level", "ad",
              "--breakdown", "age", "gender", "--time", "total", "--metrics",
              "impressions,clicks,spend,ctr,roas,conversion_value", "--format", "csv")  # fmt: skip
    assert ads.returncode == 0, ads.stderr
    header = ads.stdout.splitlines()[0].split(",")
    assert header[:2] == ["account_id", "currency"]
    assert {"ad_id", "adset_id", "campaign_id", "age", "gender"} <= set(header)
    assert "ctr_percent" in header
    assert "roas_ratio" in header
    rows = _rows(ads.stdout)
    assert all(r["account_id"] == first["id"] and r["currency"] == first["currency"] for r in rows)
    assert all(r["account_id"] != "Total" for r in rows)  # no total row without --totals

    daily = cli(signed_in, "report", prefix, "--account", first["id"], *RANGE, "--format",
                "csv", "--totals", "--metrics", "impressions,spend,reach")  # fmt: skip
    assert daily.returncode == 0, daily.stderr
    rows = _rows(daily.stdout)
    assert list(rows[0])[:3] == ["date", "account_id", "currency"]
    assert rows[0]["date"] == "2026-11-01"  # ISO dates
    total = rows[-1]
    assert total["date"] == "Total"
    assert int(total["impressions"]) == sum(int(r["impressions"]) for r in rows[:-1])
    assert int(total["reach"]) < sum(int(r["reach"]) for r in rows[:-1])  # the aggregate

    every = cli(signed_in, "report", prefix, "--all-accounts", *RANGE, "--time", "total",
                "--metrics", "spend", "--format", "csv", "--totals")  # fmt: skip
    assert every.returncode == 0, every.stderr
    rows = _rows(every.stdout)
    totals = [r for r in rows if r["account_id"] == "Total"]
    currencies = {a["currency"] for a in conn["accounts"]}
    assert {t["currency"] for t in totals} == currencies  # one total per currency
    for t in totals:
        mine = [r for r in rows if r["currency"] == t["currency"] and r is not t]
        mine = [r for r in mine if r["account_id"] != "Total"]
        assert sum(float(r["spend"]) for r in mine) == float(t["spend"])

    compared = cli(signed_in, "report", prefix, "--account", first["id"], "--preset",
                   "last_7d", "--compare", "previous_period", "--format", "json")  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    body = json.loads(compared.stdout)
    assert body["comparison"]["totals"]
    assert len(body["rows"]) == 7

    wrote = cli(signed_in, "report", prefix, "--account", first["id"], *RANGE, "--format",
                "csv", "--output", str(tmp_path))  # fmt: skip
    assert wrote.returncode == 0, wrote.stderr
    made = tmp_path / f"report-{first['id']}-2026-11-01-2026-11-07.csv"
    assert made.read_text().splitlines()[0].startswith("date,account_id,currency")

    bad = cli(signed_in, "report", prefix, "--since", "2026-11-01")
    assert bad.returncode == 2
    assert "--until" in bad.stderr


def test_csv_cells_cannot_become_formulas() -> None:
    report = {
        "account": {"id": "act_1", "currency": "EUR"},
        "columns": [
            {"key": "campaign_name", "type": "string"},
            {"key": "spend", "type": "money"},
            {"key": "ctr", "type": "percent"},
        ],
        "rows": [['=HYPERLINK("http://x")', "-12.50", "1.25"], ["@SUM(A1)", "3.00", None]],
        "totals": {"spend": "-9.50", "ctr": "1.25"},
    }
    rows = list(csv.reader(io.StringIO(report_csv(report, totals=True))))
    assert rows[0] == ["account_id", "currency", "campaign_name", "spend", "ctr_percent"]
    assert rows[1][2] == '\'=HYPERLINK("http://x")'
    assert rows[1][3] == "-12.50"  # a plain negative number stays a number
    assert rows[2][2] == "'@SUM(A1)"
    assert rows[2][4] == ""
    assert rows[3] == ["Total", "EUR", "", "-9.50", "1.25"]


def test_table_shows_the_comparison_totals_per_currency_and_notes() -> None:
    report = {
        "account": {"id": "act_1", "name": "Shop", "currency": "EUR"},
        "since": "2026-11-01", "until": "2026-11-07", "level": "account",
        "columns": [{"key": "account_id", "label": "Account ID", "type": "string"},
                    {"key": "spend", "label": "Spend", "type": "money"}],
        "rows": [["act_1", "5.00"], ["act_2", "700"]],
        "totals": {"spend": None},
        "totals_by_currency": {"EUR": {"spend": "5.00"}, "JPY": {"spend": "700"}},
        "comparison": {"since": "2026-10-25", "until": "2026-10-31",
                       "totals": {"spend": None}, "change": {"spend": "0.2500"}},
        "notes": ["Reach is not totalled across ad accounts."],
    }  # fmt: skip
    text = report_table(report)
    assert "Compared with 2026-10-25 to 2026-10-31: Spend +25.0 %" in text
    assert "Total in EUR: Spend 5.00" in text
    assert "Total in JPY: Spend 700" in text
    assert "Note: Reach is not totalled across ad accounts." in text
