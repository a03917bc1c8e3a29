"""Settings: where the companion service runs (this computer, or a remote URL)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from desktop.config import BackendUrlRefused, check_backend_url
from desktop.views.widgets import PlainLabel


class SettingsDialog(QDialog):
    """Choose the backend; emits `backend_chosen` with the URL, or None for the built-in one."""

    backend_chosen = Signal(object)
    """The user saved a backend choice: (URL str, or None for this computer)."""
    devices_requested = Signal()
    """The user wants to see (and sign out) the devices signed in to this account."""

    def __init__(self, backend_url: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumWidth(440)
        layout = QVBoxLayout(self)
        heading = PlainLabel("Companion service")
        heading.setObjectName("dialogTitle")
        layout.addWidget(heading)
        hint = PlainLabel(
            "The companion service keeps your provider keys and fetches reports. "
            "It can run on this computer, or your team can run one for everyone."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.local_radio = QRadioButton("This computer (built-in)")
        self.local_radio.setAccessibleName("Use the built-in service on this computer")
        self.remote_radio = QRadioButton("A remote service at this address:")
        self.remote_radio.setAccessibleName("Use a remote service")
        group = QButtonGroup(self)
        group.addButton(self.local_radio)
        group.addButton(self.remote_radio)
        self.url_edit = QLineEdit(backend_url or "")
        self.url_edit.setPlaceholderText("https://accounts.example.com")
        self.url_edit.setAccessibleName("Remote service address")
        layout.addWidget(self.local_radio)
        layout.addWidget(self.remote_radio)
        layout.addWidget(self.url_edit)
        self.error_label = PlainLabel("")
        self.error_label.setObjectName("errorText")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        devices_heading = PlainLabel("Signed-in devices")
        devices_heading.setObjectName("dialogTitle")
        layout.addWidget(devices_heading)
        self.devices_button = QPushButton("Signed-in devices…")
        self.devices_button.setAccessibleName("Show the devices signed in to your account")
        self.devices_button.clicked.connect(self.devices_requested)
        layout.addWidget(self.devices_button)
        (self.remote_radio if backend_url else self.local_radio).setChecked(True)
        self.url_edit.setEnabled(bool(backend_url))
        self.remote_radio.toggled.connect(self.url_edit.setEnabled)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        for role, name in (
            (QDialogButtonBox.StandardButton.Save, "Save settings"),
            (QDialogButtonBox.StandardButton.Cancel, "Cancel"),
        ):
            buttons.button(role).setAccessibleName(name)
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def chosen_url(self) -> str | None:
        return self.url_edit.text().strip().rstrip("/") if self.remote_radio.isChecked() else None

    def _on_buttons_accepted(self) -> None:
        url = self.chosen_url()
        if url is not None:
            try:
                check_backend_url(url)
            except BackendUrlRefused as exc:
                self.error_label.setText(str(exc))
                self.error_label.show()
                return
        self.backend_chosen.emit(url)
        self.accept()
