"""Per-user limits, so that one user cannot make the backend do unbounded work (issue 14 point 13).

Two shapes, one table (`usage_slots`), so every backend process counts the same rows:

- in flight: at most N at once (reports); a slot is a row held while the work runs, leased to
  the process in small batches (`SlotLeases`: most reports start and end without a write),
  given back soon after the work ends; if the process dies first, the rows expire
  (`IN_FLIGHT_TTL_S`);
- rate: at most N per window (provider calls for `?check=true` and imports); a slot is a row
  that simply expires at the end of the window (a sliding window).

Taking slots is one short write-locked transaction: `BEGIN IMMEDIATE` on SQLite, the user's
row locked `FOR UPDATE` on PostgreSQL, so two processes never both take the last slot. Past a
limit: 429 `rate_limited` with Retry-After (design: "HTTP API").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import anyio
import anyio.to_thread
from sqlalchemy import CursorResult, delete, func, insert, select, update
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


def _take(
    state: AppState,
    user_id: str,
    rule: Limit,
    *,
    hold: int = 1,
    extra: int = 0,
    renew: tuple[str, ...] = (),
) -> list[str]:
    """Make `user_id` hold at least `hold` slots of `rule` (worker thread): renew `renew`, the
    slots held already, and take what is missing, plus up to `extra` spare ones while plenty
    are free (at most a quarter of what is left). The ids now held, or RateLimitedError when
    too few are free. One short write-locked transaction."""
    now = datetime.now(UTC)
    life = rule.window_s if rule.window_s is not None else IN_FLIGHT_TTL_S
    expires = now + timedelta(seconds=life)
    with locked_transaction(state.engine) as session:
        lock = select(User.id).where(User.id == user_id)
        if not is_sqlite(state.engine):  # SQLite: BEGIN IMMEDIATE already serialises writers
            lock = lock.with_for_update()
        session.execute(lock)
        mine = (UsageSlot.user_id == user_id, UsageSlot.kind == rule.kind)
        session.execute(delete(UsageSlot).where(*mine, UsageSlot.expires_at <= now))
        alive = list(renew)
        if renew:
            renewed = cast(
                "CursorResult[Any]",
                session.execute(
                    update(UsageSlot).where(UsageSlot.id.in_(renew)).values(expires_at=expires)
                ),
            )
            if renewed.rowcount != len(renew):  # expired and swept (a stall of minutes)
                alive = list(session.scalars(select(UsageSlot.id).where(UsageSlot.id.in_(renew))))
        used, oldest = session.execute(
            select(func.count(), func.min(UsageSlot.expires_at)).where(*mine)
        ).one()
        free = rule.limit - used
        need = max(0, hold - len(alive))
        if free < need:
            wait: float = IN_FLIGHT_RETRY_AFTER_S
            if rule.window_s is not None and oldest is not None:
                ends = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                wait = max(1.0, math.ceil((ends - now).total_seconds()))
            raise RateLimitedError(rule.words, retry_after=wait)
        ids = [new_id() for _ in range(need + min(extra, (free - need) // 4))]
        if ids:
            session.execute(
                insert(UsageSlot),
                [{"id": i, "user_id": user_id, "kind": rule.kind, "expires_at": expires}
                 for i in ids],
            )  # fmt: skip
        return [*alive, *ids]


def _free(state: AppState, slot_ids: list[str]) -> None:
    try:
        with state.engine.begin() as db:
            db.execute(delete(UsageSlot).where(UsageSlot.id.in_(slot_ids)))
    except DBAPIError as exc:  # the slots expire by themselves
        log.warning("could not free %d usage slots: %s", len(slot_ids), type(exc).__name__)


async def spend(state: AppState, user_id: str, rule: Limit) -> None:
    """Count one call against a rate limit, or raise 429 when the window is full."""
    await anyio.to_thread.run_sync(functools.partial(_take, state, user_id, rule))


@dataclass
class _Lease:
    """This process's share of one user's in-flight slots of one kind."""

    lock: anyio.Lock
    ids: list[str] = field(default_factory=list)
    in_use: int = 0
    renew_by: float = 0.0  # time.monotonic() after which the rows are renewed before more use
    shrink_armed: bool = False


class SlotLeases:
    """In-flight slots leased to this process: most admissions never touch the database.

    The rows in `usage_slots` are the truth every process counts (so a limit holds across
    processes), but a process may hold a few more rows than it has work in flight: its lease.
    Work starting within the lease is counted in memory; only growing the lease (and renewing
    it, every IN_FLIGHT_TTL_S / 2) is a write. The spare part of a lease is at most a quarter
    of what was free when it was taken, and it goes back to the pool `give_back_after_s` after
    the work ends: meanwhile another process may refuse a report although fewer than the
    limit are in flight. Below LEASE_FROM slots (the default is 4) that would be unfair, so
    there each report takes its own row and frees it when it ends: exact, two writes. A lease
    of a process that died expires like any in-flight slot (IN_FLIGHT_TTL_S).
    (bench/backend_overhead.py: one write-locked transaction per report cost more CPU than
    the whole rest of the request.)"""

    def __init__(self, state: AppState, *, give_back_after_s: float = 1.0) -> None:
        self._state = state
        self._give_back_after_s = give_back_after_s
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def held(self, user_id: str, kind: str) -> tuple[int, int]:
        """(rows leased, work in flight) for `user_id`'s `kind` in this process."""
        lease = self._leases.get((user_id, kind))
        return (0, 0) if lease is None else (len(lease.ids), lease.in_use)

    @asynccontextmanager
    async def hold(self, user_id: str, rule: Limit) -> AsyncIterator[None]:
        """One in-flight slot for the duration of the block (429 when none is free)."""
        if rule.limit < LEASE_FROM:
            # A spare slot would be a quarter of the allowance or more: exact, one row each.
            slot = await anyio.to_thread.run_sync(
                functools.partial(_take, self._state, user_id, rule)
            )
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):  # a cancelled request still frees its slot
                    await anyio.to_thread.run_sync(_free, self._state, slot)
            return
        key = (user_id, rule.kind)
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease(anyio.Lock())
        if not self._within(lease):
            await self._grow(lease, user_id, rule)
        lease.in_use += 1
        try:
            yield
        finally:
            lease.in_use -= 1
            self._arm_give_back(key, lease)

    @staticmethod
    def _within(lease: _Lease) -> bool:
        return lease.in_use < len(lease.ids) and time.monotonic() < lease.renew_by

    async def _grow(self, lease: _Lease, user_id: str, rule: Limit) -> None:
        async with lease.lock:
            if self._within(lease):  # another request grew it meanwhile
                return
            # Shielded: slots taken in the database are recorded here even if the request
            # is cancelled meanwhile (else they would count against the user until expiry).
            with anyio.CancelScope(shield=True):
                lease.ids = await anyio.to_thread.run_sync(
                    functools.partial(
                        _take, self._state, user_id, rule, hold=lease.in_use + 1,
                        extra=min(_MAX_SPARE, lease.in_use + 1), renew=tuple(lease.ids),
                    )
                )  # fmt: skip
            lease.renew_by = time.monotonic() + IN_FLIGHT_TTL_S / 2

    def _arm_give_back(self, key: tuple[str, str], lease: _Lease) -> None:
        if lease.shrink_armed or len(lease.ids) <= lease.in_use:
            return
        lease.shrink_armed = True
        asyncio.get_running_loop().call_later(self._give_back_after_s, self.give_back, key)

    def give_back(self, key: tuple[str, str]) -> None:
        """Return the unused part of a lease to the pool (on the event loop)."""
        lease = self._leases.get(key)
        if lease is None:
            return
        lease.shrink_armed = False
        if lease.lock.locked():  # a grow is in progress: look again later
            self._arm_give_back(key, lease)
            return
        spare = lease.ids[lease.in_use :]
        del lease.ids[lease.in_use :]
        if not lease.ids and not lease.in_use:
            del self._leases[key]
        if spare:
            self._spawn(anyio.to_thread.run_sync(_free, self._state, spare))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def given_back(self) -> None:
        """Wait until the slots being given back are back in the pool."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Give every slot back (a process stopping; work in flight has ended)."""
        held = [i for lease in self._leases.values() for i in lease.ids]
        self._leases.clear()
        await self.given_back()
        if held:
            await anyio.to_thread.run_sync(_free, self._state, held)


# The most spare slots one lease takes at once (rows inserted in one transaction).
_MAX_SPARE = 64
# Limits below this are counted exactly, a row per report (see SlotLeases).
LEASE_FROM = 16
