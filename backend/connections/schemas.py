"""The Connection JSON the desktop relies on (docs/ARCHITECTURE.md "Connection")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backend.db.models import Connection
from backend.providers.base import AdAccount
from backend.providers.lapse import Expiry, expiry_now
from backend.state import AppState


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with `Z`, the one timestamp format of the API."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def provider_display_name(state: AppState, provider_id: str) -> str:
    provider = state.providers.get(provider_id)
    return provider.display_name if provider is not None else provider_id


def accounts_json(conn: Connection) -> list[dict[str, Any]]:
    """The covered accounts, every one with the same keys (older rows lack the hierarchy)."""
    return [AdAccount.from_json(a).as_json() for a in conn.accounts or []]


def connection_json(state: AppState, conn: Connection) -> dict[str, Any]:
    """The public view of a connection: status and accounts, never a token column.

    `expires_at` is when the provider will end the grant by itself and `expiry_reason` says
    why in words (providers/lapse.py); both null when the provider does not say."""
    provider = state.providers.get(conn.provider)
    expiry = (
        Expiry(None, None)
        if conn.status == "disconnected"
        else expiry_now(
            provider.lapse if provider is not None else None,
            stored=conn.expires_at,
            last_used=conn.last_refreshed_at,
        )
    )
    return {
        "id": conn.id,
        "provider": conn.provider,
        "provider_display_name": provider_display_name(state, conn.provider),
        "display_name": conn.display_name,
        "status": conn.status,
        "status_reason": conn.status_reason,
        "last_error": conn.last_error,
        "last_error_at": iso(conn.last_error_at),
        "last_refreshed_at": iso(conn.last_refreshed_at),
        "expires_at": iso(expiry.at),
        "expiry_reason": expiry.reason,
        "scopes": list(conn.scopes or []),
        "accounts": accounts_json(conn),
        "revocation_pending": bool(conn.revocation_pending),
        "created_at": iso(conn.created_at),
        "updated_at": iso(conn.updated_at),
    }


ConnectionStatus = Literal["connected", "needs_reconnect", "error", "disconnected"]

# Answer models forbid extra keys: a key added to connection_json() but not here would otherwise
# be dropped from the answer without a word; this way every test touching it fails instead.
_ANSWER = ConfigDict(extra="forbid")


class AccountOut(BaseModel):
    """An ad account the grant covers, with its place in the hierarchy."""

    model_config = _ANSWER
    id: str
    name: str
    currency: str
    time_zone: str
    parent_id: str | None
    is_manager: bool
    login_customer_id: str | None


class ConnectionOut(BaseModel):
    """A connection: its status and accounts, never a token (timestamps ISO 8601 UTC, `Z`)."""

    model_config = _ANSWER
    id: str
    provider: str
    provider_display_name: str
    display_name: str
    status: ConnectionStatus
    status_reason: str | None
    last_error: str | None
    last_error_at: str | None
    last_refreshed_at: str | None
    expires_at: str | None
    expiry_reason: str | None
    scopes: list[str]
    accounts: list[AccountOut]
    revocation_pending: bool
    created_at: str
    updated_at: str


class DisconnectOut(BaseModel):
    """What a disconnect did: which tokens the provider confirmed revoked, in plain words."""

    model_config = _ANSWER
    connection_id: str
    provider: str
    revoked: list[str]
    not_revoked: list[str]
    revocation_pending: bool
    message: str


class ImportRequest(BaseModel):
    """Hand-over of a refresh token obtained elsewhere (design: "Connect flow")."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider: str = Field(min_length=1, max_length=100)
    refresh_token: str = Field(min_length=1, max_length=8000, repr=False)
    label: str | None = Field(default=None, max_length=200)
