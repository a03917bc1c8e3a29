"""Views with data: accounts rows, reports table/chart/export, dialogs, accessibility."""

from __future__ import annotations

import csv
import threading
from datetime import date
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
    QScrollBar,
    QWidget,
)

from desktop.api.answers import Provider
from desktop.api.errors import ApiError
from desktop.app.controller import Controller
from desktop.app.notify import Notifier
from desktop.cli import report as cli_report
from desktop.concurrency import columnar
from desktop.connect.flow import ConnectRefused
from desktop.connect.loopback import ReceiverTimeout
from desktop.models.cache import Cache
from desktop.models.connections import Connection, ConnectionsModel
from desktop.views.accounts import AccountsView
from desktop.views.connect_dialog import ConnectDialog
from desktop.views.disconnect_dialog import DisconnectDialog
from desktop.views.main_window import MainWindow
from desktop.views.reports import ReportsView
from desktop.views.settings_dialog import SettingsDialog
from desktop.views.sign_in import SignInDialog
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi

TODAY = date(2026, 11, 29)


@pytest.fixture
def model() -> ConnectionsModel:
    m = ConnectionsModel()
    m.set_connections(
        [
            data.parsed("a"),
            data.parsed(
                "b", name="Acme Shoes", status="needs_reconnect", reason="Revoked at Demo Ads."
            ),
        ]
    )
    return m


def test_accounts_view_shows_one_row_per_connection_with_badges(qtbot, model) -> None:
    view = AccountsView(model)
    qtbot.addWidget(view)
    assert [r.title.text() for r in view.rows] == ["Dana Demo", "Acme Shoes"]
    assert view.rows[0].badge.text() == "Connected"
    assert view.rows[1].badge.text() == "Needs reconnect"
    assert view.rows[1].detail.text() == "Revoked at Demo Ads."
    assert view.rows[0].refreshed.text() == "Last refreshed 5 minutes ago"
    assert "Shop A, Shop B" in view.rows[0].subtitle.text()
    assert not view.rows[1].reports_button.isEnabled()


def test_accounts_row_buttons_ask_for_actions(qtbot, model) -> None:
    view = AccountsView(model)
    qtbot.addWidget(view)
    row = view.row_for("b")
    assert row is not None
    for button, signal in (
        (row.reports_button, view.reports_requested),
        (row.reconnect_button, view.reconnect_requested),
        (row.disconnect_button, view.disconnect_requested),
    ):
        button.setEnabled(True)
        with qtbot.waitSignal(signal) as blocker:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        assert blocker.args == ["b"]


def test_empty_state_says_what_to_do_first(qtbot) -> None:
    view = AccountsView(ConnectionsModel())
    qtbot.addWidget(view)
    assert view.stack.currentIndex() == 0
    assert view.empty_connect_button.text() == "Connect an ad account"
    with qtbot.waitSignal(view.connect_requested):
        qtbot.mouseClick(view.empty_connect_button, Qt.MouseButton.LeftButton)


def test_the_windows_empty_state_is_built_when_shown_with_nothing_to_list(qtbot) -> None:
    """The main window's Accounts view builds its empty state only to show it: not while the
    saved list is on its way, nor when the list arrives before the window is shown."""
    model = ConnectionsModel()
    view = AccountsView(model, empty_state_on_show=True)
    qtbot.addWidget(view)
    assert view._empty is None
    model.set_connections([data.parsed("a")])
    view.show()
    qtbot.waitExposed(view)
    assert view._empty is None
    assert view.stack.currentWidget() is view._scroll
    model.set_connections([])  # shown, and nothing left to list
    assert view.stack.currentIndex() == 0
    assert view.empty_connect_button.isVisible()

    empty = AccountsView(ConnectionsModel(), empty_state_on_show=True)
    qtbot.addWidget(empty)
    assert empty._empty is None
    empty.show()
    qtbot.waitExposed(empty)
    assert empty.stack.currentIndex() == 0
    assert empty.empty_connect_button.isVisible()


