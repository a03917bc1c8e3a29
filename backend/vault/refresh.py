"""Reading and writing token material: what a usable access token is, and the row's columns.

design rule "Token refresh rules": access tokens are reused until shortly before `expires_in` runs
out (a lead time proportional to the lifetime); a rotated refresh token replaces the old one,
and a response with no new refresh token keeps the old one. Single flight across processes is
the row's lease (vault/lease.py) and, within a process, one shared task (vault/flight.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.engine import is_sqlite
from backend.db.models import Connection
from backend.providers.base import TokenSet
from backend.secret import Secret
from backend.state import AppState
from backend.vault.crypto import KeyRing, aad
from backend.vault.errors import ConnectionGone, ReconnectRequired

log = logging.getLogger(__name__)

# Never refresh earlier than this many seconds before expiry, but at most half the lifetime:
# a fixed 60 s margin would refresh a 30 s token on every call (design: "Refresh" lessons).
LEAD_FLOOR_S = 5.0


@dataclass(frozen=True)
class Token:
    """An access token and the `token_version` it belongs to."""

    secret: Secret
    version: int
    status: str


def access_aad(connection_id: str) -> str:
    return aad("connection", connection_id, "access_token")


def refresh_aad(connection_id: str) -> str:
    return aad("connection", connection_id, "refresh_token")


def lead_time_s(lifetime_s: float | None, fraction: float) -> float:
    """How long before expiry an access token counts as used up."""
    if lifetime_s is None:
        return LEAD_FLOOR_S
    return max(lifetime_s * fraction, min(LEAD_FLOOR_S, lifetime_s / 2))


def provider_name(state: AppState, provider_id: str) -> str:
    provider = state.providers.get(provider_id)
    return provider.display_name if provider is not None else provider_id


class TokenRow(Protocol):
    """The columns the token path reads: a Connection, or a Core row of `TOKEN_COLUMNS`."""

    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def revocation_pending(self) -> bool: ...
    @property
    def token_version(self) -> int: ...
    @property
    def access_ct(self) -> str | None: ...
    @property
    def access_expires_at(self) -> datetime | None: ...
    @property
    def access_lifetime_s(self) -> int | None: ...
    @property
    def lease_owner(self) -> str | None: ...
    @property
    def lease_expires_at(self) -> datetime | None: ...


R = TypeVar("R", bound=TokenRow)

# The hot path (every report request) reads these few columns with Core: no ORM identity map,
# no JSON columns to decode.
TOKEN_COLUMNS = select(
    Connection.id,
    Connection.provider,
    Connection.status,
    Connection.status_reason,
    Connection.revocation_pending,
    Connection.token_version,
    Connection.access_ct,
    Connection.access_expires_at,
    Connection.access_lifetime_s,
    Connection.lease_owner,
    Connection.lease_expires_at,
)


def ensure_usable(state: AppState, conn: R | None) -> R:
    """Raise unless the connection may be used for API calls (never a disconnected one)."""
    if conn is None:
        raise ConnectionGone("There is no such connection.")
    if conn.status == "disconnected" or conn.revocation_pending:
        raise ConnectionGone(
            "This connection was disconnected; connect the account again to use it."
        )
    if conn.status == "needs_reconnect":
        raise ReconnectRequired(
            conn.status_reason
            or f"{provider_name(state, conn.provider)} needs you to reconnect this account."
        )
    return conn


def cached_token(
    state: AppState, conn: TokenRow, *, rejected_version: int | None, now: datetime
) -> Token | None:
    """The stored access token if it is not the rejected one and not near expiry."""
    if conn.access_ct is None:
        return None
    if rejected_version is not None and conn.token_version <= rejected_version:
        return None
    if conn.access_expires_at is not None:
        lead = lead_time_s(conn.access_lifetime_s, state.settings.refresh_lead_fraction)
        if (conn.access_expires_at - now).total_seconds() <= lead:
            return None
    # No expiry known (expires_in omitted, RFC 6749 §5.1): use it until the API rejects it.
    secret = state.keyring.open(conn.access_ct, access_aad(conn.id))
    return Token(secret, conn.token_version, conn.status)


@dataclass(frozen=True)
class Seen:
    """One unlocked read of the row: a usable token (or None), the version, the live lease."""

    token: Token | None
    version: int
    lease_until: datetime | None


def read_token(state: AppState, connection_id: str, rejected_version: int | None) -> Seen:
    """Unlocked read (worker thread): what a caller needs to decide whether to refresh."""
    with state.engine.connect() as db:
        row = db.execute(TOKEN_COLUMNS.where(Connection.id == connection_id)).one_or_none()
    conn = ensure_usable(state, row)
    now = datetime.now(UTC)
    token = cached_token(state, conn, rejected_version=rejected_version, now=now)
    held = conn.lease_owner is not None and conn.lease_expires_at is not None
    return Seen(token, conn.token_version, conn.lease_expires_at if held else None)


def token_values(
    keyring: KeyRing, connection_id: str, tokens: TokenSet, now: datetime
) -> dict[str, object]:
    """Column values for a fresh token set (the old refresh token stays when none came back)."""
    values: dict[str, object] = {
        "access_ct": keyring.seal(tokens.access_token, access_aad(connection_id)),
        "access_expires_at": None,
        "access_lifetime_s": None,
        "last_refreshed_at": now,
        "status": "connected",
        "status_reason": None,
        "last_error": None,
        "last_error_at": None,
    }
    if tokens.refresh_token is not None:
        values["refresh_ct"] = keyring.seal(tokens.refresh_token, refresh_aad(connection_id))
    if tokens.expires_in is not None:
        lifetime = max(0, int(tokens.expires_in))
        values["access_lifetime_s"] = lifetime
        values["access_expires_at"] = now + timedelta(seconds=lifetime)
    if tokens.scope:
        # RFC 6749 §6: a refresh may narrow the scope; record what the grant now covers.
        values["scopes"] = list(tokens.scope)
    return values


def lock_row(session: Session, connection_id: str) -> Connection | None:
    stmt = select(Connection).where(Connection.id == connection_id)
    bind = session.get_bind()
    if not is_sqlite(bind.engine):  # SQLite: the lock is the BEGIN IMMEDIATE itself
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()
