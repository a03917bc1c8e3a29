"""The Reports window's connection and ad-account boxes ("All accounts" with several), and
the date range row."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget

from desktop.models.connections import Connection, ConnectionsModel
from desktop.models.report_query import ALL_ACCOUNTS
from desktop.views.date_range import DateRangePicker
from desktop.views.report_status import button
from desktop.views.widgets import PlainLabel


class ConnectionPicker(QWidget):
    """Two boxes; the view listens to their `currentIndexChanged`."""

    def __init__(self, connections: ConnectionsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.connections = connections
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.connection_box = QComboBox()
        self.connection_box.setAccessibleName("Connection")
        self.connection_box.setMinimumWidth(220)
        self.account_box = QComboBox()
        self.account_box.setAccessibleName("Ad account")
        self.account_box.setMinimumWidth(200)
        for label, widget in (
            ("Connection", self.connection_box),
            ("Ad account", self.account_box),
        ):
            caption = PlainLabel(label)
            caption.setBuddy(widget)
            row.addWidget(caption)
            row.addWidget(widget)
        row.addStretch(1)

    def fill_connections(self) -> bool:
        """Refill the connection box, keeping the choice; True if the choice changed (no
        signal is sent meanwhile)."""
        box = self.connection_box
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        for item in self.connections.items():
            box.addItem(f"{item.display_name} — {item.provider_name}", item.id)
        index = box.findData(current)
        box.setCurrentIndex(max(index, 0) if box.count() else -1)
        box.blockSignals(False)
        return bool(box.currentData() != current)

    def selected_connection(self) -> Connection | None:
        connection_id = self.connection_box.currentData()
        return self.connections.get(str(connection_id)) if connection_id else None

    def fill_accounts(self) -> None:
        box = self.account_box
        current = box.currentData()
        box.blockSignals(True)
        box.clear()
        item = self.selected_connection()
        for account in item.accounts if item else ():
            text = f"{account.name} ({account.currency})" if account.currency else account.name
            box.addItem(text, account.id)
        if item is not None and len(item.accounts) > 1:
            box.addItem("All accounts", ALL_ACCOUNTS)
        index = box.findData(current)
        if index >= 0:
            box.setCurrentIndex(index)
        box.blockSignals(False)

    def accounts(self) -> tuple[tuple[str, ...], bool]:
        """(the chosen account ids, all accounts?)."""
        account = self.account_box.currentData()
        every = account == ALL_ACCOUNTS
        return ((str(account),) if account and not every else ()), every


class RangeRow(QWidget):
    """The date range (its dates always on screen), Load report and Export CSV…"""

    def __init__(
        self, load: Callable[[], None], export: Callable[[], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        self.dates = DateRangePicker()
        row.addWidget(self.dates)
        row.addStretch(1)
        self.load = button("Load report", "Load the report", load, primary=True)
        self.export = button("Export CSV…", "Export the report as CSV", export)
        self.export.setEnabled(False)
        row.addWidget(self.load)
        row.addWidget(self.export)
