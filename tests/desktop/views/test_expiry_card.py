"""The connection card from 14 days before a grant lapses, on a fixed clock; the precise
reconnect reason as plain text; Google Ads clients indented under their manager."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt

from desktop.models.connections import Connection, ConnectionsModel
from desktop.views.accounts import AccountsView
from tests.desktop.support import data

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
REASON = "Demo Ads grants last 60 days; reconnect before then to keep access."


def expiring(id: str, days: float, **fields: Any) -> Connection:
    body = data.connection(id, **fields) | {
        "expires_at": data.iso(NOW + timedelta(days=days)),
        "expiry_reason": REASON,
    }
    return Connection.from_api(body)


def view_of(qtbot: Any, *items: Connection) -> AccountsView:
    model = ConnectionsModel()
    model.set_connections(list(items))
    view = AccountsView(model)
    view.now = lambda: NOW
    view._rebuild()
    qtbot.addWidget(view)
    return view


def test_the_card_warns_10_days_ahead_but_not_20(qtbot) -> None:
    view = view_of(qtbot, expiring("soon", 10, name="Soon"), expiring("later", 20, name="Later"))
    soon, later = view.rows
    assert not soon.expiry.isHidden()
    assert soon.expiry.text() == "Expires in 10 days: reconnect to keep reports flowing"
    assert "Expires in 10 days" in soon.accessibleName()
    assert later.expiry.isHidden()
    assert later.expiry.text() == ""
    local = (NOW + timedelta(days=10)).astimezone().strftime("%Y-%m-%d %H:%M")
    assert soon.toolTip() == f"Access ends {local}: {REASON}"
    assert REASON in later.toolTip()  # the reason is there before the warning is due
    ends = (NOW + timedelta(days=20)).astimezone().strftime("%d %b %Y")
    assert later.refreshed.text().endswith(f" · Access ends {ends}")
    assert "Access ends" not in soon.refreshed.text()  # the warning says it instead


def test_the_warning_moves_with_the_clock(qtbot) -> None:
    view = view_of(qtbot, expiring("c", 20))
    assert view.rows[0].expiry.isHidden()
    view.now = lambda: NOW + timedelta(days=7)
    view._rebuild()
    assert view.rows[0].expiry.text().startswith("Expires in 13 days")


def test_no_warning_once_the_connection_needs_reconnecting(qtbot) -> None:
    reason = "You changed your Facebook password; reconnect to allow access again."
    view = view_of(qtbot, expiring("c", 3, status="needs_reconnect", reason=reason))
    row = view.rows[0]
    assert row.expiry.isHidden()
    assert row.detail.text() == reason
    assert "Access ends" not in row.refreshed.text()  # it already ended


def test_the_reason_is_plain_text_not_markup(qtbot) -> None:
    hostile = "<b>Revoked</b> <a href='https://evil.example'>click</a>"
    view = view_of(qtbot, expiring("c", 30, status="needs_reconnect", reason=hostile))
    row = view.rows[0]
    assert row.detail.textFormat() == Qt.TextFormat.PlainText
    assert row.detail.text() == hostile
    assert row.expiry.textFormat() == Qt.TextFormat.PlainText


def test_clients_are_indented_under_their_manager(qtbot) -> None:
    body = data.connection("g", provider="google_ads", provider_name="Google Ads")
    body["accounts"] = [
        {"id": "111", "name": "Client B", "parent_id": "900", "is_manager": False},
        {"id": "900", "name": "Agency MCC", "parent_id": None, "is_manager": True},
        {"id": "222", "name": "Client A", "parent_id": "900", "is_manager": False},
    ]
    view = view_of(qtbot, Connection.from_api(body))
    row = view.rows[0]
    assert row.tree.text().splitlines() == [
        "Agency MCC (manager)",
        "    Client B",
        "    Client A",
    ]
    assert row.subtitle.text() == "Google Ads"
    flat = view_of(qtbot, data.parsed("f"))
    assert not hasattr(flat.rows[0], "tree")
