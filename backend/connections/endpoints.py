"""Connection endpoints: list, status (and check), accounts, import, disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, BackgroundTasks, FastAPI
from sqlalchemy.orm import Session

from backend import user_limits
from backend.auth.deps import CurrentUser
from backend.connections.importing import import_refresh_token
from backend.connections.revocation import disconnect, retry_due
from backend.connections.schemas import (
    AccountOut,
    ConnectionOut,
    DisconnectOut,
    ImportRequest,
    accounts_json,
    connection_json,
)
from backend.connections.service import get_owned, list_visible
from backend.deps import StateDep, VaultDep
from backend.errors import NotFound
from backend.events.record import record_change
from backend.providers.base import ProviderError
from backend.state import AppState
from backend.vault import VaultError

log = logging.getLogger(__name__)

# How often the background task looks for pending revocations that are due.
RETRY_SWEEP_S = 15.0


async def _sweep(state: AppState) -> None:
    while True:
        await asyncio.sleep(RETRY_SWEEP_S)
        try:
            await retry_due(state)
        except Exception as exc:  # keep sweeping; the next pass may succeed
            log.warning("retrying pending revocations failed: %s", type(exc).__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(_sweep(app.state.ca))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


router = APIRouter(prefix="/v1/connections", tags=["connections"], lifespan=_lifespan)


@router.get("", response_model=list[ConnectionOut])
async def list_connections(
    user: CurrentUser, state: StateDep, background: BackgroundTasks
) -> list[dict[str, Any]]:
    """The caller's connections (revocation-pending ones included, flagged)."""
    now = datetime.now(UTC)

    def _list(session: Session) -> tuple[list[dict[str, Any]], bool]:
        conns = list_visible(session, user.user_id)
        due = any(
            c.revocation_pending and (c.next_revocation_at is None or c.next_revocation_at <= now)
            for c in conns
        )
        return [connection_json(state, c) for c in conns], due

    items, due = await state.run_db(_list)
    if due:
        # After the response: a pending revocation is retried when its back-off has passed.
        background.add_task(retry_due, state, user_id=user.user_id)
    return items


@router.post("/import", response_model=ConnectionOut)
async def import_connection(
    body: ImportRequest, user: CurrentUser, state: StateDep
) -> dict[str, Any]:
    """Store a refresh token obtained elsewhere, once the provider accepted it."""
    return await import_refresh_token(state, user.user_id, body)


@router.get("/{connection_id}", response_model=ConnectionOut)
async def get_connection(
    connection_id: str, user: CurrentUser, state: StateDep, vault: VaultDep, check: bool = False
) -> dict[str, Any]:
    """One connection; `check=true` validates the grant at the provider first."""
    if check:
        conn = await state.run_db(lambda s: get_owned(s, user.user_id, connection_id))
        usable = conn.status in ("connected", "error") and not conn.revocation_pending
        if usable:
            provider = state.provider(conn.provider)
            # Each check is a provider call (and maybe a refresh): rate limited per user.
            await user_limits.spend(state, user.user_id, user_limits.check_limit(state))
            try:
                accounts = await vault.call_with_token(connection_id, provider.list_accounts)
            except (ProviderError, VaultError):
                pass  # the status now says what went wrong, in words
            else:
                rows = [a.as_json() for a in accounts]

                def _save(session: Session) -> None:
                    fresh = get_owned(session, user.user_id, connection_id)
                    if list(fresh.accounts or []) != rows:
                        fresh.accounts = rows
                        record_change(session, state, fresh, "updated")

                await state.run_db(_save)

    def _read(session: Session) -> dict[str, Any]:
        return connection_json(state, get_owned(session, user.user_id, connection_id))

    return await state.run_db(_read)


@router.get("/{connection_id}/accounts", response_model=list[AccountOut])
async def list_accounts(
    connection_id: str, user: CurrentUser, state: StateDep
) -> list[dict[str, Any]]:
    """The ad accounts the grant covers (as of the last connect or check), each with its place
    in the hierarchy: `parent_id` (manager), `is_manager`, `login_customer_id`."""

    def _read(session: Session) -> list[dict[str, Any]]:
        conn = get_owned(session, user.user_id, connection_id)
        if conn.status == "disconnected":
            raise NotFound("This connection was disconnected; connect the account again.")
        return accounts_json(conn)

    return await state.run_db(_read)


@router.delete("/{connection_id}", response_model=DisconnectOut)
async def delete_connection(
    connection_id: str, user: CurrentUser, state: StateDep, forget: bool = False
) -> dict[str, Any]:
    """Revoke at the provider, then delete the stored tokens; says what was revoked."""
    return await disconnect(state, user.user_id, connection_id, forget=forget)
