"""Finishing a connect flow: on the device's `complete` call, or at the backend relay.

A loopback flow's device brings the code and gets its connection at once. A relayed flow's
code is redeemed at the callback and the grant parked (parking.py); the connection appears
only when the flow owner's device presents the state and the one-time relay ticket.

DB work runs in short write-locked transactions (`run_locked`); provider calls run on
the event loop between them, never while a transaction is open.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.connections.schemas import connection_json
from backend.db.models import Connection, Flow
from backend.db.transactions import run_locked
from backend.errors import Conflict, InvalidRequest
from backend.events.record import record_change
from backend.flows import outcomes
from backend.flows.parking import UNCLAIMED, claim_parked
from backend.flows.schemas import FlowComplete
from backend.flows.service import (
    EXPIRED,
    USED,
    Failure,
    FlowRef,
    check_pending,
    claim,
    fail,
    finish,
    owned_flow,
)
from backend.providers.base import Identity, Provider, ProviderError, TokenSet
from backend.secret import Secret
from backend.state import AppState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claimed:
    ref: FlowRef
    verifier: Secret


@dataclass(frozen=True)
class Settled:
    """The flow had already ended: its connection, or why it failed."""

    connection: dict[str, Any] | None = None
    failure: Failure | None = None


def relay_ticket_ttl(state: AppState) -> timedelta:
    return timedelta(seconds=state.settings.relay_ticket_ttl_s)


async def complete_flow(
    state: AppState, user_id: str, flow_id: str, body: FlowComplete
) -> dict[str, Any]:
    """POST /v1/flows/{id}/complete: the Connection JSON, or an ApiError."""
    now = datetime.now(UTC)

    def _claim(session: Session) -> Claimed | Settled:
        # Another user's flow is 404 whatever they present (design: only the device that
        # started the flow can own its grant).
        flow = owned_flow(session, user_id, flow_id, body.state)
        provider = state.provider(flow.provider)
        answer_only = body.code is None and body.error is None and body.relay_ticket is None
        if answer_only and flow.status == "completed" and flow.connection_id:
            conn = session.get(Connection, flow.connection_id)
            if conn is not None:
                return Settled(connection=connection_json(state, conn))
        if answer_only and flow.status in ("failed", "revoking"):
            return Settled(failure=_failure_of(flow, provider))
        relayed = flow.provider_redirect_uri != flow.redirect_uri
        if relayed:
            return _relayed(session, flow, provider, body, now)
        check_pending(flow, now)
        failure: Failure | None = None
        if body.error is not None:
            failure = outcomes.declined(provider, body.error)
        elif body.code is None:
            raise InvalidRequest(outcomes.no_code().detail)
        elif not outcomes.issuer_matches(provider, body.iss):
            failure = outcomes.wrong_issuer(provider, body.iss)
        if failure is not None:
            fail(session, flow.id, failure)
            return Settled(failure=failure)
        ref, verifier = claim(session, state.vault, flow)
        return Claimed(ref, verifier)

    def _relayed(
        session: Session, flow: Flow, provider: Provider, body: FlowComplete, now: datetime
    ) -> Settled:
        if body.code is not None:
            # The relay redeems codes itself; one reaching the device is out of place.
            raise InvalidRequest(
                f"{provider.display_name} returns to the backend, not to this device; "
                "finish signing in in the browser."
            )
        if flow.status == "parked":
            conn = claim_parked(
                session,
                state.vault,
                flow,
                body.relay_ticket,
                provider=provider,
                now=now,
                ttl=relay_ticket_ttl(state),
            )
            record_change(session, state, conn, "connected")
            return Settled(connection=connection_json(state, conn))
        if flow.status in ("failed", "revoking"):
            return Settled(failure=_failure_of(flow, provider))
        if flow.status == "completed":
            raise Conflict(USED)
        if flow.expires_at <= now:
            raise InvalidRequest(EXPIRED)
        raise Conflict(
            f"The browser has not come back from {provider.display_name} yet; finish "
            "signing in there, then try again."
        )

    try:
        claimed = await run_locked(state, _claim)
    except IntegrityError:
        # Two first-time connects of the same account raced; the other one made the row,
        # which the retry now finds and updates (a reconnect).
        claimed = await run_locked(state, _claim)
    if isinstance(claimed, Settled):
        if claimed.connection is not None:
            log.info("connect flow %s completed: connection %s", flow_id, claimed.connection["id"])
            return claimed.connection
        assert claimed.failure is not None
        outcomes.raise_failure(claimed.failure)
    assert body.code is not None
    result = await obtain_grant(state, claimed, Secret(body.code))
    if isinstance(result, Failure):
        outcomes.raise_failure(result)
    return await store_grant(state, claimed.ref, result)


def _failure_of(flow: Flow, provider: Provider) -> Failure:
    if flow.status == "revoking":  # unclaimed: the sweeper is withdrawing it right now
        return Failure(UNCLAIMED.format(provider=provider.display_name))
    return Failure.load(flow.error)


@dataclass(frozen=True)
class Grant:
    """A redeemed grant and whose it is at the provider (not yet anybody's connection)."""

    tokens: TokenSet
    identity: Identity


async def obtain_grant(state: AppState, claimed: Claimed, code: Secret) -> Grant | Failure:
    """Redeem the code with the verifier, check the id_token, identify the account.

    On failure the flow is marked failed and the Failure returned (the relay turns it into a
    redirect, `complete` into a problem); a grant that was issued is revoked at once."""
    ref = claimed.ref
    provider = state.provider(ref.provider)
    tokens: TokenSet | None = None
    try:
        tokens = await provider.redeem_code(
            code=code, redirect_uri=ref.provider_redirect_uri, code_verifier=claimed.verifier
        )
        nonce = ref.nonce if "openid" in provider.scopes else None
        identity = await provider.identify(tokens, nonce=nonce)
    except ProviderError as exc:
        failure = outcomes.redeem_failed(provider, exc)
        if tokens is not None:
            # A grant was issued but cannot be used: do not leave it alive at the provider.
            await revoke_quietly(provider, tokens.refresh_token or tokens.access_token)
        await run_locked(state, lambda s: fail(s, ref.id, failure))
        log.info("connect flow %s failed at %s: %s", ref.id, provider.id, type(exc).__name__)
        return failure
    return Grant(tokens, identity)


async def revoke_quietly(provider: Provider, token: Secret) -> None:
    with contextlib.suppress(ProviderError):
        await provider.revoke(token)


async def store_grant(state: AppState, ref: FlowRef, grant: Grant) -> dict[str, Any]:
    """The grant becomes the flow owner's connection (loopback flows: the owner's device
    brought the code itself)."""
    provider = state.provider(ref.provider)
    now = datetime.now(UTC)

    def _finish(session: Session) -> dict[str, Any]:
        conn = finish(
            session,
            state.vault,
            ref,
            provider=provider,
            identity=grant.identity,
            tokens=grant.tokens,
            now=now,
        )
        record_change(session, state, conn, "connected")
        return connection_json(state, conn)

    try:
        result = await run_locked(state, _finish)
    except IntegrityError:
        # Two first-time connects of the same account raced; the other one made the row,
        # which the retry now finds and updates (a reconnect).
        result = await run_locked(state, _finish)
    log.info("connect flow %s completed: connection %s", ref.id, result["id"])
    return result
