"""The list of connections as a Qt model; knows nothing of HTTP, only the API's dicts."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from desktop.models.format import parse_time, relative_time

ConnectionRole = Qt.ItemDataRole.UserRole + 1

_Index = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str
    currency: str
    time_zone: str


@dataclass(frozen=True)
class Connection:
    """One connection as the views see it (parsed once from the API's JSON)."""

    id: str
    provider: str
    provider_name: str
    display_name: str
    status: str
    status_reason: str | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_refreshed_at: datetime | None = None
    accounts: tuple[AdAccount, ...] = field(default_factory=tuple)
    revocation_pending: bool = False
    checking: bool = False

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Connection:
        accounts = tuple(
            AdAccount(
                id=str(a.get("id", "")),
                name=str(a.get("name") or a.get("id") or ""),
                currency=str(a.get("currency") or ""),
                time_zone=str(a.get("time_zone") or ""),
            )
            for a in data.get("accounts") or []
            if isinstance(a, dict)
        )
        provider = str(data.get("provider", ""))
        return cls(
            id=str(data["id"]),
            provider=provider,
            provider_name=str(data.get("provider_display_name") or provider),
            display_name=str(data.get("display_name") or provider),
            status=str(data.get("status") or "error"),
            status_reason=data.get("status_reason") or None,
            last_error=data.get("last_error") or None,
            last_error_at=parse_time(data.get("last_error_at")),
            last_refreshed_at=parse_time(data.get("last_refreshed_at")),
            accounts=accounts,
            revocation_pending=bool(data.get("revocation_pending")),
        )

    @property
    def badge(self) -> str:
        """Short status text for the badge."""
        if self.checking:
            return "Checking…"
        if self.revocation_pending:
            return "Revocation pending"
        return {
            "connected": "Connected",
            "needs_reconnect": "Needs reconnect",
            "error": "Error",
            "disconnected": "Disconnected",
        }.get(self.status, self.status.replace("_", " ").capitalize())

    @property
    def badge_kind(self) -> str:
        """`ok`, `warning`, `error` or `busy`: picks the badge colours."""
        if self.checking:
            return "busy"
        if self.status == "connected" and not self.revocation_pending:
            return "ok"
        if self.status == "error":
            return "error"
        return "warning"

    def detail(self) -> str:
        """The reason in words, for Needs reconnect and Error; empty when healthy."""
        if self.revocation_pending:
            return "The provider has not confirmed the revocation yet; it will be retried."
        if self.status == "needs_reconnect":
            return self.status_reason or "Access was withdrawn. Reconnect to keep reports flowing."
        if self.status == "error":
            words = self.last_error or self.status_reason or "The provider is not answering."
            if self.last_error_at is not None:
                words += f" ({relative_time(self.last_error_at)})"
            return words
        return ""

    def accounts_text(self) -> str:
        if not self.accounts:
            return "No ad accounts"
        names = ", ".join(a.name for a in self.accounts[:3])
        more = len(self.accounts) - 3
        return names + (f" and {more} more" if more > 0 else "")


class ConnectionsModel(QAbstractListModel):
    """Connections in the order the backend lists them."""

    status_changed = Signal(str, str, str)
    """A connection's status changed: (connection id, old status, new status)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Connection] = []
        self._raw: dict[str, dict[str, Any]] = {}  # as the API sent them, for the local cache
        self.cached = False  # True while showing the cached list from the last run

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{item.display_name} — {item.provider_name}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.detail() or item.badge
        if role == ConnectionRole:
            return item
        return None

    def items(self) -> list[Connection]:
        return list(self._items)

    def get(self, connection_id: str) -> Connection | None:
        return next((c for c in self._items if c.id == connection_id), None)

    def set_connections(self, data: list[dict[str, Any]], *, cached: bool = False) -> None:
        """Replace the list (from the API or the cache); reports status changes of known ones."""
        old = {c.id: c.status for c in self._items}
        self.beginResetModel()
        kept = [d for d in data if d.get("status") != "disconnected"]
        self._items = [Connection.from_api(d) for d in kept]
        self._raw = {str(d["id"]): dict(d) for d in kept}
        self.cached = cached
        self.endResetModel()
        if not cached:
            for item in self._items:
                if item.id in old and old[item.id] != item.status:
                    self.status_changed.emit(item.id, old[item.id], item.status)

    def upsert(self, data: dict[str, Any]) -> Connection:
        """Add or update one connection from the API (e.g. after connect or a check)."""
        item = Connection.from_api(data)
        self._raw[item.id] = dict(data)
        for row, existing in enumerate(self._items):
            if existing.id == item.id:
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
        return [self._raw[c.id] for c in self._items if c.id in self._raw]

    def remove(self, connection_id: str) -> None:
        self._raw.pop(connection_id, None)
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
