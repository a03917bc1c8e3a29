"""Per-user limits, so that one user cannot make the backend do unbounded work (issue 14 point 13).

Two shapes, one table (`usage_slots`), so every backend process counts the same rows:

- in flight: at most N at once (reports); a slot is a row inserted when the work starts and
  deleted when it ends; if the process dies first, the row expires (`IN_FLIGHT_TTL_S`);
- rate: at most N per window (provider calls for `?check=true` and imports); a slot is a row
  that simply expires at the end of the window (a sliding window).

Each admission is one short write-locked transaction: `BEGIN IMMEDIATE` on SQLite, the user's
row locked `FOR UPDATE` on PostgreSQL, so two processes never both take the last slot. Past a
limit: 429 `rate_limited` with Retry-After (design: "HTTP API").
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
import anyio.to_thread
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError

from backend.db.engine import is_sqlite, locked_transaction
from backend.db.models import UsageSlot, User, new_id
from backend.errors import RateLimitedError
from backend.state import AppState

log = logging.getLogger(__name__)

# An in-flight slot whose process died is free again after this long (longer than any report
# can take: provider timeouts and retries end well before).
IN_FLIGHT_TTL_S = 600.0
# What an in-flight refusal tells the client to wait: we cannot know when a report ends.
IN_FLIGHT_RETRY_AFTER_S = 5


@dataclass(frozen=True)
class Limit:
    kind: str
    limit: int
    # Rate limits: the window; None for in-flight limits.
    window_s: float | None
    words: str


def report_limit(state: AppState) -> Limit:
    n = state.settings.reports_in_flight_per_user
    return Limit(
        "report", n, None,
        f"You already have {n} reports loading; wait for one to finish, then try again.",
    )  # fmt: skip


def check_limit(state: AppState) -> Limit:
    n = state.settings.checks_per_minute_per_user
    return Limit(
        "check", n, 60.0,
        f"Connections can be checked with the provider {n} times a minute; try again shortly.",
    )  # fmt: skip


def import_limit(state: AppState) -> Limit:
    n = state.settings.imports_per_hour_per_user
    return Limit(
        "import", n, 3600.0,
        f"At most {n} sign-ins can be handed over an hour; try again later.",
    )  # fmt: skip


def _admit(state: AppState, user_id: str, rule: Limit) -> str:
    """Take one slot of `rule` for `user_id` (worker thread); its id, or RateLimitedError."""
    now = datetime.now(UTC)
    life = rule.window_s if rule.window_s is not None else IN_FLIGHT_TTL_S
    with locked_transaction(state.engine) as session:
        lock = select(User.id).where(User.id == user_id)
        if not is_sqlite(state.engine):  # SQLite: BEGIN IMMEDIATE already serialises writers
            lock = lock.with_for_update()
        session.execute(lock)
        mine = (UsageSlot.user_id == user_id, UsageSlot.kind == rule.kind)
        session.execute(delete(UsageSlot).where(*mine, UsageSlot.expires_at <= now))
        used, oldest = session.execute(
            select(func.count(), func.min(UsageSlot.expires_at)).where(*mine)
        ).one()
        if used >= rule.limit:
            wait: float = IN_FLIGHT_RETRY_AFTER_S
            if rule.window_s is not None and oldest is not None:
                ends = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                wait = max(1.0, math.ceil((ends - now).total_seconds()))
            raise RateLimitedError(rule.words, retry_after=wait)
        slot = UsageSlot(
            id=new_id(), user_id=user_id, kind=rule.kind, expires_at=now + timedelta(seconds=life)
        )
        session.add(slot)
        return slot.id


def _free(state: AppState, slot_id: str) -> None:
    try:
        with state.engine.begin() as db:
            db.execute(delete(UsageSlot).where(UsageSlot.id == slot_id))
    except DBAPIError as exc:  # the slot expires by itself
        log.warning("could not free a usage slot: %s", type(exc).__name__)


async def spend(state: AppState, user_id: str, rule: Limit) -> None:
    """Count one call against a rate limit, or raise 429 when the window is full."""
    await anyio.to_thread.run_sync(_admit, state, user_id, rule)


@asynccontextmanager
async def in_flight(state: AppState, user_id: str, rule: Limit) -> AsyncIterator[None]:
    """Hold one in-flight slot for the duration of the block (429 when none is free)."""
    slot_id = await anyio.to_thread.run_sync(_admit, state, user_id, rule)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True):  # a cancelled request still frees its slot
            await anyio.to_thread.run_sync(_free, state, slot_id)