def _reports_view(qtbot, model: ConnectionsModel, api: FakeApi, cache: Cache | None) -> ReportsView:
    def fetch(cid: str, query: Any, cancel: Any) -> Any:
        return api.report_bytes(
            cid,
            account=query.account,
            since=query.since,
            until=query.until,
            level=query.level,
            cancel=cancel,
        )

    view = ReportsView(model, fetch, cache)
    view.set_today(lambda: TODAY)
    qtbot.addWidget(view)
    return view


def test_date_presets_fill_the_range(qtbot, model) -> None:
    view = _reports_view(qtbot, model, FakeApi(), None)
    expected = {
        "Last 7 days": (date(2026, 11, 22), date(2026, 11, 28)),
        "Last 30 days": (date(2026, 10, 30), date(2026, 11, 28)),
        "Last 90 days": (date(2026, 8, 31), date(2026, 11, 28)),
        "This month": (date(2026, 11, 1), date(2026, 11, 29)),
        "Last month": (date(2026, 10, 1), date(2026, 10, 31)),
    }
    for name, dates in expected.items():
        view.preset_box.setCurrentText(name)
        assert view.date_range() == dates
    view.since_edit.setDate(date(2026, 11, 3))
    assert view.preset_box.currentText() == "Custom range"


def test_report_loads_into_table_totals_and_chart(qtbot, model, tmp_cache_path) -> None:
    api = FakeApi()
    cache = Cache(tmp_cache_path, "embedded")
    view = _reports_view(qtbot, model, api, cache)
    view.level_box.setCurrentIndex(view.level_box.findData("campaign"))
    view.preset_box.setCurrentText("Last 7 days")
    with qtbot.waitSignal(view.report_loaded, timeout=5000):
        view.load_button.click()
    assert view.table.model.rowCount() == 14
    assert view.table.totals_model.index(0, 0).data() == "Total"
    # 2 campaigns per day, one point per day; the chart sums off the UI thread.
    qtbot.waitUntil(lambda: view.chart.series.count() == 7)
    assert "Updated 3 minutes ago" in view.status_label.text()
    assert "cached" not in view.status_label.text()
    qtbot.waitUntil(lambda: cache.load_report("a") is not None)
    # Column toggles hide the metric in both the rows and the totals row.
    view.metric_actions["cpm"].setChecked(False)
    column = view.table.model.column_of("cpm")
    assert view.table.table.isColumnHidden(column)
    assert view.table.footer.isColumnHidden(column)


