"""Revoke, at the provider, every parked grant nobody claimed in time (design: "Backend-relayed
redirect": "a parked grant nobody claims is revoked at the provider").

Every backend process runs the sweeper (at start-up, then every `relay_sweep_interval_s`);
the database coordinates them: a process takes a short lease on a flow with one conditional
UPDATE (parked and past its ticket's expiry, or revoking with a lapsed lease), calls the
provider with no transaction open, and records the outcome only while it still holds the
lease. So two processes never revoke the same grant together, and one that dies mid-way
leaves a lease that lapses, after which another process finishes the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from backend.db.models import Flow, new_id
from backend.db.transactions import run_locked
from backend.flows.parking import UNCLAIMED, open_grant
from backend.flows.service import Failure
from backend.providers.base import ProviderError, RevocationUnsupported
from backend.state import AppState
from backend.vault import VaultError

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)  # far longer than one revocation call with its retries
BATCH = 50
RETRY_MAX = timedelta(hours=1)


@dataclass(frozen=True)
class _Taken:
    flow_id: str
    provider: str
    grant_ct: str | None
    attempts: int


def _due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Flow.status == "parked", Flow.ticket_expires_at <= now),
        and_(Flow.status == "revoking", Flow.sweep_until <= now),
    )


async def sweep_once(state: AppState, now: datetime | None = None) -> int:
    """Revoke the unclaimed grants that are due; returns how many were withdrawn."""
    owner = new_id()
    now = now or datetime.now(UTC)
    query = (
        select(Flow.id, Flow.provider, Flow.grant_ct, Flow.sweep_attempts)
        .where(_due(now))
        .order_by(Flow.ticket_expires_at)
        .limit(BATCH)
    )
    # Look first without the write lock: nearly always nothing is due, and on SQLite a
    # needless BEGIN IMMEDIATE in every process would stand in other writers' way.
    if not await state.run_db(lambda s: s.execute(query.limit(1)).first() is not None):
        return 0

    def _take(session: Session) -> list[_Taken]:
        taken = []
        for flow_id, provider, grant_ct, attempts in session.execute(query).all():
            moved = session.execute(
                update(Flow)
                .where(Flow.id == flow_id, _due(now))
                .values(status="revoking", sweep_owner=owner, sweep_until=now + LEASE)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                taken.append(_Taken(flow_id, provider, grant_ct, attempts or 0))
        return taken

    taken = await run_locked(state, _take)
    withdrawn = 0
    for item in taken:
        withdrawn += await _revoke(state, owner, item)
    return withdrawn


async def _revoke(state: AppState, owner: str, item: _Taken) -> int:
    provider = state.providers.get(item.provider)
    shred = False
    try:
        if provider is None:
            raise LookupError("provider no longer configured")
        if item.grant_ct:  # (never empty while parked; nothing to revoke if it were)
            grant = open_grant(state.vault, item.flow_id, item.grant_ct)
            await provider.revoke(grant.revocable_token())
    except RevocationUnsupported:
        # Nothing more can be done from here; the grant is forgotten (crypto-shred).
        log.warning(
            "unclaimed grant of flow %s: %s offers no revocation", item.flow_id, item.provider
        )
        shred = True
    except (ProviderError, VaultError, LookupError) as exc:
        # Backs off from one sweep interval, doubling, up to an hour; the grant is kept.
        base = timedelta(seconds=state.settings.relay_sweep_interval_s)
        delay = min(RETRY_MAX, base * (2 ** min(item.attempts, 16)))
        log.warning(
            "unclaimed grant of flow %s not revoked yet (%s); retrying in %d s",
            item.flow_id,
            type(exc).__name__,
            delay.total_seconds(),
        )
        await run_locked(state, lambda s: _retry_later(s, owner, item, delay))
        return 0
    name = provider.display_name if provider is not None else item.provider
    failure = Failure(UNCLAIMED.format(provider=name))
    await run_locked(state, lambda s: _withdrawn(s, owner, item.flow_id, failure))
    log.info("unclaimed grant of flow %s %s", item.flow_id, "forgotten" if shred else "revoked")
    return 1


def _withdrawn(session: Session, owner: str, flow_id: str, failure: Failure) -> None:
    session.execute(
        update(Flow)
        .where(Flow.id == flow_id, Flow.status == "revoking", Flow.sweep_owner == owner)
        .values(
            status="failed",
            error=failure.dump(),
            grant_ct=None,
            ticket_hash=None,
            sweep_owner=None,
            sweep_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def _retry_later(session: Session, owner: str, item: _Taken, delay: timedelta) -> None:
    session.execute(
        update(Flow)
        .where(Flow.id == item.flow_id, Flow.status == "revoking", Flow.sweep_owner == owner)
        .values(sweep_until=datetime.now(UTC) + delay, sweep_attempts=item.attempts + 1)
        .execution_options(synchronize_session=False)
    )


async def run_sweeper(state: AppState) -> None:
    """Sweep now, then every interval, until cancelled (the app's lifespan owns the task)."""
    interval = state.settings.relay_sweep_interval_s
    while True:
        try:
            await sweep_once(state)
        except Exception as exc:  # a database outage must not end the loop for good
            log.warning("sweeping unclaimed grants failed: %s", type(exc).__name__)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def sweeping(state: AppState) -> AsyncIterator[None]:
    """The sweeper runs for as long as the block does."""
    task = asyncio.create_task(run_sweeper(state), name="relay-sweeper")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
