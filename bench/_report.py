"""The 100,000-row report payload (1000 days x 100 campaigns of Demo Ads' benchmark account
act_1099, campaign level) as the backend's JSON bytes, built the way the backend builds it
(sandbox rows -> Demo adapter -> normalize_report) and cached in the temp folder."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DAYS = 1000
CACHE = Path(tempfile.gettempdir()) / "connected-accounts-bench-report-100k.json"


def report_bytes() -> bytes:
    if CACHE.exists():
        return CACHE.read_bytes()
    from backend.providers.base import AdAccount, ReportQuery
    from backend.providers.reports.demo import _row
    from backend.reports.normalize import normalize_report
    from backend.sandbox import data, report_rows
    from backend.sandbox.config import SandboxConfig

    account = next(
        a for a in data.accounts_for("user-1001", benchmark=True) if a.id == data.BENCHMARK_ACCOUNT
    )
    until = date(2026, 11, 28)
    since = until - timedelta(days=DAYS - 1)
    total = report_rows.row_count(account, since, until, "campaign")
    seed = SandboxConfig().seed
    raw = report_rows.rows_json(seed, account, since, "campaign", 0, total)
    query = ReportQuery(
        account_id=account.id, since=since, until=until, level="campaign",
        metrics=["impressions", "clicks", "spend", "conversions", "ctr", "cpc", "cpm"],
    )  # fmt: skip
    rows = [_row(json.loads(item), query) for item in raw]
    ad = AdAccount(account.id, account.name, account.currency, account.time_zone)
    body = {
        "connection_id": "bench", "provider": "demo",
        **normalize_report(rows, query=query, account=ad),
        "fetched_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "cached": False,
    }  # fmt: skip
    payload = json.dumps(body, separators=(",", ":")).encode()
    CACHE.write_bytes(payload)
    return payload