def test_cached_report_is_shown_at_once_and_marked_cached(qtbot, model, tmp_cache_path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_report("a", data.report(6, level="account"))
    view = _reports_view(qtbot, model, FakeApi(), cache)
    view._on_connection_box_changed()
    qtbot.waitUntil(lambda: view.table.model.rowCount() == 6)
    assert view.cached
    assert "cached" in view.status_label.text()


def test_cancel_stops_a_long_report(qtbot, model) -> None:
    api = FakeApi()
    api.report_gate = threading.Event()
    view = _reports_view(qtbot, model, api, None)
    view.show()
    view.load_button.click()
    assert view.status_row.progress.isVisible()
    assert view.cancel_button.isVisible()
    with qtbot.assertNotEmitted(view.report_loaded):
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert not view.status_row.progress.isVisible()
    assert not view.loading
    assert view.load_button.isEnabled()


def test_failed_report_keeps_the_last_one_on_screen(qtbot, model) -> None:
    api = FakeApi()
    view = _reports_view(qtbot, model, api, None)
    with qtbot.waitSignal(view.report_loaded, timeout=5000):
        view.load()
    api.down = True
    with qtbot.waitSignal(view.report_failed, timeout=5000) as blocker:
        view.load()
    assert "Cannot reach the backend" in blocker.args[0]
    assert view.error_banner.isVisibleTo(view)
    assert "The last report stays on screen." in view.error_banner.text()
    assert view.table.model.rowCount() == 14


def test_export_writes_visible_columns_rows_and_totals(qtbot, model, tmp_path) -> None:
    view = _reports_view(qtbot, model, FakeApi(), None)
    view.level_box.setCurrentIndex(view.level_box.findData("campaign"))
    with qtbot.waitSignal(view.report_loaded, timeout=5000):
        view.load()
    view.metric_actions["ctr"].setChecked(False)
    view.table.table.sortByColumn(view.table.model.column_of("spend"), Qt.SortOrder.DescendingOrder)
    target = tmp_path / "report.csv"
    with qtbot.waitSignal(view.export_finished, timeout=5000):
        view.export_to(target)
    # The one CSV format the command line writes (desktop/cli/report.py): keys as headers, the
    # account and currency on every row, ratios with their unit, no total row.
    rows = list(csv.reader(target.open(encoding="utf-8")))
    assert rows[0][:5] == ["date", "account_id", "currency", "campaign_id", "campaign_name"]
    assert "ctr_percent" not in rows[0]
    assert "ctr" not in rows[0]
    spend = rows[0].index("spend")
    body = rows[1:]
    assert len(body) == 14
    assert {(r[1], r[2]) for r in body} == {("act_1000", "EUR")}
    assert [r[spend] for r in body] == sorted((r[spend] for r in body), key=float, reverse=True)
    report = view.table.model.report
    assert report is not None
    rows, _order = view.table.model.snapshot()
    assert rows is not None
    whole = {**report, "rows": rows.rows(range(rows.count), list(range(len(report["columns"]))))}
    assert len(cli_report.report_csv(whole).splitlines()) == 15  # same writer as the CLI
    assert view.suggested_file_name() == cli_report.default_file_name(report, "csv")
    assert "act_1000" in view.suggested_file_name()


def _connect_dialog(qtbot, outcome: Any, opened: list[str]) -> tuple[ConnectDialog, dict]:
    seen: dict[str, Any] = {}

    def connect(provider: str, open_browser: Any, cancel: threading.Event) -> Any:
        seen["provider"], seen["cancel"] = provider, cancel
        open_browser("https://demo.example/authorize?state=s")
        if outcome == "wait":
            cancel.wait(5)
            raise ApiError("cancelled", "Cancelled.")
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    dialog = ConnectDialog(FakeApi().providers, connect, open_url=opened.append)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.provider_list.count() == 2)
    return dialog, seen


def test_connect_dialog_opens_browser_and_reports_the_connection(qtbot) -> None:
    opened: list[str] = []
    dialog, seen = _connect_dialog(qtbot, data.parsed("new"), opened)
    with qtbot.waitSignal(dialog.connection_added, timeout=5000) as blocker:
        dialog.continue_button.click()
    assert blocker.args[0].id == "new"
    assert seen["provider"] == "demo"
    assert opened == ["https://demo.example/authorize?state=s"]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (ConnectRefused("access_denied"), "You declined access at the provider"),
        (ReceiverTimeout(300), "No answer from the browser within 300 seconds"),
        (
            ApiError("provider_unavailable", "Demo Ads is unavailable.", retry_after=30),
            "Demo Ads is unavailable. Try again in about 30 seconds.",
        ),
    ],
)
def test_connect_failures_are_shown_in_words(qtbot, error: Exception, words: str) -> None:
    dialog, _ = _connect_dialog(qtbot, error, [])
    dialog.continue_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 2)
    assert words in dialog.error_text.text()


def test_connect_dialog_waiting_page_cancel_stops_the_flow(qtbot) -> None:
    opened: list[str] = []
    dialog, seen = _connect_dialog(qtbot, "wait", opened)
    dialog.continue_button.click()
    qtbot.waitUntil(lambda: dialog.copy_button.isEnabled())
    assert dialog.wait_title.text() == "Continue in your browser"
    assert dialog.wait_text.text().startswith("Sign in to Demo Ads and allow access")
    dialog.open_again_button.click()
    assert len(opened) == 2
    dialog.copy_button.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == "https://demo.example/authorize?state=s"
    with qtbot.assertNotEmitted(dialog.connection_added):
        dialog.cancel_button.click()
    assert seen["cancel"].is_set()


