"""Read-modify-write transactions that hold the write lock from the start.

On SQLite a deferred transaction that reads and then writes fails at once with "database is
locked" when another writer committed in between (WAL snapshot rule; the busy timeout does
not help), so these run under `BEGIN IMMEDIATE`; on PostgreSQL callers lock rows with
`SELECT … FOR UPDATE` or conditional UPDATEs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from sqlalchemy.orm import Session

from backend.db.engine import locked_transaction
from backend.state import AppState

T = TypeVar("T")


async def run_locked(state: AppState, fn: Callable[[Session], T]) -> T:
    """`fn(session)` in a worker thread, in one write-locked transaction, committed on success."""

    def _work() -> T:
        with locked_transaction(state.engine) as session:
            return fn(session)

    return await anyio.to_thread.run_sync(_work)
