"""The refresh lease on a connection row: taken, renewed and released in short transactions.

design rule "Token refresh rules": at most one refresh per connection in flight across all backend
processes, and no transaction open across the provider call (on SQLite a held write lock stalls
every writer of the whole database: logins, flows, other users' refreshes). The lease is two
columns, `lease_owner` and `lease_expires_at`, next to `token_version`:

- taken by a short write-locked transaction that re-reads the row first (another process may
  have refreshed already) and claims it only when no lease is held or the holder's has expired;
- renewed by its owner while the provider call runs, so it lapses only when the owner is gone;
- released by the same version-checked UPDATE that stores the rotated tokens (or, after a
  failure, by one that records what went wrong), so the new refresh token is committed in the
  transaction that ends the refresh and the old one is never sent again.

Every function here runs in a worker thread and returns as soon as its transaction ends.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.db.engine import locked_transaction
from backend.db.models import Connection
from backend.events.record import record_change, record_for
from backend.state import AppState
from backend.vault.refresh import Token, cached_token, ensure_usable, lock_row, provider_name

log = logging.getLogger(__name__)

# How long a refresh keeps trying to store tokens the provider already rotated (3a32845: a
# database restart between the provider's answer and the commit must not lose them). The lease
# TTL must outlast this, or a waiter could take over and present the spent refresh token.
ROTATION_WRITE_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Taken:
    """This caller holds the lease: refresh with `refresh_ct` and write back at `version`."""

    version: int
    provider: str
    refresh_ct: str | None


@dataclass(frozen=True)
class Busy:
    """Another refresh holds the lease until `until` (it renews it while it is alive)."""

    until: datetime


def take(
    state: AppState, connection_id: str, rejected_version: int | None, owner: str, ttl_s: float
) -> Token | Taken | Busy:
    """Re-read the row and, unless a usable token landed or a live lease is held, claim it.

    The short `BEGIN IMMEDIATE` (SQLite) / `SELECT … FOR UPDATE` (PostgreSQL) guards only this
    read-and-claim, never the provider call (design: "Refresh" lessons)."""
    with locked_transaction(state.engine) as session:
        conn = ensure_usable(state, lock_row(session, connection_id))
        now = datetime.now(UTC)
        token = cached_token(state, conn, rejected_version=rejected_version, now=now)
        if token is not None:  # another process or coroutine refreshed while we waited
            return token
        if conn.lease_owner is not None and conn.lease_expires_at is not None:
            if conn.lease_expires_at > now:
                return Busy(conn.lease_expires_at)
            # Its owner died (or lost the database for longer than the TTL) before writing:
            # the token was not rotated here (token_version is unchanged), so refresh it.
            log.warning(
                "the refresh lease on connection %s expired unreleased; taking it over",
                connection_id,
            )
        conn.lease_owner = owner
        conn.lease_expires_at = now + timedelta(seconds=ttl_s)
        return Taken(conn.token_version, conn.provider, conn.refresh_ct)


def renew(state: AppState, connection_id: str, owner: str, ttl_s: float) -> bool:
    """Push our lease's expiry out (one UPDATE); False if it is no longer ours."""
    with state.engine.begin() as db:
        done = db.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.lease_owner == owner)
            .values(lease_expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s))
        )
    return bool(done.rowcount == 1)


def release(state: AppState, connection_id: str, owner: str, error: str | None = None) -> None:
    """End our lease without new tokens; with `error`, record the provider failure too."""
    values: dict[str, object] = {"lease_owner": None, "lease_expires_at": None}
    try:
        with state.engine.begin() as db:
            db.execute(
                update(Connection)
                .where(Connection.id == connection_id, Connection.lease_owner == owner)
                .values(**values)
            )
            if error is not None:
                now = datetime.now(UTC)
                # Announced only when the status or the words changed: an outage failing every
                # refresh must not become one event per attempt.
                changed = db.execute(
                    update(Connection)
                    .where(
                        Connection.id == connection_id,
                        Connection.status.in_(("connected", "error")),
                        or_(
                            Connection.status != "error",
                            Connection.last_error.is_distinct_from(error),
                        ),
                    )
                    .values(status="error", last_error=error, last_error_at=now)
                )
                if changed.rowcount == 1:
                    with Session(bind=db) as session:
                        record_for(session, state, connection_id, "error")
                else:
                    db.execute(
                        update(Connection)
                        .where(Connection.id == connection_id, Connection.status == "error")
                        .values(last_error_at=now)
                    )
    except DBAPIError as exc:  # the lease lapses by itself at its expiry
        log.warning("could not release the refresh lease of %s: %s", connection_id, type(exc))


