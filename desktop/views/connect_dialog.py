"""Connect dialog: pick a provider, then wait while the user consents in the browser."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.api.answers import Provider
from desktop.concurrency.tasks import Task, run_in_background
from desktop.models.connection import Connection
from desktop.models.format import rich_safe
from desktop.views.errors import describe_error
from desktop.views.widgets import Pages, PlainLabel, provider_icon

ConnectOp = Callable[[str, Callable[[str], object], threading.Event], Connection]
"""Runs the whole flow for (provider id, open_browser, cancel) and returns the connection."""

ProvidersOp = Callable[[], list[Provider]]

PICK, WAIT, FAILED = 0, 1, 2


class _UrlRelay(QObject):
    """Carries the authorization URL from the flow's worker thread to the UI thread."""

    url_ready = Signal(str)
    """The flow wants the browser opened at this URL."""


ONLY_DEMO_NOTE = (
    "Only Demo Ads, the built-in sandbox, is set up on this backend. To connect Meta Ads, "
    "Google Ads, LinkedIn Ads or Microsoft Advertising, the backend needs that platform in its "
    "provider file: docs/PROVIDERS.md explains it step by step, and "
    "`connected-accounts-backend presets` lists what each platform needs."
)


def open_in_browser(url: str) -> object:
    return QDesktopServices.openUrl(QUrl(url))


def _titled_page(title: str) -> tuple[QWidget, QVBoxLayout, QLabel]:
    """A dialog page (no margins of its own: the dialog has them) that starts with a heading."""
    page = QWidget()
    box = QVBoxLayout(page)
    box.setContentsMargins(0, 0, 0, 0)
    heading = PlainLabel(title)
    heading.setObjectName("dialogTitle")
    box.addWidget(heading)
    return page, box, heading


