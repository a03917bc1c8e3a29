"""Disconnect: say what will happen, revoke at the provider, then say what did happen."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.answers import DisconnectOutcome
from desktop.concurrency.tasks import run_in_background
from desktop.models.connections import Connection
from desktop.views.errors import describe_error
from desktop.views.widgets import PlainLabel, icon_label, provider_icon

DisconnectOp = Callable[[bool], DisconnectOutcome]
"""Disconnects; the flag is `forget` (drop a revocation-pending connection). Returns the outcome."""


def outcome_words(outcome: DisconnectOutcome, provider_name: str) -> tuple[str, bool]:
    """(what happened in words, whether revocation is still pending)."""
    pending = outcome.revocation_pending
    if pending:
        words = (
            f"{provider_name} did not confirm that access was revoked. The stored keys are kept "
            "only to retry the revocation and are never used for reports. To be sure, remove "
            f"Connected Accounts from the connected apps on the {provider_name} website, "
            "then choose Forget it anyway."
        )
    elif outcome.revoked:
        words = (
            f"Access was revoked at {provider_name} and the stored keys were deleted. "
            "Reports for this account have stopped."
        )
    else:
        words = "The connection was removed and its stored keys were deleted."
    message = outcome.message
    if pending and message and message not in words:
        words += f"\n\nThe companion service said: {message}"
    return words, pending


class DisconnectDialog(QDialog):
    """Confirm → working → outcome; emits `disconnected` once the backend answered."""

    disconnected = Signal(str, bool)
    """The backend disconnected: (connection id, revocation still pending)."""

    def __init__(
        self, connection: Connection, disconnect: DisconnectOp, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.connection = connection
        self._disconnect = disconnect
        self.pending = False
        self.setWindowTitle(f"Disconnect {connection.display_name}")
        self.setAccessibleName("Disconnect")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(12)
        top = QHBoxLayout()
        top.setSpacing(12)
        top.addWidget(
            icon_label(provider_icon(connection.provider), 40), 0, Qt.AlignmentFlag.AlignTop
        )
        text = QVBoxLayout()
        self.title = PlainLabel(f"Disconnect {connection.display_name}?")
        self.title.setObjectName("dialogTitle")
        text.addWidget(self.title)
        self.message = PlainLabel(
            f"Connected Accounts will ask {connection.provider_name} to revoke access and "
            "delete the stored keys. Reports for this account will stop. You can connect it "
            "again later."
        )
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.addWidget(self.message)
        top.addLayout(text, 1)
        layout.addLayout(top)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.setAccessibleName("Disconnecting")
        self.progress.hide()
        layout.addWidget(self.progress)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Keep connected")
        self.cancel_button.setAccessibleName("Keep the connection")
        self.cancel_button.clicked.connect(self.reject)
        self.forget_button = QPushButton("Forget it anyway")
        self.forget_button.setAccessibleName("Forget the connection anyway")
        self.forget_button.clicked.connect(self._on_forget_clicked)
        self.forget_button.hide()
        self.confirm_button = QPushButton("Disconnect")
        self.confirm_button.setObjectName("danger")
        self.confirm_button.setAccessibleName(f"Disconnect {connection.display_name}")
        self.confirm_button.clicked.connect(self._on_confirm_clicked)
        self.close_button = QPushButton("Close")
        self.close_button.setAccessibleName("Close")
        self.close_button.clicked.connect(self.accept)
        self.close_button.hide()
        for button in (
            self.cancel_button,
            self.forget_button,
            self.confirm_button,
            self.close_button,
        ):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        if connection.revocation_pending:
            self._show_pending_choice()

    def _show_pending_choice(self) -> None:
        self.message.setText(
            f"{self.connection.provider_name} has not confirmed the revocation yet. "
            "Try again now, or forget the connection after removing access on the provider's site."
        )
        self.confirm_button.setText("Try again")
        self.forget_button.show()

    def _run(self, forget: bool) -> None:
        for button in (self.confirm_button, self.cancel_button, self.forget_button):
            button.setEnabled(False)
        self.progress.show()
        self.title.setText(f"Disconnecting {self.connection.display_name}…")
        run_in_background(
            self,
            lambda: self._disconnect(forget),
            success=self._on_disconnect_finished,
            failure=self._on_disconnect_failed,
        )

    def _on_confirm_clicked(self) -> None:
        self._run(False)

    def _on_forget_clicked(self) -> None:
        self._run(True)

    def _on_disconnect_finished(self, outcome: DisconnectOutcome) -> None:
        words, self.pending = outcome_words(outcome, self.connection.provider_name)
        self.progress.hide()
        self.title.setText("Revocation pending" if self.pending else "Disconnected")
        self.message.setText(words)
        self.confirm_button.hide()
        self.cancel_button.hide()
        self.forget_button.setVisible(self.pending)
        self.forget_button.setEnabled(True)
        self.close_button.show()
        self.close_button.setDefault(True)
        self.adjustSize()
        self.disconnected.emit(self.connection.id, self.pending)

    def _on_disconnect_failed(self, error: Exception) -> None:
        self.progress.hide()
        self.title.setText("Not disconnected")
        self.message.setText(f"{describe_error(error)} Nothing was changed; try again.")
        for button in (self.confirm_button, self.cancel_button):
            button.setEnabled(True)
        self.confirm_button.setText("Try again")