def test_disconnect_dialog_says_what_will_happen_and_what_happened(qtbot) -> None:
    item = Connection.from_api(data.connection("a"))
    api = FakeApi([data.connection("a")])
    dialog = DisconnectDialog(item, lambda forget: api.disconnect("a", forget=forget))
    qtbot.addWidget(dialog)
    assert dialog.message.text().startswith(
        "Connected Accounts will ask Demo Ads to revoke access and delete the stored keys. "
        "Reports for this account will stop."
    )
    with qtbot.waitSignal(dialog.disconnected, timeout=5000) as blocker:
        dialog.confirm_button.click()
    assert blocker.args == ["a", False]
    assert "revoked at Demo Ads" in dialog.message.text()


def test_disconnect_pending_revocation_explains_what_to_do(qtbot) -> None:
    item = Connection.from_api(data.connection("a"))
    api = FakeApi([data.connection("a")])
    api.disconnect_outcome = {
        "connection_id": "a",
        "revoked": [],
        "not_revoked": ["refresh_token"],
        "revocation_pending": True,
        "message": "Demo Ads did not answer.",
    }
    dialog = DisconnectDialog(item, lambda forget: api.disconnect("a", forget=forget))
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.disconnected, timeout=5000) as blocker:
        dialog.confirm_button.click()
    assert blocker.args == ["a", True]
    assert "did not confirm" in dialog.message.text()
    assert dialog.forget_button.isVisibleTo(dialog)


def _interactive(widget: QWidget) -> bool:
    kinds = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QAbstractItemView)
    if not isinstance(widget, kinds) or isinstance(widget, QScrollBar):
        return False
    parent = widget.parentWidget()
    while parent is not None:  # parts of a compound control (a date edit's line edit)
        if isinstance(parent, QComboBox | QAbstractSpinBox):
            return False
        parent = parent.parentWidget()
    return True


def test_every_interactive_control_has_an_accessible_name(qtbot, model) -> None:
    window = MainWindow(model)
    qtbot.addWidget(window)
    window.reports.table.set_report(columnar.from_report(data.report(4)))
    item = Connection.from_api(data.connection("a"))
    dialogs: list[QWidget] = [
        ConnectDialog(FakeApi().providers, lambda *a: {}, open_url=lambda _u: None),
        DisconnectDialog(item, lambda forget: {}),
        SignInDialog(lambda *a: None),
        SettingsDialog(None),
    ]
    empty = AccountsView(ConnectionsModel())
    missing = []
    for top in [window, empty, *dialogs]:
        qtbot.addWidget(top)
        for widget in top.findChildren(QWidget):
            if _interactive(widget) and not widget.accessibleName():
                missing.append(f"{type(widget).__name__} {widget.objectName()!r} in {top}")
    assert missing == []


def test_controller_shows_cached_list_then_backend_down_message(qtbot, tmp_cache_path) -> None:
    cache = Cache(tmp_cache_path, "embedded")
    cache.save_connections([data.connection("a")])
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    controller = Controller(window, model, cache, Notifier(QIcon(), window))
    controller.load_cached()
    qtbot.waitUntil(lambda: model.rowCount() == 1)
    assert model.cached
    assert "Saved list from last time" in window.accounts.note.text()
    api = FakeApi()
    api.down = True
    with qtbot.waitSignal(controller.backend_failed, timeout=5000) as blocker:
        controller.attach(api)  # type: ignore[arg-type]
    assert blocker.args[0] == "Cannot reach the backend at http://127.0.0.1:9."
    assert window.offline_banner.isVisibleTo(window)
    assert "Showing what was saved last time." in window.offline_banner.text()
    assert model.rowCount() == 1  # the cached view stays