class ConnectDialog(QDialog):
    """Runs one connect flow; emits `connection_added` with the API's connection on success."""

    connection_added = Signal(object)
    """The flow finished: (connection as the API returned it)."""

    def __init__(
        self,
        load_providers: ProvidersOp,
        connect: ConnectOp,
        *,
        provider: str | None = None,
        open_url: Callable[[str], object] = open_in_browser,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect an ad account")
        self.setAccessibleName("Connect an ad account")
        self.setMinimumWidth(460)
        self._connect = connect
        self._open_url = open_url
        self._preselected = provider
        self._task: Task[Connection] | None = None
        self._url = ""
        self._relay = _UrlRelay(self)
        self._relay.url_ready.connect(self._on_relay_url_ready)
        # The app's browser opener (desktop.connect.browser) says when the browser died at once.
        browser = sys.modules.get("desktop.connect.browser")
        opener = browser.installed() if browser is not None else None
        if opener is not None:
            opener.failed.connect(self._on_opener_failed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        self.pages = Pages()
        layout.addWidget(self.pages)
        self.pages.addWidget(self._build_pick())
        self.pages.addWidget(self._build_wait())
        self.pages.addWidget(self._build_failed())
        self.pages.currentChanged.connect(self._on_pages_current_changed)
        self._providers_task = run_in_background(
            self,
            load_providers,
            success=self._on_providers_loaded,
            failure=self._on_providers_failed,
        )

    # -- pages ------------------------------------------------------------------------------
    def _show_page(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self._on_pages_current_changed(index)

    def _on_pages_current_changed(self, _index: int) -> None:
        # Shrink or grow to the page on show once Qt has laid it out.
        QTimer.singleShot(0, self.adjustSize)

    def _build_pick(self) -> QWidget:
        page, box, _heading = _titled_page("Which ad platform?")
        self.pick_hint = PlainLabel("Loading providers…")
        self.pick_hint.setObjectName("rowSubtitle")
        self.pick_hint.setWordWrap(True)
        box.addWidget(self.pick_hint)
        self.provider_list = QListWidget()
        self.provider_list.setObjectName("providerList")
        self.provider_list.setAccessibleName("Providers")
        self.provider_list.setIconSize(QSize(28, 28))
        self.provider_list.itemDoubleClicked.connect(lambda _item: self._on_continue_clicked())
        box.addWidget(self.provider_list)
        self.only_demo_note = PlainLabel(ONLY_DEMO_NOTE)
        self.only_demo_note.setObjectName("onlyDemoNote")
        self.only_demo_note.setWordWrap(True)
        self.only_demo_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.only_demo_note.hide()
        box.addWidget(self.only_demo_note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        cancel = QPushButton("Cancel")
        cancel.setAccessibleName("Cancel")
        cancel.clicked.connect(self.reject)
        self.continue_button = QPushButton("Continue in browser")
        self.continue_button.setObjectName("primary")
        self.continue_button.setAccessibleName("Continue in the browser")
        self.continue_button.setEnabled(False)
        self.continue_button.setDefault(True)
        self.continue_button.clicked.connect(self._on_continue_clicked)
        self.provider_list.currentRowChanged.connect(self._on_provider_list_row_changed)
        buttons.addWidget(cancel)
        buttons.addWidget(self.continue_button)
        box.addLayout(buttons)
        return page

    def _on_provider_list_row_changed(self, row: int) -> None:
        self.continue_button.setEnabled(row >= 0)

    def _build_wait(self) -> QWidget:
        page, box, self.wait_title = _titled_page("Continue in your browser")
        box.setSpacing(10)
        self.wait_title.setWordWrap(True)
        self.wait_text = PlainLabel(
            "Sign in and allow access in the browser window that just opened. "
            "This window updates by itself when you are done."
        )
        self.wait_text.setWordWrap(True)
        box.addWidget(self.wait_text)
        # Shown when the browser did not open: the link itself, to select or copy.
        self.link_text = PlainLabel("")
        self.link_text.setObjectName("linkText")
        self.link_text.setWordWrap(True)
        self.link_text.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.link_text.setAccessibleName("Sign-in link")
        self.link_text.hide()
        box.addWidget(self.link_text)
        busy = QProgressBar()
        busy.setRange(0, 0)
        busy.setTextVisible(False)
        busy.setMaximumHeight(6)
        busy.setAccessibleName("Waiting for the browser")
        box.addWidget(busy)
        buttons = QHBoxLayout()
        self.open_again_button = QPushButton("Open browser again")
        self.open_again_button.setAccessibleName("Open the browser again")
        self.open_again_button.setEnabled(False)
        self.open_again_button.clicked.connect(lambda: self._open_url(self._url))
        self.copy_button = QPushButton("Copy link")
        self.copy_button.setAccessibleName("Copy the sign-in link")
        self.copy_button.setEnabled(False)
        self.copy_button.clicked.connect(self._on_copy_clicked)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel connecting")
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        buttons.addWidget(self.open_again_button)
        buttons.addWidget(self.copy_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        box.addLayout(buttons)
        box.addStretch(1)
        return page

    def _build_failed(self) -> QWidget:
        page, box, _heading = _titled_page("Not connected")
        self.error_text = PlainLabel("")
        self.error_text.setWordWrap(True)
        self.error_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.addWidget(self.error_text)
        box.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        close = QPushButton("Close")
        close.setAccessibleName("Close")
        close.clicked.connect(self.reject)
        self.retry_button = QPushButton("Try again")
        self.retry_button.setObjectName("primary")
        self.retry_button.setAccessibleName("Try connecting again")
        self.retry_button.clicked.connect(self._on_retry_clicked)
        buttons.addWidget(close)
        buttons.addWidget(self.retry_button)
        box.addLayout(buttons)
        return page

    # -- flow -------------------------------------------------------------------------------
    def _on_providers_loaded(self, providers: list[Provider]) -> None:
        self.provider_list.clear()
        for p in providers:
            item = QListWidgetItem(provider_icon(p.id), p.display_name)
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            item.setToolTip(rich_safe(", ".join(p.scopes)))
            self.provider_list.addItem(item)
        self.pick_hint.setText(
            "You will sign in at the provider in your browser and allow read access to reports."
            if providers
            else "This backend has no providers enabled. Ask its administrator to add one."
        )
        # A backend with the sandbox alone: say why the list is so short and how to grow it.
        self.only_demo_note.setVisible(bool(providers) and all(p.kind == "demo" for p in providers))
        if providers:
            row = 0
            for i, p in enumerate(providers):
                if p.id == self._preselected:
                    row = i
            self.provider_list.setCurrentRow(row)
            if self._preselected:
                self._on_continue_clicked()

    def _on_providers_failed(self, error: Exception) -> None:
        self.pick_hint.setText(describe_error(error))

    def selected_provider(self) -> str | None:
        item = self.provider_list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def _on_continue_clicked(self) -> None:
        provider = self.selected_provider()
        if provider is None:
            return
        name = self.provider_list.currentItem().text()
        self.wait_text.setText(
            f"Sign in to {name} and allow access in the browser window that just opened. "
            "This window updates by itself when you are done."
        )
        self._url = ""
        self.wait_title.setText("Continue in your browser")
        self.link_text.hide()
        self.copy_button.setText("Copy link")
        self.open_again_button.setEnabled(False)
        self.copy_button.setEnabled(False)
        self._show_page(WAIT)
        cancel = threading.Event()
        relay = self._relay

        def open_browser(url: str) -> object:
            relay.url_ready.emit(url)  # queued to the UI thread; the flow keeps waiting
            return True

        self._task = run_in_background(
            self,
            lambda: self._connect(provider, open_browser, cancel),
            success=self._on_flow_succeeded,
            failure=self._on_flow_failed,
            cancel=cancel,
        )

    @Slot(str)
    def _on_relay_url_ready(self, url: str) -> None:
        self._url = url
        self.open_again_button.setEnabled(True)
        self.copy_button.setEnabled(True)
        if self._open_url(url) is False:
            self.browser_did_not_open()

    def _on_opener_failed(self, url: str) -> None:
        if QUrl(url) == QUrl(self._url):
            self.browser_did_not_open()

    def browser_did_not_open(self) -> None:
        """Nothing opened: say so, and put the link where it can be copied or selected."""
        if not self._url or self.pages.currentIndex() != WAIT:
            return
        self.wait_title.setText("Your browser did not open")
        self.wait_text.setText("Your browser did not open. Open this link yourself:")
        self.link_text.setText(self._url)
        self.link_text.show()
        self.copy_button.setDefault(True)
        self.copy_button.setFocus()

    def _on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._url)
        self.copy_button.setText("Link copied")

    def _on_flow_succeeded(self, connection: Connection) -> None:
        self._task = None
        self.connection_added.emit(connection)
        self.accept()

    def _on_flow_failed(self, error: Exception) -> None:
        self._task = None
        self.error_text.setText(describe_error(error))
        self._show_page(FAILED)

    def _on_retry_clicked(self) -> None:
        self._show_page(PICK)

    def _on_cancel_clicked(self) -> None:
        self.reject()

    def reject(self) -> None:
        # Closing the dialog also stops the loopback receiver, so the port never lingers.
        if self._task is not None:
            self._task.cancel()
            self._task = None
        super().reject()
