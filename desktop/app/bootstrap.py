"""The GUI entry point: one instance, the system palette, the window and its backend."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from desktop import __version__
from desktop.app.backend_link import BackendLink
from desktop.app.color_scheme import system_is_dark
from desktop.app.controller import Controller
from desktop.app.expiry_watch import ExpiryWatcher
from desktop.app.notify import Notifier
from desktop.concurrency import tasks
from desktop.concurrency.after_paint import after_next_paint
from desktop.concurrency.tasks import run_in_background
from desktop.config import (
    BackendUrlRefused,
    Settings,
    cache_dir,
    load_settings,
    resolve_backend_url,
    save_settings,
)
from desktop.models.cache import CACHE_FILE, Cache
from desktop.models.connections import ConnectionsModel
from desktop.views.main_window import MainWindow
from desktop.views.widgets import icon

if TYPE_CHECKING:
    from PySide6.QtCore import Qt

    from desktop.api.client import ApiClient
    from desktop.views.devices_dialog import DevicesDialog

log = logging.getLogger(__name__)

STYLES_DIR = Path(__file__).resolve().parents[2] / "resources" / "styles"
APP_NAME = "Connected Accounts"


# Fusion's own light palette (QFusionStyle::standardPalette(), Qt 6), as (active, inactive,
# disabled) colours; "#rrggbb/a" has alpha a. Written out so the app never hands a QStyle to
# Python before its first paint: the first one makes PySide6 build all of QStyle's enums,
# ~5 ms (bench/cold_start.py). tests/desktop/app/test_app.py checks it against Fusion's.
_FUSION_LIGHT = {
    "WindowText": ("#000000", "#000000", "#bebebe"),
    "Button": ("#efefef", "#efefef", "#efefef"),
    "Light": ("#ffffff", "#ffffff", "#ffffff"),
    "Midlight": ("#cacaca", "#cacaca", "#cacaca"),
    "Dark": ("#9f9f9f", "#9f9f9f", "#bebebe"),
    "Mid": ("#b8b8b8", "#b8b8b8", "#b8b8b8"),
    "Text": ("#000000", "#000000", "#bebebe"),
    "BrightText": ("#ffffff", "#ffffff", "#ffffff"),
    "ButtonText": ("#000000", "#000000", "#bebebe"),
    "Base": ("#ffffff", "#ffffff", "#efefef"),
    "Window": ("#efefef", "#efefef", "#efefef"),
    "Shadow": ("#767676", "#767676", "#b1b1b1"),
    "Highlight": ("#308cc6", "#308cc6", "#919191"),
    "HighlightedText": ("#ffffff", "#ffffff", "#ffffff"),
    "Link": ("#0000ff", "#0000ff", "#0000ff"),
    "LinkVisited": ("#ff00ff", "#ff00ff", "#ff00ff"),
    "AlternateBase": ("#f7f7f7", "#f7f7f7", "#f7f7f7"),
    "NoRole": ("#000000", "#000000", "#000000"),
    "ToolTipBase": ("#ffffdc", "#ffffdc", "#ffffdc"),
    "ToolTipText": ("#000000", "#000000", "#000000"),
    "PlaceholderText": ("#000000/128", "#000000/128", "#000000/128"),
    "Accent": ("#308cc6", "#308cc6", "#919191"),
}


def light_palette() -> QPalette:
    """The Fusion style's standard light palette: what the app shows in light mode on every
    desktop, whatever palette the desktop's theme would give."""
    palette = QPalette()
    kind = QPalette.ColorGroup
    groups = (kind.Active, kind.Inactive, kind.Disabled)  # the order of _FUSION_LIGHT's values
    for name, values in _FUSION_LIGHT.items():
        role = getattr(QPalette.ColorRole, name, None)
        if role is None:  # a role this Qt does not have (Accent is Qt 6.6+)
            continue
        for group, value in zip(groups, values, strict=True):
            hex_value, _, alpha = value.partition("/")
            colour = QColor(hex_value)
            if alpha:
                colour.setAlpha(int(alpha))
            palette.setColor(group, role, colour)
    return palette


def dark_palette() -> QPalette:
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1f2125",
        QPalette.ColorRole.WindowText: "#e8e8ea",
        QPalette.ColorRole.Base: "#17181b",
        QPalette.ColorRole.AlternateBase: "#202226",
        QPalette.ColorRole.Text: "#e8e8ea",
        QPalette.ColorRole.Button: "#2a2d32",
        QPalette.ColorRole.ButtonText: "#e8e8ea",
        QPalette.ColorRole.Highlight: "#3d7be0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#2a2d32",
        QPalette.ColorRole.ToolTipText: "#e8e8ea",
        QPalette.ColorRole.PlaceholderText: "#8a8d93",
        QPalette.ColorRole.Mid: "#3a3d43",
        QPalette.ColorRole.Link: "#7aa7ff",
    }
    for role, value in colours.items():
        palette.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6c6f75"))
    return palette


def apply_color_scheme(app: QApplication, scheme: Qt.ColorScheme | None = None) -> None:
    """Follow the system's light or dark setting (Qt 6 style hints), now and when it changes
    (`scheme`: the one colorSchemeChanged hands in; None: ask the system)."""
    if scheme is None:
        dark = system_is_dark()  # without PySide6's `Qt` enums (desktop/app/color_scheme.py)
    else:
        from PySide6.QtCore import Qt

        dark = scheme == Qt.ColorScheme.Dark
    app.setPalette(dark_palette() if dark else light_palette())
    app.setProperty("colorScheme", "dark" if dark else "light")
    load_styles(app)


