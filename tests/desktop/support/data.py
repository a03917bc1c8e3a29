"""API-shaped data (docs/ARCHITECTURE.md) for model and view tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from desktop.models.connection import Connection

COLUMNS_CAMPAIGN = [
    {"key": "date", "label": "Date", "type": "date"},
    {"key": "campaign_id", "label": "Campaign ID", "type": "string"},
    {"key": "campaign_name", "label": "Campaign", "type": "string"},
    {"key": "impressions", "label": "Impressions", "type": "integer"},
    {"key": "clicks", "label": "Clicks", "type": "integer"},
    {"key": "spend", "label": "Spend", "type": "money"},
    {"key": "conversions", "label": "Conversions", "type": "integer"},
    {"key": "ctr", "label": "CTR", "type": "percent"},
    {"key": "cpc", "label": "CPC", "type": "money"},
    {"key": "cpm", "label": "CPM", "type": "money"},
]
COLUMNS_ACCOUNT = [COLUMNS_CAMPAIGN[0], *COLUMNS_CAMPAIGN[3:]]
CENT = Decimal("0.01")


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parsed(id: str = "c1", **fields: Any) -> Connection:
    """`connection(...)` as the API client hands it over: parsed."""
    return Connection.from_api(connection(id, **fields))


def connection(
    id: str = "c1",
    *,
    name: str = "Dana Demo",
    status: str = "connected",
    reason: str | None = None,
    refreshed_minutes_ago: int = 5,
    accounts: int = 2,
    provider: str = "demo",
    provider_name: str = "Demo Ads",
    last_error: str | None = None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": id,
        "provider": provider,
        "provider_display_name": provider_name,
        "display_name": name,
        "status": status,
        "status_reason": reason,
        "last_error": last_error,
        "last_error_at": iso(now - timedelta(minutes=2)) if last_error else None,
        "last_refreshed_at": iso(now - timedelta(minutes=refreshed_minutes_ago)),
        "expires_at": None,
        "scopes": ["ads_read"],
        "accounts": [
            {
                "id": f"act_{1000 + i}",
                "name": f"Shop {chr(65 + i)}",
                "currency": "EUR",
                "time_zone": "Europe/Berlin",
            }
            for i in range(accounts)
        ],
        "revocation_pending": False,
        "created_at": iso(now - timedelta(days=3)),
        # With microseconds, as the backend sends it: a later state is always a newer one
        # (ConnectionsModel keeps the newer of a late list read and a check or live change).
        "updated_at": now.isoformat().replace("+00:00", "Z"),
    }


def _ratio(num: Decimal, den: Decimal, scale: int) -> str | None:
    if not den:
        return None
    return str((num / den * scale).quantize(CENT, rounding=ROUND_HALF_UP))


def report(
    rows: int = 14,
    *,
    level: str = "campaign",
    campaigns: int = 2,
    start: date = date(2026, 11, 1),
    connection_id: str = "c1",
) -> dict[str, Any]:
    """Deterministic rows; totals computed from the sums like the backend does."""
    out: list[list[Any]] = []
    sums = {"impressions": 0, "clicks": 0, "spend": Decimal(0), "conversions": 0}
    per_day = campaigns if level == "campaign" else 1
    for i in range(rows):
        day = start + timedelta(days=i // per_day)
        impressions = 1000 + (i * 37) % 900
        clicks = (i * 13) % 60 + (0 if i % 11 == 0 else 1)
        spend = (Decimal(100 + (i * 71) % 5000) / 100).quantize(CENT)
        conversions = i % 5
        sums["impressions"] += impressions
        sums["clicks"] += clicks
        sums["spend"] += spend
        sums["conversions"] += conversions
        metrics = [
            impressions,
            clicks,
            str(spend),
            conversions,
            _ratio(Decimal(clicks), Decimal(impressions), 100),
            _ratio(spend, Decimal(clicks), 1),
            _ratio(spend, Decimal(impressions), 1000),
        ]
        if level == "campaign":
            c = i % campaigns
            out.append([day.isoformat(), f"cmp_{c}", f"Campaign {c}", *metrics])
        else:
            out.append([day.isoformat(), *metrics])
    last = start + timedelta(days=max(rows - 1, 0) // per_day)
    return {
        "connection_id": connection_id,
        "provider": "demo",
        "account": {
            "id": "act_1000",
            "name": "Shop A",
            "currency": "EUR",
            "time_zone": "Europe/Berlin",
        },
        "since": start.isoformat(),
        "until": last.isoformat(),
        "level": level,
        "columns": COLUMNS_CAMPAIGN if level == "campaign" else COLUMNS_ACCOUNT,
        "rows": out,
        "totals": {
            "impressions": sums["impressions"],
            "clicks": sums["clicks"],
            "spend": str(sums["spend"]),
            "conversions": sums["conversions"],
            "ctr": _ratio(Decimal(sums["clicks"]), Decimal(sums["impressions"]), 100),
            "cpc": _ratio(sums["spend"], Decimal(sums["clicks"]), 1),
            "cpm": _ratio(sums["spend"], Decimal(sums["impressions"]), 1000),
        },
        "fetched_at": iso(datetime.now(UTC) - timedelta(minutes=3)),
        "cached": False,
    }


def whole(model: Any) -> dict[str, Any]:
    """The report a ReportTableModel shows, rows included, as the backend sent it (the model
    keeps everything but the rows as `report` and the rows as columns)."""
    report, (rows, _order) = model.report, model.snapshot()
    assert report is not None
    assert rows is not None
    return {**report, "rows": rows.rows(range(rows.count), list(range(len(rows.columns))))}
