"""The 14-day expiry warning on a fixed clock, and the Google Ads manager hierarchy as the
`accounts` command draws it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from desktop.cli.output import connections_table
from desktop.cli.twins import account_tree, accounts_table
from desktop.models.expiry import expiry_warning, lapse_key

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def conn(days: float, status: str = "connected") -> dict[str, Any]:
    at = (NOW + timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return {"id": "c1", "status": status, "expires_at": at, "expiry_reason": "60-day grant"}


def test_warning_from_14_days_before_the_lapse() -> None:
    assert expiry_warning(conn(20), NOW) is None
    assert expiry_warning(conn(14.01), NOW) is None
    assert expiry_warning(conn(14), NOW) == (
        "Expires in 14 days: reconnect to keep reports flowing"
    )
    assert expiry_warning(conn(9.2), NOW) == (
        "Expires in 10 days: reconnect to keep reports flowing"
    )
    assert expiry_warning(conn(0.5), NOW) == "Expires in 1 day: reconnect to keep reports flowing"
    assert expiry_warning(conn(-1), NOW) is None  # lapsed: the status says so instead
    assert expiry_warning(conn(5, "needs_reconnect"), NOW) is None
    assert expiry_warning({"id": "c1", "status": "connected", "expires_at": None}, NOW) is None


def test_lapse_key_changes_with_the_date() -> None:
    assert lapse_key(conn(10)) != lapse_key(conn(70))
    assert lapse_key(conn(10)) == lapse_key(conn(10))


def test_list_names_the_accounts_and_warns() -> None:
    c = conn(10) | {
        "provider_display_name": "Demo Ads",
        "display_name": "Dana",
        "accounts": [{"id": "1", "name": "Bakery"}, {"id": "2", "name": "Shop"}],
        "last_refreshed_at": "2026-12-07T10:00:00Z",
    }
    text = connections_table([c], NOW)
    assert "Bakery, Shop" in text
    assert "c1: Expires in 10 days: reconnect to keep reports flowing (60-day grant)" in text
    assert "Expires in" not in connections_table([conn(20) | {"accounts": []}], NOW)


ACCOUNTS = [
    {"id": "111", "name": "Client B", "parent_id": "900", "is_manager": False,
     "login_customer_id": "900", "currency": "EUR", "time_zone": "Europe/Berlin"},
    {"id": "900", "name": "Agency MCC", "parent_id": None, "is_manager": True,
     "login_customer_id": None, "currency": "EUR", "time_zone": "Europe/Berlin"},
    {"id": "222", "name": "Client A", "parent_id": "900", "is_manager": False,
     "login_customer_id": "900", "currency": "USD", "time_zone": "America/New_York"},
    {"id": "333", "name": "Own account", "parent_id": None, "is_manager": False,
     "login_customer_id": None, "currency": "USD", "time_zone": "UTC"},
]  # fmt: skip


def test_clients_are_indented_under_their_manager() -> None:
    tree = [(depth, a["id"]) for depth, a in account_tree(ACCOUNTS)]
    assert tree == [(0, "900"), (1, "111"), (1, "222"), (0, "333")]
    lines = accounts_table(ACCOUNTS).splitlines()
    assert lines[2].startswith("Agency MCC")
    assert "manager" in lines[2]
    assert lines[3].startswith("  Client B")
    assert lines[3].rstrip().endswith("900")  # reached through the manager
    assert lines[5].startswith("Own account")


def test_a_parent_outside_the_list_or_a_cycle_does_not_hide_accounts() -> None:
    odd = [
        {"id": "1", "name": "Orphan", "parent_id": "missing"},
        {"id": "2", "name": "Loop A", "parent_id": "3"},
        {"id": "3", "name": "Loop B", "parent_id": "2"},
    ]
    assert sorted(a["id"] for _, a in account_tree(odd)) == ["1", "2", "3"]
