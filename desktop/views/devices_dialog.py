"""Settings → Signed-in devices: every device signed in to this account, its name, when it
was last seen (local time) and which one this is; sign one out, or every other one.

Every backend call runs on a worker (desktop/concurrency/tasks.py); the dialog only shows the
answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.concurrency.tasks import run_in_background
from desktop.models.expiry import local_time
from desktop.views.errors import describe_error
from desktop.views.widgets import PlainLabel


class DevicesDialog(QDialog):
    """Lists devices from `list_op`; `sign_out_op(id)` and `sign_out_others_op()` act."""

    changed = Signal()
    """The list was (re)loaded and shown; for tests and the record."""

    def __init__(
        self,
        list_op: Callable[[], list[dict[str, Any]]],
        sign_out_op: Callable[[str], None],
        sign_out_others_op: Callable[[], int],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._list_op = list_op
        self._sign_out_op = sign_out_op
        self._sign_out_others_op = sign_out_others_op
        self.devices: list[dict[str, Any]] = []
        self.rows: dict[str, QWidget] = {}
        self.setWindowTitle("Signed-in devices")
        self.setAccessibleName("Signed-in devices")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        heading = PlainLabel("Signed-in devices")
        heading.setObjectName("dialogTitle")
        layout.addWidget(heading)
        hint = PlainLabel(
            "Every computer and command line signed in to your account. Sign out one you "
            "no longer use, or every other one if a device was lost."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.status = PlainLabel("Loading…")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self._list = QVBoxLayout()
        layout.addLayout(self._list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.others_button = QPushButton("Sign out all others")
        self.others_button.setAccessibleName("Sign out every other device")
        self.others_button.setEnabled(False)
        self.others_button.clicked.connect(self._sign_out_others)
        buttons.addButton(self.others_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.reload()

    def reload(self) -> None:
        run_in_background(self, self._list_op, success=self._show, failure=self._failed)

    def _show(self, devices: list[dict[str, Any]]) -> None:
        for row in self.rows.values():
            row.hide()
            row.deleteLater()
        self.rows = {}
        self.devices = devices
        for device in devices:
            row = self._row(device)
            self._list.addWidget(row)
            self.rows[str(device.get("id"))] = row
        others = sum(1 for d in devices if not d.get("current"))
        self.status.setText(
            f"{len(devices)} device{'s' if len(devices) != 1 else ''} signed in."
            if devices
            else "No device is signed in."
        )
        self.others_button.setEnabled(others > 0)
        self.changed.emit()

    def _row(self, device: dict[str, Any]) -> QWidget:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 4, 0, 4)
        words = QVBoxLayout()
        name = PlainLabel(str(device.get("name") or "Unnamed device"))
        name.setObjectName("rowTitle")
        name.setTextFormat(Qt.TextFormat.PlainText)  # names are whatever a device sent
        words.addWidget(name)
        mark = " · This device" if device.get("current") else ""
        seen = PlainLabel(f"Last seen {local_time(device.get('last_seen_at'))}{mark}")
        seen.setObjectName("rowMeta")
        words.addWidget(seen)
        line.addLayout(words, 1)
        button = QPushButton("Sign out")
        button.setAccessibleName(f"Sign out {name.text()}")
        if device.get("current"):
            button.setEnabled(False)
            button.setToolTip("To sign out this device, use Sign out in the main window.")
        device_id = str(device.get("id"))
        button.clicked.connect(lambda: self._sign_out(device_id))
        line.addWidget(button)
        row.setAccessibleName(f"{name.text()}, {seen.text()}")
        row.setProperty("current", bool(device.get("current")))
        return row

    def _sign_out(self, device_id: str) -> None:
        self._busy("Signing out…")
        op = self._sign_out_op
        run_in_background(
            self, lambda: op(device_id), success=lambda _: self.reload(), failure=self._failed
        )

    def _sign_out_others(self) -> None:
        self._busy("Signing out every other device…")
        run_in_background(
            self, self._sign_out_others_op, success=lambda _: self.reload(), failure=self._failed
        )

    def _busy(self, words: str) -> None:
        self.status.setText(words)
        self.others_button.setEnabled(False)
        for row in self.rows.values():
            row.setEnabled(False)

    def _failed(self, exc: Exception) -> None:
        self.status.setText(describe_error(exc))
        for row in self.rows.values():
            row.setEnabled(True)
        self.others_button.setEnabled(any(not d.get("current") for d in self.devices))
