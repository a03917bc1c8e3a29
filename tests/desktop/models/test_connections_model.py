"""The connections model and the words it gives the views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PySide6.QtCore import Qt

from desktop.models.connections import (
    DISPLAY_ROLE,
    TOOLTIP_ROLE,
    Connection,
    ConnectionRole,
    ConnectionsModel,
)
from desktop.models.format import format_decimal, relative_time
from tests.desktop.support import data


def test_connections_model_passes_the_qt_model_tester(qtmodeltester) -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a"), data.parsed("b", status="needs_reconnect")])
    qtmodeltester.check(model)


def test_the_plain_int_roles_are_qts() -> None:
    """The model names Qt's roles as ints (no `Qt` enums before the first paint)."""
    assert Qt.ItemDataRole.DisplayRole.value == DISPLAY_ROLE
    assert Qt.ItemDataRole.ToolTipRole.value == TOOLTIP_ROLE
    assert ConnectionRole == Qt.ItemDataRole.UserRole.value + 1
    model = ConnectionsModel()
    model.set_connections([data.parsed("a")])
    index = model.index(0)
    assert index.data(Qt.ItemDataRole.DisplayRole) == index.data(DISPLAY_ROLE)
    assert index.data(Qt.ItemDataRole.ToolTipRole) == index.data(TOOLTIP_ROLE)


def test_disconnected_connections_are_not_listed() -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a"), data.parsed("b", status="disconnected")])
    assert [c.id for c in model.items()] == ["a"]


def test_status_change_is_signalled_on_upsert(qtbot) -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a")])
    with qtbot.waitSignal(model.status_changed) as blocker:
        model.upsert(data.parsed("a", status="needs_reconnect", reason="Revoked at Demo Ads."))
    assert blocker.args == ["a", "connected", "needs_reconnect"]
    item = model.index(0).data(ConnectionRole)
    assert isinstance(item, Connection)
    assert item.badge == "Needs reconnect"
    assert item.detail() == "Revoked at Demo Ads."


def test_a_list_read_before_a_newer_state_does_not_undo_it(qtbot) -> None:
    """A list read that started before a check can arrive after it: the newer state stays."""
    model = ConnectionsModel()

    def at(ms: int) -> str:  # the backend's timestamps carry microseconds
        return (datetime(2026, 12, 7, 12, 0, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()

    first = data.connection("a", status="needs_reconnect", reason="Revoked.")
    model.set_connections([Connection.from_api({**first, "updated_at": at(0)})])
    model.upsert(Connection.from_api({**data.connection("a"), "updated_at": at(5)}))
    stale = {**data.connection("a", status="needs_reconnect"), "updated_at": at(0)}
    fresh_b = data.parsed("b")
    with qtbot.assertNotEmitted(model.status_changed):
        model.set_connections([Connection.from_api(stale), fresh_b])
    assert [(c.id, c.status) for c in model.items()] == [("a", "connected"), ("b", "connected")]
    newer = {**data.connection("a", status="error"), "updated_at": at(10)}
    with qtbot.waitSignal(model.status_changed) as changed:
        model.set_connections([Connection.from_api(newer)])
    assert changed.args == ["a", "connected", "error"]


def test_a_check_answered_after_a_newer_change_keeps_the_change(qtbot) -> None:
    """A check's answer on its way while a live change came in is older than the change."""

    def at(ms: int) -> str:
        return (datetime(2026, 12, 7, 12, 0, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()

    model = ConnectionsModel()
    model.set_connections([Connection.from_api({**data.connection("a"), "updated_at": at(0)})])
    model.set_checking("a", True)
    # The list is read again meanwhile (the stream opened): the check is still on its way.
    model.set_connections([Connection.from_api({**data.connection("a"), "updated_at": at(0)})])
    assert model.get("a").checking  # type: ignore[union-attr]
    pending = {**data.connection("a", status="disconnected"), "revocation_pending": True}
    assert model.apply_change(Connection.from_api({**pending, "updated_at": at(9)})) == "updated"
    answer = Connection.from_api({**data.connection("a"), "updated_at": at(5)})
    with qtbot.assertNotEmitted(model.status_changed):
        kept = model.upsert(answer, answers_check=True)
    assert kept.revocation_pending
    assert not kept.checking
    assert model.get("a") == kept
    newer = Connection.from_api({**data.connection("a", status="error"), "updated_at": at(20)})
    assert model.upsert(newer).status == "error"


def test_cached_list_does_not_signal_status_changes(qtbot) -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a")])
    with qtbot.assertNotEmitted(model.status_changed):
        model.set_connections([data.parsed("a", status="error")], cached=True)
    assert model.cached


def test_upsert_adds_new_connections_and_keeps_raw_dicts() -> None:
    model = ConnectionsModel()
    model.upsert(data.parsed("a"))
    model.upsert(data.parsed("b"))
    assert [d["id"] for d in model.raw_items()] == ["a", "b"]
    model.remove("a")
    assert [d["id"] for d in model.raw_items()] == ["b"]


def test_error_status_says_the_last_error_and_when() -> None:
    item = Connection.from_api(data.connection("a", status="error", last_error="Demo Ads is down."))
    assert item.badge == "Error"
    assert item.badge_kind == "error"
    assert item.detail() == "Demo Ads is down. (2 minutes ago)"


def test_checking_flag_shows_checking_badge() -> None:
    model = ConnectionsModel()
    model.set_connections([data.parsed("a")])
    model.set_checking("a", True)
    assert model.get("a").badge == "Checking…"  # type: ignore[union-attr]


def test_accounts_text_lists_names_and_counts_the_rest() -> None:
    item = Connection.from_api(data.connection("a", accounts=5))
    assert item.accounts_text() == "Shop A, Shop B, Shop C and 2 more"


def test_relative_time_words() -> None:
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert relative_time(None, now) == "never"
    assert relative_time(now - timedelta(seconds=10), now) == "just now"
    assert relative_time(now - timedelta(minutes=1), now) == "1 minute ago"
    assert relative_time(now - timedelta(minutes=5), now) == "5 minutes ago"
    assert relative_time(now - timedelta(hours=3), now) == "3 hours ago"
    assert relative_time(now - timedelta(days=1), now) == "yesterday"


def test_format_decimal_groups_without_changing_digits() -> None:
    assert format_decimal("1234567.305") == "1,234,567.305"
    assert format_decimal("-12.50") == "-12.50"
    assert format_decimal(None) == "—"
