"""Disconnect: revoke at the provider (RFC 7009), then crypto-shred the stored tokens.

design rule "Revocation": 200 for an already-invalid token is success (RFC 7009 §2.2). On 503 or
a timeout the token still exists at the provider (§2.2.1): the connection shows "revocation
pending", the refresh-token ciphertext is kept only to retry revocation (never for reports:
`vault.refresh.ensure_usable` refuses a pending connection), retries back off, and the user
may forget it anyway after being told to revoke on the provider's site.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.connections.schemas import provider_display_name
from backend.connections.service import get_owned_for_update
from backend.db.models import Connection
from backend.db.transactions import run_locked
from backend.events.record import record_change
from backend.providers.base import (
    ProviderError,
    ProviderUnavailable,
    RevocationUnsupported,
)
from backend.secret import Secret
from backend.state import AppState
from backend.vault import Vault

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 2.0
BACKOFF_MAX_S = 3600.0


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts + 1`: doubling, capped, with ±20 % jitter."""
    delay = min(BACKOFF_BASE_S * 2 ** max(0, attempts - 1), BACKOFF_MAX_S)
    return timedelta(seconds=delay * random.uniform(0.8, 1.2))  # noqa: S311 - not crypto


@dataclass
class Outcome:
    revoked: list[str] = field(default_factory=list)
    not_revoked: list[str] = field(default_factory=list)
    pending: bool = False
    unsupported: bool = False
    # Where the user removes this app's access by hand, when the provider is known to say.
    manage_access_url: str | None = None


@dataclass(frozen=True)
class _Held:
    """The tokens read under the row lock when the connection was taken out of use."""

    connection_id: str
    provider: str
    refresh: Secret | None
    access: Secret | None


async def revoke_tokens(state: AppState, held: _Held) -> Outcome:
    """Revoke the refresh token (which ends its access tokens, RFC 7009 §2.1) and a still
    valid access token too; a provider outage leaves the revocation pending."""
    out = Outcome()
    provider = state.providers.get(held.provider)
    if provider is None:
        out.unsupported = True
        out.not_revoked = [n for n, t in (("refresh_token", held.refresh),) if t]
        return out
    tokens = [("refresh_token", held.refresh), ("access_token", held.access)]
    for name, token in tokens:
        if token is None or (name == "access_token" and token == held.refresh):
            continue  # Meta: the long-lived user token is both
        try:
            await provider.revoke(token)
            out.revoked.append(name)
        except RevocationUnsupported as exc:
            out.unsupported = True
            out.manage_access_url = exc.manage_access_url
            out.not_revoked.append(name)
        except ProviderUnavailable:
            if name == "refresh_token":
                out.pending = True
                return out
            out.not_revoked.append(name)  # short-lived; it expires by itself
        except ProviderError as exc:
            log.warning("revoking a token of connection %s failed: %s", held.connection_id, exc)
            out.not_revoked.append(name)
        if out.unsupported:
            return out
    return out


def _shred(conn: Connection, now: datetime, reason: str) -> None:
    """Crypto-shred: the ciphertexts go; the row stays as a record that it was disconnected."""
    Vault.forget(conn)
    conn.status = "disconnected"
    conn.status_reason = reason
    conn.revocation_pending = False
    conn.next_revocation_at = None
    conn.updated_at = now


def _pending_reason(name: str) -> str:
    return (
        f"Disconnected here, but {name} could not be reached to revoke access; retrying "
        f"automatically. You can forget it anyway and remove access on {name}'s site."
    )


def _message(name: str, out: Outcome) -> str:
    if out.pending:
        return _pending_reason(name)
    if out.unsupported and out.manage_access_url:
        return (
            f"Disconnected: the stored sign-in was deleted here. {name} offers apps no way to "
            f"revoke access, so to end the grant itself remove this app at "
            f"{out.manage_access_url}."
        )
    if out.unsupported:
        return (
            f"Disconnected. {name} offers no way to revoke access from here: remove this app's "
            f"access on {name}'s site."
        )
    if out.not_revoked and "refresh_token" in out.not_revoked:
        return (
            f"Disconnected and the stored tokens were deleted, but {name} did not confirm the "
            f"revocation: remove this app's access on {name}'s site to be sure."
        )
    if out.revoked:
        return f"Disconnected: {name} revoked access and the stored tokens were deleted."
    return "Disconnected: no tokens were stored, so there was nothing to revoke."


