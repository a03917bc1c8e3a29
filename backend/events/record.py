"""Recording connection changes in the transaction that makes them, and reading them back.

Every place that changes a connection's status calls `record_change` inside its own write
transaction, so an event exists exactly when its change committed. The row is what every
backend process's streams read; on PostgreSQL a `NOTIFY` carrying the row id goes out in the
same transaction (NOTIFY is transactional: delivered at COMMIT, never for a rollback).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Engine, Row, delete, func, insert, select
from sqlalchemy.orm import Session

from backend.connections.schemas import ConnectionOut, connection_json, iso
from backend.db.models import Connection, ConnectionEvent
from backend.state import AppState

Kind = Literal[
    "connected",  # a connect, reconnect or import stored a grant; or a provider recovered
    "needs_reconnect",  # invalid_grant: revoked or expired at the provider
    "error",  # the provider is failing (the last error and when)
    "disconnected",  # taken out of use; `revocation_pending` says whether revoking is done
    "revocation_settled",  # a pending revocation finished and the tokens were shredded
    "updated",  # the covered ad accounts changed (a check)
    "report_progress",  # a report the provider prepares asynchronously moved on (no change)
]

CHANNEL: Final = "connected_accounts_events"
# Events are for streams that are open (or reopen within minutes, with Last-Event-ID); older
# ones are pruned. A client that was away longer re-reads GET /v1/connections.
RETENTION: Final = timedelta(hours=1)
# Prune on one insert in this many: a few old rows are cheap, a DELETE per change is not.
PRUNE_EVERY: Final = 50
BATCH: Final = 500

_COLUMNS = select(
    ConnectionEvent.id,
    ConnectionEvent.user_id,
    ConnectionEvent.connection_id,
    ConnectionEvent.kind,
    ConnectionEvent.status,
    ConnectionEvent.payload,
    ConnectionEvent.created_at,
)


def record_change(session: Session, state: AppState, conn: Connection, kind: Kind) -> None:
    """Add the event announcing `conn` as it now is to the caller's transaction."""
    session.flush()  # pending ORM changes into the row, so the snapshot shows them
    now = datetime.now(UTC)
    event_id = session.execute(
        insert(ConnectionEvent)
        .values(
            user_id=conn.user_id,
            connection_id=conn.id,
            kind=kind,
            status=conn.status,
            payload=snapshot(state, conn),
            created_at=now,
        )
        .returning(ConnectionEvent.id)
    ).scalar_one()
    if event_id % PRUNE_EVERY == 0:
        session.execute(
            delete(ConnectionEvent)
            .where(ConnectionEvent.created_at < now - RETENTION)
            .execution_options(synchronize_session=False)
        )
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, str(event_id))))


def snapshot(state: AppState, conn: Connection) -> dict[str, Any]:
    """The connection exactly as GET /v1/connections/{id} answers it (through its model)."""
    return ConnectionOut.model_validate(connection_json(state, conn)).model_dump(mode="json")


def record_for(session: Session, state: AppState, connection_id: str, kind: Kind) -> None:
    """`record_change` for a connection written with a Core UPDATE in this transaction."""
    conn = session.get(Connection, connection_id, populate_existing=True)
    if conn is not None:
        record_change(session, state, conn, kind)


def record_progress(
    engine: Engine, user_id: str, connection_id: str, percent: int, status: str
) -> None:
    """A `report_progress` event: how far the provider is with a report of this connection.

    Stored like every event (any backend process's streams read it). `payload` holds only the
    percentage and the job's status in words; the row's status column keeps "connected" (a
    report runs only on a connected connection)."""
    with Session(engine) as session, session.begin():
        event_id = session.execute(
            insert(ConnectionEvent)
            .values(
                user_id=user_id,
                connection_id=connection_id,
                kind="report_progress",
                status="connected",
                payload={"percent": percent, "status": status},
                created_at=datetime.now(UTC),
            )
            .returning(ConnectionEvent.id)
        ).scalar_one()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_notify(CHANNEL, str(event_id))))


def event_json(row: Row[Any]) -> dict[str, Any]:
    """The event as `GET /v1/events` sends it: the connection as GET /v1/connections/{id}
    shows it (status and accounts, never a token) and the reason in words; or, for
    `report_progress`, the percentage and status of a report being prepared."""
    if row.kind == "report_progress":
        payload = dict(row.payload or {})
        return {
            "id": row.id,
            "kind": row.kind,
            "connection_id": row.connection_id,
            "percent": int(payload.get("percent") or 0),
            "status": str(payload.get("status") or ""),
            "at": iso(row.created_at),
        }
    connection: dict[str, Any] = dict(row.payload or {})
    if row.status == "error":
        reason = connection.get("last_error") or connection.get("status_reason")
    else:
        reason = connection.get("status_reason")
    return {
        "id": row.id,
        "kind": row.kind,
        "connection_id": row.connection_id,
        "status": row.status,
        "reason": reason,
        "at": iso(row.created_at),
        "connection": connection,
    }


def latest_id(engine: Engine) -> int:
    """The newest event id (0 for none): a stream starting now announces what comes after."""
    with engine.connect() as db:
        return int(db.execute(select(func.max(ConnectionEvent.id))).scalar() or 0)


def events_after(
    engine: Engine, after_id: int, *, user_id: str | None = None, limit: int = BATCH
) -> list[Row[Any]]:
    """Events with ids above `after_id`, oldest first (of one user, or of everyone)."""
    stmt = _COLUMNS.where(ConnectionEvent.id > after_id)
    if user_id is not None:
        stmt = stmt.where(ConnectionEvent.user_id == user_id)
    with engine.connect() as db:
        return list(db.execute(stmt.order_by(ConnectionEvent.id).limit(limit)))


def events_by_ids(engine: Engine, ids: list[int]) -> list[Row[Any]]:
    with engine.connect() as db:
        rows = db.execute(_COLUMNS.where(ConnectionEvent.id.in_(ids)).order_by(ConnectionEvent.id))
        return list(rows)
