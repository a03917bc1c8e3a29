"""Desktop notifications: the system tray when there is one, else an in-window banner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop.models.format import rich_safe

if TYPE_CHECKING:  # imported when first used, after the window's first paint
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QSystemTrayIcon


def _literal(text: str) -> str:
    """Escape only what Qt would take for markup, so ordinary words go out unchanged."""
    from PySide6.QtGui import Qt

    return rich_safe(text) if Qt.mightBeRichText(text) else text


class Notifier(QObject):
    """Shows short messages outside the window when the desktop allows it."""

    fallback_requested = Signal(str, str)
    """No system tray: show (title, message) inside the window instead (the `in_window`
    words when given: there the user is in the app already)."""
    shown = Signal(str, str)
    """A notification went out: (title, message); for the record and for tests."""

    def __init__(self, app_icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._icon = app_icon
        self._tray: QSystemTrayIcon | None = None
        self._looked = False

    def set_up(self) -> None:
        """Put the icon in the system tray, if there is one. Asking the desktop (over D-Bus on
        Linux) is not free, so the app does it after the window's first paint, not before;
        a notification before then does it itself."""
        if self._looked:
            return
        self._looked = True
        from PySide6.QtWidgets import QSystemTrayIcon

        if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages():
            self._tray = QSystemTrayIcon(self._icon, self)
            self._tray.setToolTip("Connected Accounts")
            self._tray.show()

    @property
    def uses_tray(self) -> bool:
        self.set_up()
        return self._tray is not None

    def notify(self, title: str, message: str, *, in_window: str | None = None) -> None:
        self.set_up()
        if self._tray is not None:
            # The balloon and most notification servers read markup; provider words are text.
            title_shown, message_shown = _literal(title), _literal(message)
            from PySide6.QtWidgets import QSystemTrayIcon

            warning = QSystemTrayIcon.MessageIcon.Warning
            self._tray.showMessage(title_shown, message_shown, warning, 10_000)
        else:
            self.fallback_requested.emit(title, in_window or message)
        self.shown.emit(title, message)

    def close(self) -> None:
        if self._tray is not None:
            self._tray.hide()