async def disconnect(
    state: AppState, user_id: str, connection_id: str, *, forget: bool
) -> dict[str, Any]:
    """DELETE /v1/connections/{id}: revoke, shred, and say what happened."""
    now = datetime.now(UTC)

    def _take(session: Session) -> _Held | dict[str, Any] | datetime:
        conn = get_owned_for_update(session, user_id, connection_id)
        lease_until = conn.lease_expires_at if conn.lease_owner is not None else None
        if lease_until is not None and lease_until > datetime.now(UTC):
            # A refresh is in flight: revoking the refresh token it sent could miss the one
            # the provider is about to issue. Wait for it to store that one.
            return lease_until
        name = provider_display_name(state, conn.provider)
        body: dict[str, Any] = {
            "connection_id": conn.id,
            "provider": conn.provider,
            "revoked": [],
            "not_revoked": [],
            "revocation_pending": False,
        }
        if conn.status == "disconnected" and not conn.revocation_pending:
            return {**body, "message": "This connection was already disconnected."}
        if conn.revocation_pending and forget:
            _shred(conn, now, "Forgotten before the provider confirmed the revocation.")
            record_change(session, state, conn, "disconnected")
            body["not_revoked"] = ["refresh_token"]
            body["message"] = (
                f"Forgotten. {name} may still hold access: remove this app's access on "
                f"{name}'s site."
            )
            return body
        access, refresh = state.vault.open_tokens(conn, now=now)
        # Out of use from now on: no report, no refresh (so no rotation) while we revoke.
        conn.status = "disconnected"
        conn.status_reason = _pending_reason(name)
        conn.revocation_pending = True
        conn.next_revocation_at = now + timedelta(minutes=5)  # if this process dies meanwhile
        conn.access_ct = None
        conn.access_expires_at = None
        conn.token_version += 1
        record_change(session, state, conn, "disconnected")
        return _Held(conn.id, conn.provider, refresh, access)

    delay = 0.05
    while isinstance(held := await run_locked(state, _take), datetime):
        await asyncio.sleep(delay)  # the refresh's owner renews its lease only while alive
        delay = min(delay * 2, 1.0)
    if isinstance(held, dict):
        return held
    out = await revoke_tokens(state, held)
    name = provider_display_name(state, held.provider)

    def _settle(session: Session) -> None:
        conn = get_owned_for_update(session, user_id, connection_id)
        if not conn.revocation_pending:
            return  # forgotten meanwhile
        later = datetime.now(UTC)
        if out.pending:
            conn.revocation_attempts = 1
            conn.next_revocation_at = later + backoff(1)
            conn.updated_at = later
        else:
            _shred(conn, later, "Disconnected.")
            record_change(session, state, conn, "revocation_settled")

    await run_locked(state, _settle)
    log.info("connection %s disconnected (revocation pending: %s)", held.connection_id, out.pending)
    return {
        "connection_id": held.connection_id,
        "provider": held.provider,
        "revoked": out.revoked,
        "not_revoked": out.not_revoked,
        "revocation_pending": out.pending,
        "message": _message(name, out),
    }


def due_ids(session: Session, now: datetime, user_id: str | None, limit: int) -> list[str]:
    stmt = select(Connection.id).where(
        Connection.revocation_pending.is_(True), Connection.next_revocation_at <= now
    )
    if user_id is not None:
        stmt = stmt.where(Connection.user_id == user_id)
    return list(session.scalars(stmt.limit(limit)))


async def retry_due(state: AppState, *, user_id: str | None = None, limit: int = 20) -> int:
    """Retry pending revocations whose time has come; returns how many were settled."""
    now = datetime.now(UTC)
    ids = await state.run_db(lambda s: due_ids(s, now, user_id, limit))
    settled = 0
    for connection_id in ids:
        settled += await _retry_one(state, connection_id)
    return settled


async def _retry_one(state: AppState, connection_id: str) -> int:
    def _claim(session: Session) -> _Held | None:
        conn = session.get(Connection, connection_id)
        now = datetime.now(UTC)
        if conn is None or not conn.revocation_pending:
            return None
        if conn.next_revocation_at is not None and conn.next_revocation_at > now:
            return None  # another worker claimed it
        conn.revocation_attempts += 1
        # Claimed: the next attempt is scheduled before this one runs, so a crash retries.
        conn.next_revocation_at = now + backoff(conn.revocation_attempts)
        refresh = state.vault.open_refresh(conn)
        return _Held(conn.id, conn.provider, refresh, None)

    held = await run_locked(state, _claim)
    if held is None:
        return 0
    out = await revoke_tokens(state, held)
    if out.pending:
        return 0

    def _done(session: Session) -> None:
        conn = session.get(Connection, connection_id)
        if conn is not None and conn.revocation_pending:
            _shred(conn, datetime.now(UTC), "Disconnected.")
            record_change(session, state, conn, "revocation_settled")

    await run_locked(state, _done)
    log.info("pending revocation of connection %s settled", connection_id)
    return 1
