"""The main window: navigation, menus and shortcuts, banners, and the two views."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.models.connections import ConnectionsModel
from desktop.views.accounts import AccountsView
from desktop.views.widgets import Banner, PlainLabel, icon

NO_KEYRING = "No system keyring is available"

if TYPE_CHECKING:  # built on first use: QtCharts loads after the window has painted
    from desktop.models.cache import Cache
    from desktop.views.reports import ReportOp, ReportsView

ACCOUNTS, REPORTS = 0, 1
BANNERS: dict[str, tuple[str, str | None]] = {
    "offline": ("error", "Try again"),
    "session": ("warning", "Sign in"),
    "notice": ("warning", "Dismiss"),
    "memory": ("warning", None),
    "vault": ("info", None),
}
"""The window's banners, top to bottom: (kind, action button)."""
VAULT_ON_DEVICE = (
    "Your provider tokens are kept by a companion service running on this computer. "
    "This app itself only sees connection status and reports."
)
VAULT_KEY_IN_KEYRING = " The key that encrypts them is in your system keyring."
VAULT_KEY_IN_FILE = (
    " There is no system keyring here{why}, so the key that encrypts them is kept in a file "
    "next to them that only your user account can read. Anyone who can read your files "
    "(a backup, an administrator, a program you run) can read your tokens too. Install and "
    "unlock a keyring (such as GNOME Keyring) to keep the key out of files; the service "
    "moves it there the next time it starts."
)


def keyring_lead(reason: str | None) -> str:
    """ "No system keyring is available", with the store's reason once, never twice (the
    reason often says the same words itself)."""
    why = (reason or "").strip().rstrip(".")
    if why.lower().startswith(NO_KEYRING.lower()):
        return NO_KEYRING + why[len(NO_KEYRING) :]
    return f"{NO_KEYRING} ({why})" if why else NO_KEYRING


FIRST_SIZE = ((1100, 720), (1320, 900))
"""The window's first size (no saved one): 85 % of the screen's free area, within these."""


def first_size(window: QWidget) -> tuple[int, int]:
    """Room for a report's rows and chart on a large screen, and no more than fits a small one
    (never under the smallest size, which the window's layout needs)."""
    (low_w, low_h), (high_w, high_h) = FIRST_SIZE
    screen = window.screen()
    if screen is None:
        return low_w, low_h
    free = screen.availableGeometry()
    width = min(high_w, max(low_w, int(free.width() * 0.85)))
    height = min(high_h, max(low_h, int(free.height() * 0.85)))
    return width, height


