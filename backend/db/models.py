"""ORM models. Token material is only ever stored as vault ciphertext (`*_ct` columns)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # signed_out | password_changed | signed_out_elsewhere (backend/auth/expiry.py says each)
    revoked_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class UsedJti(Base):
    """RFC 7523 §3 item 7: an assertion's `jti` is accepted once."""

    __tablename__ = "used_jtis"

    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Flow(Base):
    """A pending connect flow. `state` is kept only as a SHA-256 hash; the verifier sealed."""

    __tablename__ = "flows"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(100))
    redirect_uri: Mapped[str] = mapped_column(Text)
    provider_redirect_uri: Mapped[str] = mapped_column(Text)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    verifier_ct: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # pending -> completing -> completed | failed; a relayed flow parks its grant in between:
    # completing -> parked -> completed (its owner's device claimed it) | revoking -> failed.
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    connection_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Backend relay: the redeemed grant, sealed and bound to this flow, that belongs to nobody
    # until the flow owner's device presents the one-time ticket (kept only as a SHA-256).
    grant_ct: Mapped[str | None] = mapped_column(Text, nullable=True)
    ticket_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticket_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The sweeper that revokes an unclaimed grant holds a lease so one process revokes it.
    sweep_owner: Mapped[str | None] = mapped_column(String(36), nullable=True)
    sweep_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sweep_attempts: Mapped[int] = mapped_column(Integer, default=0)


class Connection(Base):
    __tablename__ = "connections"
    __table_args__ = (
        UniqueConstraint("user_id", "provider", "subject", name="uq_connection_account"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    # connected | needs_reconnect | error | disconnected
    status: Mapped[str] = mapped_column(String(20), default="connected")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    accounts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    refresh_ct: Mapped[str | None] = mapped_column(Text, nullable=True)
    access_ct: Mapped[str | None] = mapped_column(Text, nullable=True)
    access_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    access_lifetime_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Bumped by every write of token material: a version check makes rotation writes safe.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # The refresh lease (design: "Token refresh rules"): who is refreshing now, and until when
    # the others wait. Taken and released in short transactions, never held across the call.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revocation_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    revocation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_revocation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class UsageSlot(Base):
    """One unit of a per-user limit in use: a report in flight, or a recent provider call.

    In-flight slots are deleted when the work ends (and expire if the process dies first);
    rate slots just expire. Counting live rows gives the same answer in every process."""

    __tablename__ = "usage_slots"
    __table_args__ = (Index("ix_usage_slots_user_kind", "user_id", "kind"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConnectionEvent(Base):
    """One change of a connection, as `GET /v1/events` announces it to the owner's streams.

    Rows are how every backend process learns of changes made by the others (design: nothing
    only one process knows): SQLite streams poll for ids above the last one seen; on
    PostgreSQL a NOTIFY carrying the id is sent in the same transaction. `payload` is the
    connection as `GET /v1/connections/{id}` shows it: status and accounts, never a token.
    """

    __tablename__ = "connection_events"
    # AUTOINCREMENT: ids are never reused after old rows are pruned, so "above the last id
    # seen" stays a complete answer.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
