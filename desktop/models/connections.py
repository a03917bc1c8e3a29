"""The list of connections as a Qt model; knows nothing of HTTP (the client parses answers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Signal,
)

from desktop.models.connection import AdAccount, Connection
from desktop.models.format import parse_time, rich_safe

__all__ = ["AdAccount", "Connection", "ConnectionRole", "ConnectionsModel"]

# Qt.ItemDataRole's values as plain ints (Qt passes roles as ints either way): the first use of
# `Qt` makes PySide6 build all 93 of its enums, ~20 ms the window's first paint does not need
# (bench/cold_start.py). tests/desktop/models/test_connections_model.py checks them against Qt.
DISPLAY_ROLE = 0
"""Qt.ItemDataRole.DisplayRole"""
TOOLTIP_ROLE = 3
"""Qt.ItemDataRole.ToolTipRole"""
ConnectionRole = 0x0100 + 1
"""Qt.ItemDataRole.UserRole + 1: the row's Connection."""

_Index = QModelIndex | QPersistentModelIndex


def _newer(held: Connection | None, listed: Connection) -> Connection:
    """`held` when it is a later state of the same connection than `listed`, else `listed`
    (still marked as being checked when `held` was: its check has not answered yet)."""
    if held is None:
        return listed
    ours = parse_time(held.body.get("updated_at"))
    theirs = parse_time(listed.body.get("updated_at"))
    if ours is not None and theirs is not None and theirs < ours:
        return held
    return replace(listed, checking=True) if held.checking and not listed.checking else listed


class ConnectionsModel(QAbstractListModel):
    """Connections in the order the backend lists them."""

    status_changed = Signal(str, str, str)
    """A connection's status changed: (connection id, old status, new status)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Connection] = []
        self.cached = False  # True while showing the cached list from the last run

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = DISPLAY_ROLE) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == DISPLAY_ROLE:
            return f"{item.display_name} — {item.provider_name}"
        if role == TOOLTIP_ROLE:  # tooltips read markup: escape provider words
            return rich_safe(item.detail() or item.badge)
        if role == ConnectionRole:
            return item
        return None

    def items(self) -> list[Connection]:
        return list(self._items)

    def get(self, connection_id: str) -> Connection | None:
        return next((c for c in self._items if c.id == connection_id), None)

    def set_connections(self, items: Sequence[Connection], *, cached: bool = False) -> None:
        """Replace the list (from the API or the cache); reports status changes of known ones.

        A connection held in a newer state (`updated_at`) than the list's copy keeps it: a list
        read before a check or a live change can arrive after it and must not undo it."""
        held = {c.id: c for c in self._items}
        if not cached:
            items = [_newer(held.get(c.id), c) for c in items]
        self.beginResetModel()
        self._items = [c for c in items if c.status != "disconnected"]
        self.cached = cached
        self.endResetModel()
        if not cached:
            for item in self._items:
                before = held.get(item.id)
                if before is not None and before.status != item.status:
                    self.status_changed.emit(item.id, before.status, item.status)

    def upsert(self, item: Connection, *, answers_check: bool = False) -> Connection:
        """Add or update one connection from the API (e.g. after connect or a check); a copy
        older (`updated_at`) than the one held does not replace it: an answer that was on its
        way while a live change came in. `answers_check`: this is the answer of its check, so
        the connection is no longer being checked whichever copy stays."""
        for row, existing in enumerate(self._items):
            if existing.id == item.id:
                kept = _newer(existing, item)
                if kept is existing and not (answers_check and existing.checking):
                    return existing
                item = replace(kept, checking=False) if answers_check else kept
                self._items[row] = item
                index = self.index(row)
                self.dataChanged.emit(index, index)
                if existing.status != item.status:
                    self.status_changed.emit(item.id, existing.status, item.status)
                return item
        self.beginInsertRows(QModelIndex(), len(self._items), len(self._items))
        self._items.append(item)
        self.endInsertRows()
        return item

    def raw_items(self) -> list[dict[str, Any]]:
        """The connections as the API sent them, in list order (what the cache stores)."""
        return [c.body for c in self._items]

    def apply_change(self, item: Connection) -> str | None:
        """A connection as a live update announced it: "removed", "updated", or None when
        what the list holds is newer (`updated_at`), e.g. a list read after the change."""
        held = self.get(item.id)
        if held is not None and _newer(held, item) is held:
            return None
        if item.status == "disconnected" and not item.revocation_pending:
            if held is None:
                return None
            self.remove(item.id)
            return "removed"
        self.upsert(item)
        return "updated"

    def remove(self, connection_id: str) -> None:
        for row, existing in enumerate(self._items):
            if existing.id == connection_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._items[row]
                self.endRemoveRows()
                return

    def set_checking(self, connection_id: str, checking: bool) -> None:
        for row, existing in enumerate(self._items):
            if existing.id == connection_id and existing.checking != checking:
                self._items[row] = replace(existing, checking=checking)
                index = self.index(row)
                self.dataChanged.emit(index, index)