def load_styles(app: QApplication) -> None:
    """resources/styles/app.qss, plus dark.qss over it in dark mode."""
    sheets = ["app.qss"]
    if app.property("colorScheme") == "dark":
        sheets.append("dark.qss")
    text = ""
    for name in sheets:
        path = STYLES_DIR / name
        if path.exists():
            text += path.read_text(encoding="utf-8") + "\n"
    app.setStyleSheet(text)


def build_app() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
        app.setStyle("Fusion")
    else:
        # The same look on every desktop; colours still follow the system. Named on the
        # command line Qt reads, not by setStyle(), which would build the platform's default
        # style first and hand the new one to Python (see _FUSION_LIGHT).
        app = QApplication([*sys.argv[:1], "-style", "Fusion"])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("connected-accounts")
    app.setWindowIcon(icon("connected-accounts"))
    apply_color_scheme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda s: apply_color_scheme(app, s))
    return app


def open_cache(backend_url: str | None) -> Cache | None:
    try:
        return Cache(cache_dir() / CACHE_FILE, backend_url or "embedded")
    except Exception as exc:  # a broken cache must never stop the app
        log.warning("The local cache is unavailable: %s", exc)
        return None


def raise_window(window: MainWindow) -> None:
    window.showNormal()
    window.raise_()
    window.activateWindow()


def quit_on_signals(app: QApplication) -> QTimer:
    """SIGTERM and Ctrl+C quit cleanly, so the built-in backend is stopped, not orphaned."""
    import signal  # here, not before the window (bench/cold_start.py)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes; a periodic no-op lets it in.
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(300)
    return ticker


@dataclass
class MainParts:
    """The main window and what drives it, wired as the app runs them."""

    window: MainWindow
    model: ConnectionsModel
    notifier: Notifier
    controller: Controller
    link: BackendLink

    def start(self) -> None:
        """Show the cached view at once, then reach the backend off the UI thread.

        The backend link starts once the saved list has been painted: its worker imports httpx,
        keyring, PyJWT and cryptography (about 0.4 s and 40 MiB), which would otherwise compete
        with the first paint for the GIL (bench/cold_start.py)."""
        self.controller.load_cached(then=lambda: after_next_paint(self.window, self._after_paint))
        self.window.show()

    def _after_paint(self) -> None:
        self.link.start()
        self.notifier.set_up()

    def stop(self) -> None:
        self.notifier.close()
        self.link.stop()


def build_main(app: QApplication, backend_url: str | None) -> MainParts:
    """Build the window, controller, cache and backend link (not started yet)."""
    model = ConnectionsModel()
    cache = open_cache(backend_url)
    if cache is not None:
        cache.preload_connections()  # read while the window is built
    window = MainWindow(model)
    notifier = Notifier(app.windowIcon(), window)
    controller = Controller(window, model, cache, notifier)
    watch_expiry(model, notifier, lambda: controller.cache, window)
    link = BackendLink(controller, backend_url)
    window.settings_requested.connect(lambda: _open_settings(window, link))
    return MainParts(window, model, notifier, controller, link)


def watch_expiry(
    model: ConnectionsModel, notifier: Notifier, cache: Callable[[], Cache | None], parent: QObject
) -> ExpiryWatcher:
    """Announce each grant entering its last 14 days whenever the list changes."""
    watcher = ExpiryWatcher(notifier, cache, parent)

    def check(*_: object) -> None:
        watcher.check(model.items())

    for changed in (model.modelReset, model.rowsInserted, model.dataChanged):
        changed.connect(check)
    return watcher


def run_gui(args: argparse.Namespace) -> int:
    """Open the window; returns the exit code."""
    from desktop.app.single_instance import SingleInstance, server_name

    app = build_app()
    guard = SingleInstance(server_name())
    if guard.hand_over():
        print("Connected Accounts is already open; its window was brought to the front.")
        return 0
    guard.listen()
    quit_on_signals(app)
    try:
        backend_url = resolve_backend_url(getattr(args, "backend", None))
    except BackendUrlRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        from PySide6.QtWidgets import QMessageBox

        QMessageBox.critical(None, "Connected Accounts", str(exc))
        return 2
    parts = build_main(app, backend_url)
    guard.activation_requested.connect(lambda: raise_window(parts.window))
    parts.start()
    after_next_paint(parts.window, lambda: _install_browser_opener(app))
    try:
        return int(app.exec())
    finally:
        parts.stop()
        tasks.shutdown(cancel=True)


def _install_browser_opener(app: QApplication) -> None:
    """Open links with xdg-open ourselves, to notice a browser that dies at once
    (desktop/connect/browser.py); after the first paint, which does not need it."""
    from desktop.connect import browser

    browser.install(app)


def _open_settings(window: MainWindow, link: BackendLink) -> None:
    from desktop.views.settings_dialog import SettingsDialog

    dialog = SettingsDialog(link.backend_url, window)

    def chosen(url: object) -> None:
        new_url = url if isinstance(url, str) else None

        def save() -> None:
            save_settings(Settings(backend_url=new_url, ui=load_settings().ui))

        run_in_background(window, save, success=lambda _: None)
        link.controller.cache = open_cache(new_url)
        window.set_report_cache(link.controller.cache)
        link.switch(new_url)

    dialog.backend_chosen.connect(chosen)
    dialog.devices_requested.connect(lambda: open_devices(window, link.controller.client))
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()


def open_devices(window: MainWindow, client: ApiClient | None) -> DevicesDialog | None:
    """Settings → Signed-in devices, on the backend the window is signed in to."""
    if client is None:
        window.show_notice("Signed-in devices", "Sign in first to see your devices")
        return None
    from desktop.views.devices_dialog import DevicesDialog

    dialog = DevicesDialog(
        client.devices, client.sign_out_device, client.sign_out_other_devices, window
    )
    dialog.finished.connect(dialog.deleteLater)
    dialog.open()
    return dialog
