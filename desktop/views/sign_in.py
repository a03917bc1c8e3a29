"""Sign-in dialog for a remote companion service (URL, email, password)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from desktop.concurrency.tasks import run_in_background
from desktop.views.errors import describe_error
from desktop.views.widgets import PlainLabel

SignInOp = Callable[[str, str, str], object]
"""Signs in with (backend URL, email, password); returns the signed-in session."""


class SignInDialog(QDialog):
    """Asks for the account on a remote backend; the password never leaves this dialog's op."""

    signed_in = Signal(object)
    """Sign-in worked: (the session the op returned)."""

    def __init__(
        self, sign_in: SignInOp, *, url: str = "", email: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._sign_in = sign_in
        self.setWindowTitle("Sign in to your companion service")
        self.setAccessibleName("Sign in")
        self.setMinimumWidth(420)
        layout = QVBoxLayout(self)
        intro = PlainLabel(
            "Your team's companion service keeps the provider keys. Sign in with the account "
            "its administrator gave you."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.url_edit = QLineEdit(url)
        self.url_edit.setPlaceholderText("https://accounts.example.com")
        self.url_edit.setAccessibleName("Companion service address")
        self.email_edit = QLineEdit(email)
        self.email_edit.setPlaceholderText("you@example.com")
        self.email_edit.setAccessibleName("Email")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setAccessibleName("Password")
        form.addRow(PlainLabel("Address"), self.url_edit)
        form.addRow(PlainLabel("Email"), self.email_edit)
        form.addRow(PlainLabel("Password"), self.password_edit)
        layout.addLayout(form)
        self.error_label = PlainLabel("")
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.setAccessibleName("Signing in")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Sign in")
        ok.setObjectName("primary")
        ok.setAccessibleName("Sign in")
        cancel = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        cancel.setAccessibleName("Cancel")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def _on_buttons_accepted(self) -> None:
        url = self.url_edit.text().strip().rstrip("/")
        email = self.email_edit.text().strip()
        password = self.password_edit.text()
        if not url.startswith(("http://", "https://")):
            self._show_error("Enter the service address, starting with https://")
            return
        if not email or not password:
            self._show_error("Enter your email and password.")
            return
        self.buttons.setEnabled(False)
        self.progress.show()
        self.error_label.hide()
        sign_in = self._sign_in
        run_in_background(
            self,
            lambda: sign_in(url, email, password),
            success=self._on_sign_in_finished,
            failure=self._on_sign_in_failed,
        )

    def _on_sign_in_finished(self, session: object) -> None:
        self.password_edit.clear()
        self.signed_in.emit(session)
        self.accept()

    def _on_sign_in_failed(self, error: Exception) -> None:
        self.progress.hide()
        self.buttons.setEnabled(True)
        self.password_edit.clear()
        self._show_error(describe_error(error))

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.show()
