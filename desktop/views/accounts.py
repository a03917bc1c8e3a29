"""The Accounts view: one row per connection with its status, and what to do next."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.models.connections import Connection, ConnectionRole, ConnectionsModel
from desktop.models.format import relative_time, rich_safe
from desktop.views.widgets import Badge, PlainLabel, icon, icon_label, provider_icon

if TYPE_CHECKING:
    from PySide6.QtGui import QShowEvent


class ConnectionRow(QFrame):
    """One connection: icon, names, badge, reason, last refresh, accounts and actions."""

    reports_requested = Signal(str)
    """View reports for this connection id."""
    reconnect_requested = Signal(str)
    """Run the connect flow again for this connection id."""
    disconnect_requested = Signal(str)
    """Disconnect (revoke) this connection id."""

    def __init__(
        self, item: Connection, parent: QWidget | None = None, *, now: datetime | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("connectionRow")
        self.connection_id = item.id
        outer = QHBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 12)
        outer.setSpacing(14)
        # At the top of the row: a column of the icon over a stretch (the row is built before
        # the first paint, without Qt.AlignmentFlag.AlignTop: see PlainLabel).
        icon_column = QVBoxLayout()
        icon_column.setContentsMargins(0, 0, 0, 0)
        icon_column.setSpacing(0)
        icon_column.addWidget(icon_label(provider_icon(item.provider), 36))
        icon_column.addStretch(1)
        outer.addLayout(icon_column)

        text = QVBoxLayout()
        text.setSpacing(3)
        title_line = QHBoxLayout()
        title_line.setSpacing(10)
        self.title = PlainLabel(item.display_name)
        self.title.setObjectName("rowTitle")
        title_line.addWidget(self.title)
        self.badge = Badge(item.badge, item.badge_kind)
        title_line.addWidget(self.badge)
        title_line.addStretch(1)
        text.addLayout(title_line)
        self.subtitle = PlainLabel(f"{item.provider_name} · {item.accounts_text()}")
        self.subtitle.setObjectName("rowSubtitle")
        self.subtitle.setWordWrap(True)
        text.addWidget(self.subtitle)
        if item.has_hierarchy():
            # Google Ads managers: clients indented under the manager that reaches them.
            self.subtitle.setText(item.provider_name)
            self.tree = PlainLabel(_tree_text(item))
            self.tree.setObjectName("rowSubtitle")
            self.tree.setAccessibleName(f"Ad accounts of {item.display_name}")
            text.addWidget(self.tree)
        # The reason and the expiry warning: their labels are built only when there is
        # something to show (or when asked for): ten hidden labels fewer to build and style
        # before the first paint for five connections (bench/cold_start.py).
        self._text = text
        self._detail: PlainLabel | None = None
        self._expiry: PlainLabel | None = None
        self._detail_text, self._detail_kind = item.detail(), item.badge_kind
        if self._detail_text:
            self.detail  # noqa: B018 - built now, on show
        warning = item.expiry_warning(now or datetime.now(UTC))
        details = item.expiry_details()
        # Tooltips read markup; the reason comes from the provider.
        self._expiry_text, self._expiry_tip = warning, rich_safe(details) if details else ""
        if warning is not None:
            self.expiry  # noqa: B018 - built now, on show
        if details:
            self.setToolTip(self._expiry_tip)
        meta = f"Last refreshed {relative_time(item.last_refreshed_at)}"
        usable = item.status in ("connected", "error") and not item.revocation_pending
        if item.expires_at is not None and warning is None and usable:
            # Always in sight, so a lapse is never a surprise (the reason is in the tooltip).
            meta += f" · Access ends {item.expires_at.astimezone():%d %b %Y}"
        self.refreshed = PlainLabel(meta)
        self.refreshed.setObjectName("rowMeta")
        text.addWidget(self.refreshed)
        outer.addLayout(text, 1)

        actions = QHBoxLayout()
        actions.setSpacing(6)
        self.reports_button = self._button("View reports", f"View reports for {item.display_name}")
        self.reports_button.setEnabled(
            item.status in {"connected", "error"} and bool(item.accounts)
        )
        self.reports_button.clicked.connect(lambda: self.reports_requested.emit(item.id))
        self.reconnect_button = self._button("Reconnect", f"Reconnect {item.display_name}")
        self.reconnect_button.clicked.connect(lambda: self.reconnect_requested.emit(item.id))
        if item.status == "needs_reconnect":
            self.reconnect_button.setObjectName("primary")
        self.disconnect_button = self._button("Disconnect", f"Disconnect {item.display_name}")
        self.disconnect_button.clicked.connect(lambda: self.disconnect_requested.emit(item.id))
        for button in (self.reports_button, self.reconnect_button, self.disconnect_button):
            actions.addWidget(button)
        outer.addLayout(actions)
        spoken = f"{item.display_name}, {item.provider_name}, {item.badge}"
        self.setAccessibleName(f"{spoken}, {warning}" if warning else spoken)

    @property
    def detail(self) -> PlainLabel:
        """The reason in the provider's words (kind: the badge's), hidden when there is none.
        The provider's words: never read as markup (PlainLabel)."""
        if self._detail is None:
            label = self._detail = PlainLabel(self._detail_text)
            label.setObjectName("rowDetail")
            label.setProperty("kind", self._detail_kind)
            label.setWordWrap(True)
            label.setVisible(bool(self._detail_text))
            self._insert_text_line(label, before=self._expiry or getattr(self, "refreshed", None))
        return self._detail

    @property
    def expiry(self) -> PlainLabel:
        """The warning that access lapses soon, hidden when it does not."""
        if self._expiry is None:
            label = self._expiry = PlainLabel(self._expiry_text or "")
            label.setObjectName("rowDetail")
            label.setProperty("kind", "warning")
            label.setWordWrap(True)
            label.setVisible(self._expiry_text is not None)
            if self._expiry_tip:
                label.setToolTip(self._expiry_tip)
            self._insert_text_line(label, before=getattr(self, "refreshed", None))
        return self._expiry

    def _insert_text_line(self, label: QWidget, before: QWidget | None) -> None:
        at = self._text.indexOf(before) if before is not None else -1
        self._text.insertWidget(at, label)

    def _button(self, text: str, accessible: str) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(accessible)
        return button