class MainWindow(QMainWindow):
    """Layout and commands only; `desktop.app.bootstrap` wires the commands to the backend."""

    connect_requested = Signal()
    """Connect a new ad account."""
    refresh_requested = Signal()
    """Reload the connection list and check every connection now."""
    settings_requested = Signal()
    """Open the settings."""
    sign_in_requested = Signal()
    """Sign in to a remote companion service."""
    sign_out_requested = Signal()
    """Sign out of the remote companion service."""
    retry_requested = Signal()
    """Try reaching the companion service again."""

    def __init__(self, model: ConnectionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connected Accounts")
        self.setWindowIcon(icon("connected-accounts"))
        self.setMinimumSize(760, 520)
        self.model = model
        central = QWidget()
        central.setObjectName("central")
        outer = QHBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)

        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.setAccessibleName("Views")
        self.nav.setFixedWidth(180)
        for text, icon_name in (("Accounts", "accounts"), ("Reports", "reports")):
            QListWidgetItem(icon(icon_name), text, self.nav)
        self.nav.currentRowChanged.connect(self._on_nav_row_changed)
        outer.addWidget(self.nav)

        main = QVBoxLayout()
        main.setContentsMargins(0, 0, 0, 0)
        main.setSpacing(0)
        self.banners = QVBoxLayout()
        self.banners.setContentsMargins(16, 12, 16, 0)
        self.banners.setSpacing(6)
        # The vault banner shows from the start; the others are built the first time they are
        # needed (bench/cold_start.py: ~11 widgets fewer to build and style before the first
        # paint), each in its place in BANNERS.
        self._banners: dict[str, Banner] = {}
        self.vault_banner = self._banner("vault")
        main.addLayout(self.banners)

        self.stack = QStackedWidget()
        self.accounts = AccountsView(model, empty_state_on_show=True)
        self.stack.addWidget(self.accounts)
        self._reports: ReportsView | None = None
        self._report_cache: Cache | None = None
        self._report_fetch: ReportOp | None = None
        self._reports_slot = QWidget()  # holds the Reports page's place until it is built
        self.stack.addWidget(self._reports_slot)
        main.addWidget(self.stack, 1)
        outer.addLayout(main, 1)
        self.setCentralWidget(central)

        self.status_text = PlainLabel("Starting…")
        self.status_text.setObjectName("statusText")
        self.statusBar().addWidget(self.status_text, 1)
        self.backend_text = PlainLabel("")
        self.backend_text.setObjectName("statusText")
        self.statusBar().addPermanentWidget(self.backend_text)
        self.statusBar().setSizeGripEnabled(False)

        self.accounts.connect_requested.connect(self.connect_requested)
        self.accounts.refresh_requested.connect(self.refresh_requested)
        self.accounts.reports_requested.connect(self._on_accounts_reports_requested)
        self._build_menus()
        self.nav.setCurrentRow(ACCOUNTS)
        self._restore_geometry()

    # -- banners, built on first use ------------------------------------------------------------
    def _banner(self, name: str) -> Banner:
        banner = self._banners.get(name)
        if banner is None:
            kind, action = BANNERS[name]
            banner = Banner(VAULT_ON_DEVICE if name == "vault" else "", kind=kind, action=action)
            if name == "offline":
                banner.action_requested.connect(self.retry_requested)
            elif name == "session":
                banner.action_requested.connect(self.sign_in_requested)
            elif name == "notice":
                banner.action_requested.connect(banner.hide)
            banner.hide()
            order = list(BANNERS)
            before = [n for n in order[: order.index(name)] if n in self._banners]
            self.banners.insertWidget(len(before), banner)
            self._banners[name] = banner
        return banner

    def _hide_banner(self, name: str) -> None:
        """Hide a banner if it was ever built (a banner never built is not on show)."""
        if name in self._banners:
            self._banners[name].hide()

    @property
    def offline_banner(self) -> Banner:
        """The backend cannot be reached."""
        return self._banner("offline")

    @property
    def session_banner(self) -> Banner:
        """The remote backend wants this device to sign in again."""
        return self._banner("session")

    @property
    def notice_banner(self) -> Banner:
        """The in-window fallback for desktop notifications."""
        return self._banner("notice")

    @property
    def memory_banner(self) -> Banner:
        """The sign-in is kept in memory only."""
        return self._banner("memory")

    # -- menus and shortcuts ----------------------------------------------------------------
    def _action(self, text: str, shortcuts: list[str], slot: object) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        action.triggered.connect(slot)
        self.addAction(action)  # shortcuts work even while the menu bar is hidden
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        bar.setAccessibleName("Menu bar")
        for extension in bar.findChildren(QToolButton):
            extension.setAccessibleName("More menus")
        file_menu = bar.addMenu("&File")
        self.connect_action = self._action("&Connect account…", ["Ctrl+N"], self.connect_requested)
        self.refresh_action = self._action(
            "&Refresh and check", ["Ctrl+R", "F5"], self.refresh_requested
        )
        self.export_action = self._action("&Export CSV…", ["Ctrl+E"], self._on_export_triggered)
        self.settings_action = self._action("&Settings…", ["Ctrl+,"], self.settings_requested)
        self.sign_in_action = self._action("Sign &in…", [], self.sign_in_requested)
        self.sign_out_action = self._action("Sign &out", [], self.sign_out_requested)
        self.quit_action = self._action("&Quit", ["Ctrl+Q"], self.close)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        for action in (self.connect_action, self.refresh_action, self.export_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        for action in (self.settings_action, self.sign_in_action, self.sign_out_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        self.accounts_action = self._action(
            "&Accounts", ["Ctrl+1"], lambda: self.show_view(ACCOUNTS)
        )
        self.reports_action = self._action("&Reports", ["Ctrl+2"], lambda: self.show_view(REPORTS))
        view_menu.addAction(self.accounts_action)
        view_menu.addAction(self.reports_action)
        help_menu = bar.addMenu("&Help")
        self.about_action = self._action("&About Connected Accounts", [], self.show_about)
        self.about_action.setMenuRole(QAction.MenuRole.AboutRole)
        help_menu.addAction(self.about_action)
        self.set_remote(False, signed_in=True)

    # -- the Reports view, built on first use -------------------------------------------------
    def report_progress(self, connection_id: str, percent: int, status: str) -> None:
        """Progress of a report being prepared; only a built Reports view can be loading one."""
        if self._reports is not None:
            self._reports.show_progress(connection_id, percent, status)

    @property
    def reports(self) -> ReportsView:
        """The Reports view; built the first time anything needs it (QtCharts, the pickers and
        the table cost about 0.2 s and 10 MiB that the first paint does not need)."""
        if self._reports is None:
            from desktop.views.reports import ReportsView

            view = ReportsView(self.model, fetch=self._report_fetch, cache=self._report_cache)
            view.connect_requested.connect(self.connect_requested)
            slot = self._reports_slot
            self.stack.insertWidget(REPORTS, view)
            if self.stack.currentWidget() is slot:
                self.stack.setCurrentWidget(view)
            self.stack.removeWidget(slot)
            slot.deleteLater()
            self._reports = view
        return self._reports

    @property
    def reports_built(self) -> bool:
        return self._reports is not None

    def set_report_cache(self, cache: Cache | None) -> None:
        """Where the Reports view keeps the last report of each connection."""
        self._report_cache = cache
        if self._reports is not None:
            self._reports.cache = cache

    def set_report_fetch(self, fetch: ReportOp | None) -> None:
        """How the Reports view loads a report (None while there is no backend)."""
        self._report_fetch = fetch
        if self._reports is not None:
            self._reports.fetch = fetch
            self._reports._fill_accounts()

    def show_view(self, index: int) -> None:
        self.nav.setCurrentRow(index)

    def _on_nav_row_changed(self, row: int) -> None:
        if row == REPORTS:
            self.reports  # noqa: B018 - built on first view
        if row >= 0:
            self.stack.setCurrentIndex(row)
            self._sync_vault_banner()

    def _on_accounts_reports_requested(self, connection_id: str) -> None:
        self.reports.show_connection(connection_id)
        self.show_view(REPORTS)

    def _on_export_triggered(self) -> None:
        self.show_view(REPORTS)
        if self.reports.export_button.isEnabled():
            self.reports.export_button.click()

    def show_about(self) -> None:
        from desktop.views.about import show_about

        show_about(self)

    # -- state shown in the window ------------------------------------------------------------
    def set_remote(self, remote: bool, *, signed_in: bool) -> None:
        """Remote backends need sign-in; the built-in one signs in by itself."""
        self.remote = remote
        self.sign_in_action.setVisible(remote and not signed_in)
        self.sign_out_action.setVisible(remote and signed_in)
        self._sync_vault_banner()

    def _sync_vault_banner(self) -> None:
        """Where this computer keeps the provider tokens: said on the Accounts page, where the
        connections are. On the Reports page the table needs the room more."""
        self.vault_banner.setVisible(not self.remote and self.stack.currentIndex() != REPORTS)

    def set_vault_key_place(self, kind: str, reason: str | None) -> None:
        """Say where the local vault key lives: the keyring, or (plainly) a file."""
        if kind == "file":
            why = f" ({reason.rstrip('.')})" if reason else ""
            text = VAULT_ON_DEVICE + VAULT_KEY_IN_FILE.format(why=why)
            self.vault_banner.set_text(text, kind="warning")
        elif kind == "keyring":
            self.vault_banner.set_text(VAULT_ON_DEVICE + VAULT_KEY_IN_KEYRING, kind="info")
        else:
            self.vault_banner.set_text(VAULT_ON_DEVICE, kind="info")

    def set_memory_only(self, memory_only: bool, reason: str | None, *, remote: bool) -> None:
        """Show that the sign-in lives in memory only (no usable keyring), and why."""
        if not memory_only:
            self._hide_banner("memory")
            return
        lead = keyring_lead(reason)
        if remote:
            text = (
                f"{lead}, so your sign-in is kept in memory only. "
                "You will need to sign in again after you quit."
            )
        else:
            text = (
                f"{lead}, so this computer's sign-in is kept in memory only. "
                "It is renewed automatically each time the app starts."
            )
        self.memory_banner.set_text(text)
        self.memory_banner.show()

    def set_backend_text(self, text: str) -> None:
        """Where the companion service runs and who is signed in (right of the status bar)."""
        self.backend_text.setText(text)

    def set_offline(self, message: str | None) -> None:
        if message is None:
            self._hide_banner("offline")
            return
        kept = " Showing what was saved last time." if self.model.rowCount() else ""
        self.offline_banner.set_text(message + kept)
        self._hide_banner("session")  # one cause, one banner: unreachable comes before sign-in
        self.offline_banner.show()

    def set_signed_out(self, message: str | None) -> None:
        """The backend answers but does not know this device (any more): ask to sign in."""
        if message is None:
            self._hide_banner("session")
            return
        if not self.remote:  # the built-in service signs in by itself: nothing to sign in to
            self.set_offline(message)
            return
        self.session_banner.set_text(message)
        self._hide_banner("offline")
        self.session_banner.show()

    def set_status(self, text: str) -> None:
        self.status_text.setText(text)

    def show_notice(self, title: str, message: str) -> None:
        """The in-window fallback for desktop notifications."""
        self.notice_banner.set_text(f"{title}. {message}")
        self.notice_banner.show()

    # -- geometry -----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        saved = QSettings().value("window/geometry")
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            self.restoreGeometry(saved)
        else:
            self.resize(*first_size(self))

    def closeEvent(self, event: QCloseEvent) -> None:
        QSettings().setValue("window/geometry", self.saveGeometry())
        super().closeEvent(event)
