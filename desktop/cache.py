"""Local cache of the connection list and the last report per connection (SQLite, no secrets).

Shown at once on the next start, before the backend answers, and marked "cached". Only what the
backend already sends the desktop is stored: connection status and report rows, never a token.
Calls touch the disk: run them through `desktop.tasks.run_in_background`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    insert,
    select,
)

CACHE_FILE = "cache.sqlite3"

metadata = MetaData()

connections = Table(
    "connections",
    metadata,
    Column("scope", String, primary_key=True),  # which backend: its URL or "embedded"
    Column("id", String, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("saved_at", DateTime, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("scope", String, primary_key=True),
    Column("connection_id", String, primary_key=True),
    Column("body", Text, nullable=False),
    Column("saved_at", DateTime, nullable=False),
)


class Cache:
    """One SQLite file; `scope` keeps two backends' data apart."""

    def __init__(self, path: Path, scope: str) -> None:
        self.path = path
        self.scope = scope
        self._lock = threading.Lock()  # SQLite writers queue here rather than hit "locked"
        self._engine_: Engine | None = None

    @property
    def _engine(self) -> Engine:
        # Opened on first use, which is on a worker thread: constructing a Cache touches no disk.
        with self._lock:
            if self._engine_ is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(f"sqlite:///{self.path}")
                metadata.create_all(engine)
                self._engine_ = engine
            return self._engine_

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction; writers take turns."""
        engine = self._engine  # first: opening it takes the (non-reentrant) lock too
        with self._lock, engine.begin() as db:
            yield db

    def _report_of(self, connection_id: str) -> ColumnElement[bool]:
        return and_(reports.c.scope == self.scope, reports.c.connection_id == connection_id)

    def save_connections(self, items: list[dict[str, Any]]) -> None:
        """Replace the cached list with `items` (in this order)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        with self._writing() as db:
            db.execute(delete(connections).where(connections.c.scope == self.scope))
            if items:
                db.execute(
                    insert(connections),
                    [
                        {
                            "scope": self.scope,
                            "id": str(item["id"]),
                            "position": i,
                            "body": json.dumps(item),
                            "saved_at": now,
                        }
                        for i, item in enumerate(items)
                    ],
                )
            # Reports of connections that are gone are dropped with them.
            ids = [str(item["id"]) for item in items]
            db.execute(
                delete(reports).where(
                    reports.c.scope == self.scope, reports.c.connection_id.not_in(ids)
                )
            )

    def load_connections(self) -> list[dict[str, Any]]:
        with self._engine.connect() as db:
            rows = db.execute(
                select(connections.c.body)
                .where(connections.c.scope == self.scope)
                .order_by(connections.c.position)
            ).all()
        return [json.loads(row.body) for row in rows]

    def save_report(self, connection_id: str, report: dict[str, Any]) -> None:
        """Keep `report` as the last one of `connection_id` (one per connection)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        body = json.dumps(report)
        with self._writing() as db:
            db.execute(delete(reports).where(self._report_of(connection_id)))
            db.execute(
                insert(reports).values(
                    scope=self.scope, connection_id=connection_id, body=body, saved_at=now
                )
            )

    def load_report(self, connection_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as db:
            row = db.execute(select(reports.c.body).where(self._report_of(connection_id))).first()
        return json.loads(row.body) if row else None

    def forget(self, connection_id: str) -> None:
        """Drop a disconnected connection and its report."""
        with self._writing() as db:
            db.execute(
                delete(connections).where(
                    connections.c.scope == self.scope, connections.c.id == connection_id
                )
            )
            db.execute(delete(reports).where(self._report_of(connection_id)))

    def close(self) -> None:
        if self._engine_ is not None:
            self._engine_.dispose()
