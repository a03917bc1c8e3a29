"""The Connection JSON the desktop relies on (docs/ARCHITECTURE.md "Connection")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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


class ImportRequest(BaseModel):
    """Hand-over of a refresh token obtained elsewhere (DESIGN "Connect flow")."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    provider: str = Field(min_length=1, max_length=100)
    refresh_token: str = Field(min_length=1, max_length=8000, repr=False)
    label: str | None = Field(default=None, max_length=200)
