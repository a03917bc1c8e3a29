"""Single-flight refresh: one shared task per connection in a process, one lease per row across
processes, and no transaction open while the provider answers.

A caller that needs a new access token joins this process's refresh task for the connection if
there is one, else starts it. The task (not the caller: a caller that goes away must not cut a
refresh short after the refresh token may have reached the provider) reads the row, and:

- a usable token is there (someone refreshed): done;
- another process holds a live lease: wait, re-reading the row with backoff, until the owner
  writes its tokens (reuse them) or its lease lapses (take it over);
- else take the lease (vault/lease.py), call the provider with no transaction open, renewing the
  lease meanwhile, and end the lease in the transaction that stores the rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import anyio.to_thread

from backend.db.engine import is_sqlite
from backend.providers.base import InvalidGrant, ProviderUnavailable
from backend.state import AppState
from backend.vault import lease
from backend.vault.refresh import Token, read_token, refresh_aad, token_values

T = TypeVar("T")
log = logging.getLogger(__name__)

# Re-reading a row whose lease another process holds: first after this long, then doubling.
POLL_FIRST_S = 0.05
POLL_MAX_S = 1.0
# Worker threads for lease transactions per process: each is short, so a few are plenty (on
# SQLite they share one write lock anyway), and a storm never empties anyio's default pool.
LEASE_THREADS = {"sqlite": 4, "other": 16}


@dataclass
class Outcome:
    """What one refresh came to: a token, or a provider failure (already recorded on the row)."""

    token: Token | None = None
    failure: InvalidGrant | ProviderUnavailable | None = None
    version: int = 0
    # For invalid_grant: why the connection needs reconnecting (None: new tokens landed).
    reason: str | None = None


@dataclass
class _LoopLocal:
    flights: dict[tuple[int, str], asyncio.Task[Outcome]] = field(default_factory=dict)
    limiter: anyio.CapacityLimiter | None = None


_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopLocal] = (
    weakref.WeakKeyDictionary()
)


def _loop_local() -> _LoopLocal:
    loop = asyncio.get_running_loop()
    local = _per_loop.get(loop)
    if local is None:
        local = _per_loop[loop] = _LoopLocal()
    return local


def _limiter(state: AppState) -> anyio.CapacityLimiter:
    local = _loop_local()
    if local.limiter is None:
        local.limiter = anyio.CapacityLimiter(
            LEASE_THREADS["sqlite" if is_sqlite(state.engine) else "other"]
        )
    return local.limiter


async def refresh(state: AppState, connection_id: str, rejected_version: int | None) -> Outcome:
    """A token newer than `rejected_version` (None: any usable one), refreshing if needed."""
    local = _loop_local()
    key = (id(state), connection_id)
    while True:
        task = local.flights.get(key)
        if task is None:
            task = asyncio.create_task(_run(state, connection_id, rejected_version))
            local.flights[key] = task
            task.add_done_callback(lambda t: _forget(local, key, t))
        # Shielded: a caller that goes away (client disconnect) leaves the refresh running.
        outcome = await asyncio.shield(task)
        token = outcome.token
        if token is None or rejected_version is None or token.version > rejected_version:
            return outcome
        # That flight started before our token was rejected; its token is the rejected one.


def _forget(local: _LoopLocal, key: tuple[int, str], task: asyncio.Task[Outcome]) -> None:
    if local.flights.get(key) is task:
        del local.flights[key]
    if not task.cancelled():
        task.exception()  # retrieved here too, so an unawaited failure is never logged as lost


async def _run(state: AppState, connection_id: str, rejected_version: int | None) -> Outcome:
    owner = f"{os.getpid()}:{uuid.uuid4().hex}"
    ttl = state.settings.refresh_lease_s
    delay = POLL_FIRST_S
    while True:
        seen = await anyio.to_thread.run_sync(read_token, state, connection_id, rejected_version)
        if seen.token is not None:
            return Outcome(token=seen.token, version=seen.version)
        now = datetime.now(UTC)
        if seen.lease_until is None or seen.lease_until <= now:
            got = await anyio.to_thread.run_sync(
                lease.take, state, connection_id, rejected_version, owner, ttl,
                limiter=_limiter(state),
            )  # fmt: skip
            if isinstance(got, Token):
                return Outcome(token=got, version=got.version)
            if isinstance(got, lease.Taken):
                return await _as_owner(state, connection_id, owner, got)
        # Someone else is refreshing: re-read soon (with jitter, so waiters spread out).
        await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - jitter
        delay = min(delay * 2, POLL_MAX_S)


async def _as_owner(state: AppState, connection_id: str, owner: str, taken: lease.Taken) -> Outcome:
    released = False
    heartbeat = asyncio.create_task(_renew_while_running(state, connection_id, owner))
    try:
        if taken.refresh_ct is None:
            failure = InvalidGrant("no refresh token is stored for this connection")
            return await _invalid_grant(state, connection_id, owner, taken.version, failure)
        refresh_token = state.keyring.open(taken.refresh_ct, refresh_aad(connection_id))
        provider = state.provider(taken.provider)
        try:
            tokens = await provider.refresh(refresh_token)
        except InvalidGrant as exc:
            released = True
            return await _invalid_grant(state, connection_id, owner, taken.version, exc)
        except ProviderUnavailable as exc:
            released = True
            await _thread(state, lease.release, state, connection_id, owner, str(exc))
            return Outcome(failure=exc, version=taken.version)
        heartbeat.cancel()
        values = token_values(state.keyring, connection_id, tokens, datetime.now(UTC))
        released = True  # from here on, only the version-checked write may end the lease
        if not await _thread(state, lease.write_rotation, state, connection_id,
                             taken.version, values):  # fmt: skip
            return Outcome(
                failure=ProviderUnavailable(
                    "The connection changed while it refreshed; try again."
                ),
                version=taken.version,
            )
        log.info("refreshed the access token of connection %s", connection_id)
        return Outcome(token=Token(tokens.access_token, taken.version + 1, "connected"))
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        if not released:  # a vault error, or a bug: let the others go at once
            await _thread(state, lease.release, state, connection_id, owner)


async def _invalid_grant(
    state: AppState, connection_id: str, owner: str, version: int, exc: InvalidGrant
) -> Outcome:
    """Mark needs_reconnect and end the lease in one commit (a loser re-reads first)."""
    settled, reason = await anyio.to_thread.run_sync(
        functools.partial(
            lease.mark_needs_reconnect, state, connection_id, version, owner, precise=exc.reason
        ),
        limiter=_limiter(state),
    )
    if settled is not None:
        return Outcome(token=settled, version=settled.version)
    return Outcome(failure=exc, version=version, reason=reason)


async def _renew_while_running(state: AppState, connection_id: str, owner: str) -> None:
    """Keep our lease alive while the provider takes its time (it lapses only if we die)."""
    ttl = state.settings.refresh_lease_s
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            if not await _thread(state, lease.renew, state, connection_id, owner, ttl):
                log.warning("lost the refresh lease of connection %s", connection_id)
                return
        except Exception as exc:  # the database is away: try again next beat
            log.warning("could not renew the refresh lease of %s: %s", connection_id, type(exc))


async def _thread(state: AppState, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in a worker thread of the lease limiter."""
    return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter(state))