def _centred(widget: QWidget) -> QHBoxLayout:
    """`widget` centred across a row: what addWidget(widget, 0, Qt.AlignHCenter) does."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    return row


def _tree_text(item: Connection) -> str:
    lines = []
    for depth, account in item.account_tree():
        role = " (manager)" if account.is_manager else ""
        lines.append("    " * depth + f"{account.name}{role}")
    return "\n".join(lines)


class AccountsView(QWidget):
    """Lists the connections of `model`; asks for actions through its signals."""

    connect_requested = Signal()
    """The user wants to connect an ad account."""
    refresh_requested = Signal()
    """The user wants every connection's status checked now."""
    reports_requested = Signal(str)
    """Show reports of a connection: (connection id)."""
    reconnect_requested = Signal(str)
    """Reconnect a connection: (connection id)."""
    disconnect_requested = Signal(str)
    """Disconnect a connection: (connection id)."""

    def __init__(
        self,
        model: ConnectionsModel,
        parent: QWidget | None = None,
        *,
        empty_state_on_show: bool = False,
    ) -> None:
        super().__init__(parent)
        self.model = model
        # The main window's view: its list usually arrives (from the cache) before the window
        # is shown, so the empty state is built when it is to be seen, not when the still empty
        # model is first listed (bench/cold_start.py).
        self._empty_state_on_show = empty_state_on_show
        self.rows: list[ConnectionRow] = []
        # The clock the expiry warnings count from (tests set a fixed one).
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(12)

        header = QHBoxLayout()
        title = PlainLabel("Connected accounts")
        title.setObjectName("pageTitle")
        header.addWidget(title)
        header.addStretch(1)
        self.check_button = QPushButton("Check now")
        self.check_button.setAccessibleName("Check the status of every connection now")
        self.check_button.clicked.connect(self.refresh_requested)
        header.addWidget(self.check_button)
        self.connect_button = QPushButton(icon("add"), "Connect account")
        self.connect_button.setObjectName("primary")
        self.connect_button.setAccessibleName("Connect an ad account")
        self.connect_button.clicked.connect(self.connect_requested)
        header.addWidget(self.connect_button)
        layout.addLayout(header)

        self.note = PlainLabel("")
        self.note.setObjectName("rowMeta")
        self.note.setVisible(False)
        layout.addWidget(self.note)

        self.stack = QStackedWidget()
        layout.addWidget(self.stack, 1)
        # The empty state ("Connect your first ad account") is built the first time there is
        # nothing to list, at index 0 (with saved connections, not before the first paint).
        self._empty: QWidget | None = None
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setAccessibleName("Connections")
        self._list = QWidget()
        self._list.setObjectName("connectionList")
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.setSpacing(10)
        self._list_layout.addStretch(1)
        scroll.setWidget(self._list)
        self._scroll = scroll
        self.stack.addWidget(scroll)

        model.modelReset.connect(self._rebuild)
        model.rowsInserted.connect(self._rebuild)
        model.rowsRemoved.connect(self._rebuild)
        model.dataChanged.connect(self._rebuild)
        # "5 minutes ago" must keep moving while the window stays open.
        self._clock = QTimer(self)
        self._clock.setInterval(30_000)
        self._clock.timeout.connect(self._rebuild)
        self._clock.start()
        self._rebuild()

    def _empty_page(self) -> QWidget:
        if self._empty is None:
            self._empty = self._build_empty()
            self.stack.insertWidget(0, self._empty)
        return self._empty

    def _build_empty(self) -> QWidget:
        """The empty state, centred by stretches (no `Qt` alignment flags: the view is built
        before the first paint, see PlainLabel)."""
        page = QWidget()
        box = QVBoxLayout(page)
        box.addStretch(1)
        art = icon_label(icon("connected-accounts"), 72)
        box.addLayout(_centred(art))
        heading = PlainLabel("Connect your first ad account")
        heading.setObjectName("emptyTitle")
        box.addLayout(_centred(heading))
        words = PlainLabel(
            "Sign in at your ad platform in the browser. Your provider keys stay with the\n"
            "companion service; this app only sees status and reports."
        )
        words.setObjectName("rowSubtitle")
        words.setProperty("alignment", "AlignCenter")  # setAlignment(Qt.AlignCenter)
        box.addLayout(_centred(words))
        self.empty_connect_button = QPushButton("Connect an ad account")
        self.empty_connect_button.setObjectName("primary")
        self.empty_connect_button.setAccessibleName("Connect your first ad account")
        self.empty_connect_button.clicked.connect(self.connect_requested)
        box.addSpacing(8)
        box.addLayout(_centred(self.empty_connect_button))
        box.addStretch(2)
        return page

    def showEvent(self, event: QShowEvent) -> None:
        if not self.rows and self._empty is None:
            self.stack.setCurrentWidget(self._empty_page())
        super().showEvent(event)

    def set_note(self, text: str) -> None:
        """A quiet line under the title, e.g. that the list is from the last run."""
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def _rebuild(self, *_: object) -> None:
        for row in self.rows:
            row.hide()
            row.deleteLater()
        self.rows = []
        for r in range(self.model.rowCount()):
            item = self.model.data(self.model.index(r), ConnectionRole)
            if not isinstance(item, Connection):
                continue
            row = ConnectionRow(item, now=self.now())
            row.reports_requested.connect(self.reports_requested)
            row.reconnect_requested.connect(self.reconnect_requested)
            row.disconnect_requested.connect(self.disconnect_requested)
            self._list_layout.insertWidget(self._list_layout.count() - 1, row)
            self.rows.append(row)
        if self.rows:
            self.stack.setCurrentWidget(self._scroll)
        elif self._empty is not None or not self._empty_state_on_show or self.isVisible():
            self.stack.setCurrentWidget(self._empty_page())
        # else: showEvent shows it, if the list is still empty then.
        self.check_button.setEnabled(bool(self.rows))

    def row_for(self, connection_id: str) -> ConnectionRow | None:
        return next((r for r in self.rows if r.connection_id == connection_id), None)
