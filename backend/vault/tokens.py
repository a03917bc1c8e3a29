"""What flows, connections and reports call: store a token set, get an access token, call an API.

The connection's status follows provider failures here: `invalid_grant` -> needs_reconnect
(never retried, raised as ReconnectRequired), 5xx / network / 429 -> error with the last
error and when (the provider's error passes on), and any later success -> connected again
(design: "Connection status"). backend/errors.py says all of them to the API's caller.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio.to_thread
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.engine import locked_transaction
from backend.db.models import Connection, new_id
from backend.events.record import record_change, record_for
from backend.providers.base import (
    AccessTokenRejected,
    InvalidGrant,
    ProviderError,
    ProviderUnavailable,
    TokenSet,
)
from backend.secret import Secret
from backend.state import AppState
from backend.vault import flight, lease
from backend.vault.crypto import KeyRing, VaultDecryptError, VaultKeyMissing
from backend.vault.errors import ReconnectRequired, VaultUnavailable
from backend.vault.keys import ENV_VAR
from backend.vault.refresh import Token, lock_row, read_token, token_values

T = TypeVar("T")
log = logging.getLogger(__name__)


def store_tokens(
    session: Session, keyring: KeyRing, conn: Connection, tokens: TokenSet, *, now: datetime
) -> None:
    """Seal a fresh token set into `conn` (after a code redemption or an import); caller commits."""
    if not conn.id:
        conn.id = new_id()  # the AAD binds each ciphertext to this id, so it is needed now
    for column, value in token_values(keyring, conn.id, tokens, now).items():
        setattr(conn, column, value)
    conn.token_version = (conn.token_version or 0) + 1
    session.add(conn)


async def get_access_token(
    state: AppState, connection_id: str, *, force_refresh: bool = False
) -> Secret:
    """A usable access token: the stored one until shortly before expiry, else a refresh."""
    token = await _acquire(state, connection_id, force_refresh=force_refresh)
    return token.secret


async def call_with_token(
    state: AppState,
    connection_id: str,
    fn: Callable[[Secret], Awaitable[T]],
    *,
    first: Token | None = None,
) -> T:
    """`fn(access_token)`; on a rejected token refresh once and retry once; record failures.

    `first`: a usable token the caller has just read (refresh.cached_token), tried before
    reading the row again."""
    token = first if first is not None else await _acquire(state, connection_id)
    try:
        try:
            result = await fn(token.secret)
        except AccessTokenRejected:
            # Someone else may have refreshed already: the version check makes us reuse theirs.
            token = await _acquire(state, connection_id, rejected_version=token.version)
            try:
                result = await fn(token.secret)
            except AccessTokenRejected:
                raise InvalidGrant("the provider refused a freshly issued access token") from None
    except ProviderError as exc:
        raise await _failed(state, connection_id, exc, token.version) from None
    if token.status == "error":
        await anyio.to_thread.run_sync(_mark_connected, state, connection_id)
    return result


async def _acquire(
    state: AppState,
    connection_id: str,
    *,
    force_refresh: bool = False,
    rejected_version: int | None = None,
) -> Token:
    try:
        return await _acquire_unguarded(
            state, connection_id, force_refresh=force_refresh, rejected_version=rejected_version
        )
    except VaultKeyMissing as exc:
        # The operator removed a key too early (or a backend runs with an old key list).
        log.error("connection %s: %s", connection_id, exc)
        raise VaultUnavailable(
            f"{exc} Restore the key in {ENV_VAR} or the vault key file and restart the backend."
        ) from None
    except VaultDecryptError:
        # Fail closed: a ciphertext that does not verify is never used (design: "Storage").
        log.error("connection %s: a stored token failed its integrity check", connection_id)
        raise ReconnectRequired(
            "The stored sign-in for this connection failed its integrity check and was not "
            "used; reconnect the account."
        ) from None


async def _acquire_unguarded(
    state: AppState,
    connection_id: str,
    *,
    force_refresh: bool,
    rejected_version: int | None,
) -> Token:
    seen = await anyio.to_thread.run_sync(read_token, state, connection_id, rejected_version)
    if force_refresh and rejected_version is None:
        # "The current token was rejected": refresh unless someone replaces it first.
        rejected_version = seen.version
    elif seen.token is not None:
        return seen.token
    outcome = await flight.refresh(state, connection_id, rejected_version)
    if outcome.token is not None:
        return outcome.token
    assert outcome.failure is not None
    if isinstance(outcome.failure, InvalidGrant):
        raise _reconnect_error(outcome.reason)
    # The flight recorded the failure on the row already; the caller says it in words. A copy:
    # every waiter of the shared flight raises its own (tracebacks are per raise).
    failure = outcome.failure
    raise type(failure)(str(failure), retry_after=failure.retry_after)


def _reconnect_error(reason: str | None) -> ReconnectRequired | ProviderUnavailable:
    if reason is None:  # new tokens landed, but already too old to use: let the caller retry
        return ProviderUnavailable(
            "The connection's tokens changed while this request ran; try again.", retry_after=1
        )
    return ReconnectRequired(reason)


async def _failed(
    state: AppState, connection_id: str, exc: ProviderError, version: int
) -> Exception:
    """Record what happened on the connection and return the error to raise."""
    if isinstance(exc, InvalidGrant):
        _, reason = await anyio.to_thread.run_sync(
            _mark_needs_reconnect, state, connection_id, version, exc.reason
        )
        return _reconnect_error(reason)
    if isinstance(exc, ProviderUnavailable):
        await anyio.to_thread.run_sync(_record_error, state, connection_id, str(exc))
    return exc


def _mark_needs_reconnect(
    state: AppState, connection_id: str, version: int, precise: str | None = None
) -> tuple[Token | None, str | None]:
    """needs_reconnect after an invalid_grant outside a refresh (vault/lease.py)."""
    return lease.mark_needs_reconnect(state, connection_id, version, precise=precise)


def _record_error(state: AppState, connection_id: str, message: str) -> None:
    """Status `error` with the message and when; announced when either changed (a provider
    outage failing every request must not become one event per request)."""
    with locked_transaction(state.engine) as session:
        conn = lock_row(session, connection_id)
        if conn is None or conn.status not in ("connected", "error"):
            return
        changed = conn.status != "error" or conn.last_error != message
        conn.status, conn.last_error, conn.last_error_at = "error", message, datetime.now(UTC)
        if changed:
            record_change(session, state, conn, "error")


def _mark_connected(state: AppState, connection_id: str) -> None:
    with state.sessions.begin() as session:
        moved = session.execute(
            update(Connection)
            .where(Connection.id == connection_id, Connection.status == "error")
            .values(status="connected", last_error=None, last_error_at=None)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            record_for(session, state, connection_id, "connected")
