"""One connection as the views see it, parsed once from the API's JSON (no Qt: the command line
and the API client use it too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from desktop.models import expiry
from desktop.models.format import parse_time, relative_time


@dataclass(frozen=True)
class AdAccount:
    id: str
    name: str
    currency: str
    time_zone: str
    # Google Ads manager accounts: the manager above this one, and whether this is one.
    parent_id: str | None = None
    is_manager: bool = False


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
    # When the provider ends the grant by itself, and why in words (None when it never does).
    expires_at: datetime | None = None
    expiry_reason: str | None = None
    # As the backend sent it: what the local cache stores and `--json` prints, unchanged.
    body: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Connection:
        accounts = tuple(
            AdAccount(
                id=str(a.get("id", "")),
                name=str(a.get("name") or a.get("id") or ""),
                currency=str(a.get("currency") or ""),
                time_zone=str(a.get("time_zone") or ""),
                parent_id=str(a["parent_id"]) if a.get("parent_id") else None,
                is_manager=bool(a.get("is_manager")),
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
            expires_at=parse_time(data.get("expires_at")),
            expiry_reason=data.get("expiry_reason") or None,
            body=dict(data),
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

    def expiry_warning(self, now: datetime) -> str | None:
        """ "Expires in N days: reconnect to keep reports flowing" from 14 days before."""
        return expiry.warning_text(
            expiry.days_until(self.status, self.revocation_pending, self.expires_at, now)
        )

    def expiry_details(self) -> str:
        """When and why the grant lapses by itself, for the card's tooltip."""
        if self.expires_at is None:
            return ""
        when = f"Access ends {expiry.local_time(self.expires_at.isoformat())}"
        return f"{when}: {self.expiry_reason}" if self.expiry_reason else when + "."

    def account_tree(self) -> list[tuple[int, AdAccount]]:
        """Accounts in hierarchy order with their depth (clients under their manager)."""
        ids = {a.id for a in self.accounts}
        order: list[tuple[int, AdAccount]] = []

        def walk(parent: str | None, depth: int) -> None:
            for a in self.accounts:
                top = a.parent_id if a.parent_id in ids else None
                if top == parent and a.id not in seen:
                    seen.add(a.id)
                    order.append((depth, a))
                    walk(a.id, depth + 1)

        seen: set[str] = set()
        walk(None, 0)
        order.extend((0, a) for a in self.accounts if a.id not in seen)
        return order

    def has_hierarchy(self) -> bool:
        return any(a.is_manager or a.parent_id for a in self.accounts)

    def accounts_text(self) -> str:
        if not self.accounts:
            return "No ad accounts"
        names = ", ".join(a.name for a in self.accounts[:3])
        more = len(self.accounts) - 3
        return names + (f" and {more} more" if more > 0 else "")