def test_needs_reconnect_after_a_check_notifies(qtbot, tmp_cache_path) -> None:
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    notifier = Notifier(QIcon(), window)
    controller = Controller(window, model, Cache(tmp_cache_path, "x"), notifier)
    api = FakeApi([data.connection("a")])
    with qtbot.waitSignal(controller.check_finished, timeout=5000):
        controller.attach(api)  # type: ignore[arg-type]
    assert api.checks == ["a"]
    api.items["a"] = data.connection("a", status="needs_reconnect", reason="Revoked at Demo Ads.")
    with qtbot.waitSignal(notifier.shown, timeout=5000) as blocker:
        controller.check_all()
    assert blocker.args[0] == "Demo Ads needs reconnecting"
    assert "Revoked at Demo Ads." in blocker.args[1]
    if not notifier.uses_tray:
        assert window.notice_banner.isVisibleTo(window)
    assert window.accounts.rows[0].badge.text() == "Needs reconnect"


def test_shortcuts_are_bound_and_switch_views(qtbot, model) -> None:
    window = MainWindow(model)
    qtbot.addWidget(window)
    bound = {a.text(): [s.toString() for s in a.shortcuts()] for a in window.actions()}
    assert bound["&Connect account…"] == ["Ctrl+N"]
    assert bound["&Refresh and check"] == ["Ctrl+R", "F5"]
    assert bound["&Export CSV…"] == ["Ctrl+E"]
    assert bound["&Quit"] == ["Ctrl+Q"]
    window.reports_action.trigger()
    assert window.stack.currentWidget() is window.reports
    window.accounts_action.trigger()
    assert window.stack.currentWidget() is window.accounts
    with qtbot.waitSignal(window.connect_requested):
        window.connect_action.trigger()


def test_window_geometry_is_remembered(qtbot, model) -> None:
    window = MainWindow(model)
    qtbot.addWidget(window)
    window.show()
    window.resize(780, 700)
    window.close()
    again = MainWindow(model)
    qtbot.addWidget(again)
    assert (again.width(), again.height()) == (780, 700)


def test_view_reports_without_any_report_loads_one(qtbot, model, tmp_cache_path) -> None:
    view = _reports_view(qtbot, model, FakeApi(), Cache(tmp_cache_path, "embedded"))
    view._fill_connections()
    with qtbot.waitSignal(view.report_loaded, timeout=5000) as blocker:
        view.show_connection("a")
    assert blocker.args == ["a"]


def test_settings_dialog_chooses_built_in_or_a_remote_url(qtbot) -> None:
    dialog = SettingsDialog(None)
    qtbot.addWidget(dialog)
    assert dialog.local_radio.isChecked()
    assert not dialog.url_edit.isEnabled()
    dialog.remote_radio.setChecked(True)
    dialog.url_edit.setText("accounts.example.com")
    with qtbot.assertNotEmitted(dialog.backend_chosen):
        dialog._on_buttons_accepted()
    assert "https://" in dialog.error_label.text()
    dialog.url_edit.setText("https://accounts.example.com/")
    with qtbot.waitSignal(dialog.backend_chosen) as blocker:
        dialog._on_buttons_accepted()
    assert blocker.args == ["https://accounts.example.com"]


def _dialog_with(qtbot, providers: list[dict[str, Any]]) -> ConnectDialog:
    listed = [Provider.from_api(p) for p in providers]
    dialog = ConnectDialog(lambda: listed, lambda *_a: None, open_url=lambda _u: None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.provider_list.count() == len(providers))
    return dialog


def test_connect_dialog_says_when_only_demo_ads_is_set_up_and_how_to_add_a_platform(qtbot) -> None:
    demo = {"id": "demo", "display_name": "Demo Ads", "kind": "demo", "scopes": ["ads_read"]}
    dialog = _dialog_with(qtbot, [demo])
    assert dialog.only_demo_note.isVisible()
    words = dialog.only_demo_note.text()
    assert "Only Demo Ads" in words
    assert "docs/PROVIDERS.md" in words
    assert "connected-accounts-backend presets" in words

    meta = {"id": "meta", "display_name": "Meta Ads", "kind": "meta", "scopes": ["ads_read"]}
    dialog = _dialog_with(qtbot, [demo, meta])
    assert not dialog.only_demo_note.isVisible()
