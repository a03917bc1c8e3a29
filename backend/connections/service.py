"""Connections: look-ups scoped to their owner, and the reconnect-safe upsert.

Services take the session first and only flush; `AppState.run_db` commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backend.db.models import Connection
from backend.errors import NotFound
from backend.providers.base import Identity, Provider, TokenSet
from backend.providers.lapse import expiry_at_connect
from backend.vault import Vault

NOT_FOUND = "There is no such connection."


def get_owned(session: Session, user_id: str, connection_id: str) -> Connection:
    """The caller's connection; another user's id is as unknown as a made-up one (404)."""
    conn = session.scalars(
        select(Connection).where(Connection.id == connection_id, Connection.user_id == user_id)
    ).one_or_none()
    if conn is None:
        raise NotFound(NOT_FOUND)
    return conn


def get_owned_for_update(session: Session, user_id: str, connection_id: str) -> Connection:
    """As `get_owned`, holding the row lock on PostgreSQL (callers on SQLite use
    `locked_transaction`, whose BEGIN IMMEDIATE is the lock)."""
    stmt = select(Connection).where(Connection.id == connection_id, Connection.user_id == user_id)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    conn = session.scalars(stmt).one_or_none()
    if conn is None:
        raise NotFound(NOT_FOUND)
    return conn


def list_visible(session: Session, user_id: str) -> list[Connection]:
    """The caller's connections that are not disconnected, plus those still being revoked."""
    stmt = (
        select(Connection)
        .where(
            Connection.user_id == user_id,
            or_(Connection.status != "disconnected", Connection.revocation_pending.is_(True)),
        )
        .order_by(Connection.created_at, Connection.id)
    )
    return list(session.scalars(stmt))


def upsert_connection(
    session: Session,
    vault: Vault,
    *,
    user_id: str,
    provider: Provider,
    identity: Identity,
    tokens: TokenSet,
    now: datetime,
    label: str | None = None,
) -> Connection:
    """Store a fresh grant: the same user + provider + provider account updates its connection
    (a reconnect) and never makes a second one (unique(user_id, provider, subject))."""
    stmt = select(Connection).where(
        Connection.user_id == user_id,
        Connection.provider == provider.id,
        Connection.subject == identity.subject,
    )
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update()
    conn = session.scalars(stmt).one_or_none()
    if conn is None:
        conn = Connection(
            user_id=user_id,
            provider=provider.id,
            subject=identity.subject,
            token_version=0,
            created_at=now,
        )
    conn.display_name = label or identity.display_name
    conn.accounts = [a.as_json() for a in identity.accounts]
    conn.scopes = list(tokens.scope) if tokens.scope else list(provider.scopes)
    conn.expires_at = expiry_at_connect(provider, identity, tokens, now)
    # A new grant supersedes a revocation still pending for the old one: revoking the old
    # token now could end the new grant too at providers that revoke per user and client.
    conn.revocation_pending = False
    conn.revocation_attempts = 0
    conn.next_revocation_at = None
    conn.updated_at = now
    # Sets status connected, clears the errors, seals both tokens bound to this row's id.
    vault.store(session, conn, tokens, now=now)
    session.flush()
    return conn
