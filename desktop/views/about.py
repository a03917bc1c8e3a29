"""The About box."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from desktop import __version__


def about_text() -> str:
    return (
        f"<h3>Connected Accounts {__version__}</h3>"
        "<p>Connect ad-platform accounts, see at a glance which connections are healthy, "
        "pull reports and disconnect — with the provider keys kept off this device.</p>"
        "<p>Licensed under the Apache License 2.0.</p>"
    )


def show_about(parent: QWidget) -> None:
    box = QMessageBox(parent)
    box.setWindowTitle("About Connected Accounts")
    box.setAccessibleName("About Connected Accounts")
    box.setText(about_text())
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.exec()
