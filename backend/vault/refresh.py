"""Single-flight refresh of provider access tokens, across coroutines and across processes.

DESIGN "Token refresh rules": at most one refresh per connection in flight across all backend
processes (a row lock: `SELECT … FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite);
waiters re-read and reuse the result; the rotated refresh token is committed in the same
transaction that holds the lock, so the old one is never sent again (RFC 9700 §4.14.2: a
provider may revoke the whole grant when an old refresh token comes back).

Threads: the DB work runs in worker threads; the provider's HTTP call runs on the event loop
(`anyio.from_thread.run`) while the worker thread holds the row lock. In one process a
per-connection asyncio lock lets only one coroutine go for the row lock, so at most one worker
thread per connection waits on the database, and those threads have their own small limiter:
a storm of requests never ties up anyio's default pool (which in-process handlers, such as the
mounted sandbox, need to answer the very refresh we are waiting for).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.db.engine import is_sqlite, locked_transaction
from backend.db.models import Connection
from backend.errors import NeedsReconnect, NotFound
from backend.providers.base import InvalidGrant, ProviderUnavailable, TokenSet
from backend.secret import Secret
from backend.state import AppState
from backend.vault.crypto import KeyRing, aad

log = logging.getLogger(__name__)

# Never refresh earlier than this many seconds before expiry, but at most half the lifetime:
# a fixed 60 s margin would refresh a 30 s token on every call (DESIGN "Refresh" lessons).
LEAD_FLOOR_S = 5.0
# Worker threads that may wait on a row lock at once per process (per event loop).
PG_REFRESH_THREADS = 16
# How long a refresh keeps trying to store tokens the provider already rotated.
ROTATION_WRITE_DEADLINE_S = 30.0


@dataclass(frozen=True)
class Token:
    """An access token and the `token_version` it belongs to."""

    secret: Secret
    version: int
    status: str


def access_aad(connection_id: str) -> str:
    return aad("connection", connection_id, "access_token")


def refresh_aad(connection_id: str) -> str:
    return aad("connection", connection_id, "refresh_token")


def lead_time_s(lifetime_s: float | None, fraction: float) -> float:
    """How long before expiry an access token counts as used up."""
    if lifetime_s is None:
        return LEAD_FLOOR_S
    return max(lifetime_s * fraction, min(LEAD_FLOOR_S, lifetime_s / 2))


def provider_name(state: AppState, provider_id: str) -> str:
    provider = state.providers.get(provider_id)
    return provider.display_name if provider is not None else provider_id


class TokenRow(Protocol):
    """The columns the token path reads: a Connection, or a Core row of `TOKEN_COLUMNS`."""

    @property
    def id(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def status_reason(self) -> str | None: ...
    @property
    def revocation_pending(self) -> bool: ...
    @property
    def token_version(self) -> int: ...
    @property
    def access_ct(self) -> str | None: ...
    @property
    def access_expires_at(self) -> datetime | None: ...
    @property
    def access_lifetime_s(self) -> int | None: ...


R = TypeVar("R", bound=TokenRow)

# The hot path (every report request) reads these few columns with Core: no ORM identity map,
# no JSON columns to decode.
TOKEN_COLUMNS = select(
    Connection.id,
    Connection.provider,
    Connection.status,
    Connection.status_reason,
    Connection.revocation_pending,
    Connection.token_version,
    Connection.access_ct,
    Connection.access_expires_at,
    Connection.access_lifetime_s,
)


def ensure_usable(state: AppState, conn: R | None) -> R:
    """Raise unless the connection may be used for API calls (never a disconnected one)."""
    if conn is None:
        raise NotFound("There is no such connection.")
    if conn.status == "disconnected" or conn.revocation_pending:
        raise NotFound("This connection was disconnected; connect the account again to use it.")
    if conn.status == "needs_reconnect":
        raise NeedsReconnect(
            conn.status_reason
            or f"{provider_name(state, conn.provider)} needs you to reconnect this account."
        )
    return conn


def cached_token(
    state: AppState, conn: TokenRow, *, rejected_version: int | None, now: datetime
) -> Token | None:
    """The stored access token if it is not the rejected one and not near expiry."""
    if conn.access_ct is None:
        return None
    if rejected_version is not None and conn.token_version <= rejected_version:
        return None
    if conn.access_expires_at is not None:
        lead = lead_time_s(conn.access_lifetime_s, state.settings.refresh_lead_fraction)
        if (conn.access_expires_at - now).total_seconds() <= lead:
            return None
    # No expiry known (expires_in omitted, RFC 6749 §5.1): use it until the API rejects it.
    secret = state.keyring.open(conn.access_ct, access_aad(conn.id))
    return Token(secret, conn.token_version, conn.status)


def read_token(
    state: AppState, connection_id: str, rejected_version: int | None
) -> tuple[Token | None, int]:
    """Unlocked read (worker thread): (usable cached token or None, current token_version)."""
    with state.engine.connect() as db:
        row = db.execute(TOKEN_COLUMNS.where(Connection.id == connection_id)).one_or_none()
    conn: TokenRow = ensure_usable(state, row)
    now = datetime.now(UTC)
    return cached_token(state, conn, rejected_version=rejected_version, now=now), conn.token_version


def token_values(
    keyring: KeyRing, connection_id: str, tokens: TokenSet, now: datetime
) -> dict[str, object]:
    """Column values for a fresh token set (the old refresh token stays when none came back)."""
    values: dict[str, object] = {
        "access_ct": keyring.seal(tokens.access_token, access_aad(connection_id)),
        "access_expires_at": None,
        "access_lifetime_s": None,
        "last_refreshed_at": now,
        "status": "connected",
        "status_reason": None,
        "last_error": None,
        "last_error_at": None,
    }
    if tokens.refresh_token is not None:
        values["refresh_ct"] = keyring.seal(tokens.refresh_token, refresh_aad(connection_id))
    if tokens.expires_in is not None:
        lifetime = max(0, int(tokens.expires_in))
        values["access_lifetime_s"] = lifetime
        values["access_expires_at"] = now + timedelta(seconds=lifetime)
    if tokens.scope:
        # RFC 6749 §6: a refresh may narrow the scope; record what the grant now covers.
        values["scopes"] = list(tokens.scope)
    return values


def lock_row(session: Session, connection_id: str) -> Connection | None:
    stmt = select(Connection).where(Connection.id == connection_id)
    bind = session.get_bind()
    if not is_sqlite(bind.engine):  # SQLite: the lock is the BEGIN IMMEDIATE itself
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


@dataclass
class _Outcome:
    token: Token | None = None
    failure: InvalidGrant | ProviderUnavailable | None = None
    version: int = 0
    provider: str = ""


def locked_refresh(state: AppState, connection_id: str, rejected_version: int | None) -> _Outcome:
    """Worker thread: take the row lock, re-read, refresh at the provider, commit the rotation.

    If the database fails after the provider rotated the refresh token (a restart, a dropped
    connection), the new tokens are still written, with retries: the old refresh token is
    spent, and presenting it again would make the provider end the grant (RFC 9700 §4.14.2).
    """
    rotated: list[tuple[int, dict[str, object], Secret]] = []
    try:
        return _locked_refresh(state, connection_id, rejected_version, rotated)
    except DBAPIError:
        if not rotated:
            raise
        version, values, access = rotated[0]
        _write_rotation_with_retries(state, connection_id, version, values)
        return _Outcome(token=Token(access, version + 1, "connected"))


def _write_rotation_with_retries(
    state: AppState, connection_id: str, version: int, values: dict[str, object]
) -> None:
    deadline = time.monotonic() + ROTATION_WRITE_DEADLINE_S
    delay = 0.25
    while True:
        try:
            with state.engine.begin() as db:
                written = db.execute(
                    update(Connection)
                    .where(Connection.id == connection_id, Connection.token_version == version)
                    .values(**values)
                )
                if written.rowcount != 1:
                    current = db.execute(
                        select(Connection.token_version).where(Connection.id == connection_id)
                    ).scalar_one_or_none()
                    if current is None or current <= version:
                        raise RuntimeError("the connection vanished while its tokens rotated")
                    # The first commit did land (only its acknowledgement was lost).
            log.warning(
                "wrote the rotated tokens of connection %s after a database error", connection_id
            )
            return
        except DBAPIError:
            if time.monotonic() + delay > deadline:
                log.error("could not store the rotated tokens of connection %s", connection_id)
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _locked_refresh(
    state: AppState,
    connection_id: str,
    rejected_version: int | None,
    rotated: list[tuple[int, dict[str, object], Secret]],
) -> _Outcome:
    with locked_transaction(state.engine) as session:
        conn = ensure_usable(state, lock_row(session, connection_id))
        now = datetime.now(UTC)
        token = cached_token(state, conn, rejected_version=rejected_version, now=now)
        if token is not None:  # another process or coroutine refreshed while we waited
            return _Outcome(token=token)
        outcome = _Outcome(version=conn.token_version, provider=conn.provider)
        if conn.refresh_ct is None:
            outcome.failure = InvalidGrant("no refresh token is stored for this connection")
            return outcome
        provider = state.provider(conn.provider)
        refresh_token = state.keyring.open(conn.refresh_ct, refresh_aad(conn.id))
        try:
            tokens = anyio.from_thread.run(provider.refresh, refresh_token)
        except (InvalidGrant, ProviderUnavailable) as exc:
            outcome.failure = exc
            return outcome
        now = datetime.now(UTC)
        values = token_values(state.keyring, conn.id, tokens, now)
        values["token_version"] = conn.token_version + 1
        rotated.append((conn.token_version, values, tokens.access_token))
        # Column-scoped, version-checked write: nothing else can put an old token back.
        written = session.execute(
            update(Connection)
            .where(Connection.id == conn.id, Connection.token_version == conn.token_version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if written.rowcount != 1:  # type: ignore[attr-defined]  # impossible under the lock
            raise RuntimeError("the connection changed while its row lock was held")
        log.info("refreshed the access token of connection %s", conn.id)
        return _Outcome(token=Token(tokens.access_token, conn.token_version + 1, "connected"))


@dataclass
class _Flight:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class _LoopLocal:
    flights: dict[tuple[int, str], _Flight] = field(default_factory=dict)
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


@asynccontextmanager
async def single_flight(state: AppState, connection_id: str) -> AsyncIterator[None]:
    """One coroutine per connection (in this process and loop) goes for the row lock."""
    flights = _loop_local().flights
    key = (id(state), connection_id)
    flight = flights.get(key)
    if flight is None:
        flight = flights[key] = _Flight()
    flight.users += 1
    try:
        async with flight.lock:
            yield
    finally:
        flight.users -= 1
        if flight.users == 0 and flights.get(key) is flight:
            del flights[key]


def refresh_limiter(state: AppState) -> anyio.CapacityLimiter:
    local = _loop_local()
    if local.limiter is None:
        # SQLite has one write lock for the whole file: more waiting threads buy nothing.
        local.limiter = anyio.CapacityLimiter(1 if is_sqlite(state.engine) else PG_REFRESH_THREADS)
    return local.limiter
