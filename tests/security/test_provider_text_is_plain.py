"""Rule (issue 14 point 11): text from providers is shown as text, never as markup.

A provider names the account, the ad accounts, the campaigns; it sends reasons and errors.
Here every one of them is `<h1>…</h1>`. The test walks the real windows and dialogs (the
accounts page with its rows, the in-window notice, the reports page with a loaded report, the
disconnect dialog, the connect dialog's failure page) and checks every QLabel that shows such
text: it must be Qt.PlainText, or hold the text escaped. Tooltips and tray messages, which
have no plain switch, must carry it escaped.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from PySide6 import QtGui
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLabel

from desktop.api.errors import ApiError
from desktop.app.controller import Controller
from desktop.app.notify import Notifier, _literal
from desktop.models.cache import Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.connect_dialog import ConnectDialog
from desktop.views.main_window import MainWindow
from tests.desktop.support import data
from tests.desktop.support.fakes import FakeApi

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

EVIL = "<h1>Evil</h1>"


def evil_connection(status: str = "connected") -> dict[str, Any]:
    c = data.connection(
        "evil",
        name=f"{EVIL} person",
        status=status,
        reason=f"{EVIL} reason" if status == "needs_reconnect" else None,
        last_error=f"{EVIL} error",
    )
    for account in c["accounts"]:
        account["name"] = f"{EVIL} shop"
    return c


class EvilApi(FakeApi):
    def report(self, id: str, **kwargs: Any) -> dict[str, Any]:
        known = ("account", "since", "until", "level", "cancel")
        report = super().report(id, **{k: v for k, v in kwargs.items() if k in known})
        report["account"] = {"id": "act_1000", "name": f"{EVIL} shop", "currency": "EUR"}
        keys = [c["key"] for c in report["columns"]]
        if "campaign_name" in keys:
            for row in report["rows"]:
                row[keys.index("campaign_name")] = f"{EVIL} campaign"
        return report


def labels_showing_it() -> list[QLabel]:
    found = []
    for widget in QApplication.allWidgets():
        if isinstance(widget, QLabel) and ("Evil" in widget.text()):
            found.append(widget)
    return found


def rendered_as_markup(label: QLabel) -> bool:
    text = label.text()
    if label.textFormat() == Qt.TextFormat.PlainText:
        return False
    if label.textFormat() == Qt.TextFormat.RichText or QtGui.Qt.mightBeRichText(text):
        return EVIL in text  # rich text is fine only when the provider's tags are escaped
    return False


def test_provider_markup_renders_literally_everywhere(qtbot: Any, tmp_path: Any) -> None:
    model = ConnectionsModel()
    window = MainWindow(model)
    qtbot.addWidget(window)
    window.show()
    notifier = Notifier(QIcon(), window)
    controller = Controller(window, model, Cache(tmp_path / "c.sqlite3", "x"), notifier)
    api = EvilApi([evil_connection()])
    with qtbot.waitSignal(controller.check_finished, timeout=10_000):
        controller.attach(api)  # type: ignore[arg-type]

    # A reason arrives: the row's detail, the notification and its in-window banner.
    api.items["evil"] = evil_connection("needs_reconnect")
    with qtbot.waitSignal(notifier.shown, timeout=10_000) as shown:
        controller.check_all()
    assert EVIL in shown.args[0] + shown.args[1]  # the message carries the provider's words
    assert EVIL not in _literal(shown.args[1])  # …escaped where a tray balloon shows it
    tooltip = model.data(model.index(0, 0), Qt.ItemDataRole.ToolTipRole)
    assert EVIL not in tooltip
    assert "&lt;h1&gt;" in tooltip

    # The reports page with a loaded campaign report of that account.
    window.reports_action.trigger()
    reports = window.reports
    reports.level_box.setCurrentIndex(reports.level_box.findData("campaign"))
    with qtbot.waitSignal(reports.report_loaded, timeout=10_000):
        reports.load()

    # The disconnect dialog and a connect dialog that failed with the provider's words.
    disconnect = controller._on_accounts_disconnect_requested("evil")
    assert disconnect is not None

    def connect(provider: str, open_browser: Any, cancel: threading.Event) -> dict[str, Any]:
        raise ApiError("provider_unavailable", f"{EVIL} says no.")

    failed = ConnectDialog(api.providers, connect, open_url=lambda _u: None)
    qtbot.addWidget(failed)
    failed.show()
    qtbot.waitUntil(lambda: failed.provider_list.count() == 2)
    failed.continue_button.click()
    qtbot.waitUntil(lambda: failed.pages.currentIndex() == 2)

    labels = labels_showing_it()
    names = {label.text() for label in labels}
    expected_places = {
        "row title": any(t.startswith(EVIL + " person") for t in names),
        "row detail": any(f"{EVIL} reason" in t for t in names),
        "notice banner": any("needs reconnecting" in t or f"{EVIL} person:" in t for t in names)
        or notifier.uses_tray,
        "reports status": any(t.startswith(f"{EVIL} shop ·") for t in names),
        "disconnect dialog": any(t.startswith(f"Disconnect {EVIL}") for t in names),
        "connect failure": any(f"{EVIL} says no." in t for t in names),
    }
    assert all(expected_places.values()), (expected_places, names)
    as_markup = [f"{type(w).__name__} {w.objectName()!r}: {w.text()!r}" for w in labels]
    as_markup = [m for m, w in zip(as_markup, labels, strict=True) if rendered_as_markup(w)]
    assert as_markup == []
    # And Qt agrees: a plain label's size hint is that of the literal characters, not a heading.
    title = next(w for w in labels if w.text().startswith(EVIL + " person"))
    assert title.textFormat() == Qt.TextFormat.PlainText
    disconnect.reject()
    failed.reject()


def test_every_label_of_every_window_is_plain_text(qtbot: Any) -> None:
    """Not only the labels that happen to show a provider's words in the walk above: every
    label with text in the window and the dialogs is PlainText, so a new message path cannot
    slip markup through."""
    from desktop.models.connection import Connection
    from desktop.views.accounts import AccountsView
    from desktop.views.disconnect_dialog import DisconnectDialog
    from desktop.views.settings_dialog import SettingsDialog
    from desktop.views.sign_in import SignInDialog

    model = ConnectionsModel()
    model.set_connections([Connection.from_api(evil_connection("needs_reconnect"))])
    tops = [
        MainWindow(model),
        AccountsView(ConnectionsModel()),
        ConnectDialog(FakeApi().providers, lambda *a: {}, open_url=lambda _u: None),
        DisconnectDialog(Connection.from_api(evil_connection()), lambda forget: {}),
        SignInDialog(lambda *a: None),
        SettingsDialog(None),
    ]
    rich = []
    for top in tops:
        qtbot.addWidget(top)
        for label in top.findChildren(QLabel):
            if label.text() and label.textFormat() != Qt.TextFormat.PlainText:
                rich.append(f"{type(top).__name__}: {label.text()!r}")
    assert rich == []
