"""The 1,000,000-row report payload for bench/report_scale.py: ad-level, daily, Demo Ads'
benchmark account act_1099, as the backend's JSON bytes, built the way the backend builds the
general report (sandbox hierarchy rows -> Demo adapter `_row` -> reports.shape columns, rows and
totals), cached in the temp folder."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROWS = int(os.environ.get("BENCH_SCALE_ROWS", "1000000"))  # fewer: a quick trial
METRICS = ["impressions", "clicks", "spend", "conversions", "ctr", "cpc", "cpm"]
_NAME = "1m" if ROWS == 1_000_000 else str(ROWS)
CACHE = Path(tempfile.gettempdir()) / f"connected-accounts-bench-report-{_NAME}-ad.json"


def report_bytes() -> bytes:
    if CACHE.exists():
        return CACHE.read_bytes()
    from backend.providers.base import AdAccount, ReportQuery
    from backend.providers.reports.demo import _row
    from backend.reports.normalize import minor_units
    from backend.reports.shape import Part, columns, shape_rows, totals_of
    from backend.sandbox import data, hierarchy
    from backend.sandbox.config import SandboxConfig

    account = next(a for a in data.accounts_for("user-1001", benchmark=True) if a.id == "act_1099")
    seed = SandboxConfig().seed
    # Not every ad has a row every day: a tenth more days, then the first ROWS rows.
    days = -(-ROWS * 11 // (10 * len(hierarchy.units_of(seed, account))))
    until = date(2026, 11, 28)
    since = until - timedelta(days=days - 1)
    query = ReportQuery(
        account_id=account.id, since=since, until=until, level="ad", metrics=METRICS
    )
    items, _summary = hierarchy.report(seed, account, since, until, "ad", [], True)
    rows = [_row(item, query) for item in items[:ROWS]]
    del items
    ad = AdAccount(account.id, account.name, account.currency, account.time_zone)
    part = Part(ad, rows, None, Decimal(1).scaleb(-minor_units(ad.currency)))
    body = {
        "connection_id": "bench", "provider": "demo", "account": ad.as_json(),
        "since": since.isoformat(), "until": until.isoformat(), "level": "ad",
        "breakdowns": [], "time": "daily", "columns": columns(query, METRICS, False),
        "rows": shape_rows([part], query, METRICS, False),
        "totals": totals_of([part], METRICS, part.money_exp),
        "fetched_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "cached": False,
    }  # fmt: skip
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    CACHE.write_bytes(payload)
    return payload