def write_rotation(
    state: AppState, connection_id: str, version: int, values: dict[str, object]
) -> bool:
    """Store freshly issued tokens at `version + 1` and end the lease, in one UPDATE.

    Version-checked and column-scoped, so no other write can put an old token back. Retried on
    a fresh connection while the database is away: the provider has spent the old refresh
    token, and presenting it again would make it end the grant (RFC 9700 §4.14.2).
    False when the row changed under us without our write (the lease was lost)."""
    values = {**values, "token_version": version + 1, "lease_owner": None}
    values["lease_expires_at"] = None
    deadline = time.monotonic() + ROTATION_WRITE_DEADLINE_S
    delay, failed = 0.25, False
    while True:
        try:
            with state.engine.begin() as db:
                # Tried first on a row in `error`: then the refresh also ends a provider error,
                # which is announced (the values set status connected either way).
                written = db.execute(
                    update(Connection)
                    .where(
                        Connection.id == connection_id,
                        Connection.token_version == version,
                        Connection.status == "error",
                    )
                    .values(**values)
                )
                if written.rowcount == 1:
                    with Session(bind=db) as session:
                        record_for(session, state, connection_id, "connected")
                else:
                    written = db.execute(
                        update(Connection)
                        .where(Connection.id == connection_id, Connection.token_version == version)
                        .values(**values)
                    )
                if written.rowcount == 1:
                    if failed:
                        log.warning("wrote the rotated tokens of %s after a database error",
                                    connection_id)  # fmt: skip
                    return True
                # Our first commit may have landed with only its acknowledgement lost.
                current = db.execute(
                    select(Connection.access_ct).where(Connection.id == connection_id)
                ).scalar_one_or_none()
                if current is not None and current == values["access_ct"]:
                    return True
                log.error("connection %s changed while its tokens rotated", connection_id)
                return False
        except DBAPIError:
            failed = True
            if time.monotonic() + delay > deadline:
                log.error("could not store the rotated tokens of connection %s", connection_id)
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def mark_needs_reconnect(
    state: AppState,
    connection_id: str,
    version: int,
    owner: str | None = None,
    *,
    precise: str | None = None,
) -> tuple[Token | None, str | None]:
    """After `invalid_grant`, in one short transaction: (their token, None) if new tokens landed
    since `version` (a loser re-reads, design rule "Refresh"); else mark the connection
    needs_reconnect once and return (None, the reason): `precise` when the provider said why
    (providers/reasons.py), else the general words. Ends `owner`'s lease in the same commit,
    so no waiter presents the dead refresh token again."""
    with locked_transaction(state.engine) as session:
        conn = lock_row(session, connection_id)
        if conn is None:
            return None, "This connection no longer exists."
        if owner is not None and conn.lease_owner == owner:
            conn.lease_owner, conn.lease_expires_at = None, None
        if conn.status == "needs_reconnect" and conn.status_reason:
            return None, conn.status_reason
        if conn.token_version != version:
            now = datetime.now(UTC)
            return cached_token(state, conn, rejected_version=version, now=now), None
        reason = precise or (
            f"{provider_name(state, conn.provider)} says this grant is no longer valid "
            "(revoked or expired). Reconnect to keep reports flowing."
        )
        if conn.status in ("connected", "error"):
            conn.status, conn.status_reason = "needs_reconnect", reason
            # The access token dies with the grant; the refresh token stays only for revocation.
            conn.access_ct, conn.access_expires_at = None, None
            conn.token_version += 1
            record_change(session, state, conn, "needs_reconnect")
        return None, reason


def lease_until(state: AppState, connection_id: str) -> datetime | None:
    """When the current lease on the row ends (None: no lease held)."""
    with state.engine.connect() as db:
        row = db.execute(
            select(Connection.lease_owner, Connection.lease_expires_at).where(
                Connection.id == connection_id
            )
        ).one_or_none()
    if row is None or row.lease_owner is None:
        return None
    until: datetime | None = row.lease_expires_at
    return until
