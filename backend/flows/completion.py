"""Finishing a connect flow: on the device's `complete` call, or at the backend relay.

DB work runs in short write-locked transactions (`run_locked`); provider calls run on
the event loop between them, never while a transaction is open.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.connections.locking import run_locked
from backend.connections.schemas import connection_json
from backend.db.models import Connection
from backend.errors import Conflict, InvalidRequest
from backend.flows import outcomes
from backend.flows.schemas import FlowComplete
from backend.flows.service import (
    EXPIRED,
    Failure,
    FlowRef,
    check_pending,
    claim,
    fail,
    finish,
    owned_flow,
)
from backend.providers.base import ProviderError, TokenSet
from backend.providers.oauth2 import OAuth2Provider
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


async def complete_flow(
    state: AppState, user_id: str, flow_id: str, body: FlowComplete
) -> dict[str, Any]:
    """POST /v1/flows/{id}/complete: the Connection JSON, or an ApiError."""
    now = datetime.now(UTC)

    def _claim(session: Session) -> Claimed | Settled:
        flow = owned_flow(session, user_id, flow_id, body.state)
        provider = state.provider(flow.provider)
        answer_only = body.code is None and body.error is None
        if answer_only and flow.status == "completed" and flow.connection_id:
            conn = session.get(Connection, flow.connection_id)
            if conn is not None:
                return Settled(connection=connection_json(state, conn))
        if answer_only and flow.status == "failed":
            return Settled(failure=Failure.load(flow.error))
        relayed = flow.provider_redirect_uri != flow.redirect_uri
        if relayed and flow.status in ("pending", "completing"):
            if flow.expires_at <= now:
                raise InvalidRequest(EXPIRED)
            if body.code is not None:
                # The relay redeems codes itself; one reaching the device is out of place.
                raise InvalidRequest(
                    f"{provider.display_name} returns to the backend, not to this device; "
                    "finish signing in in the browser."
                )
            raise Conflict(
                f"The browser has not come back from {provider.display_name} yet; finish "
                "signing in there, then try again."
            )
        check_pending(flow, now)
        failure: Failure | None = None
        if body.error is not None:
            failure = outcomes.declined(provider, body.error)
        elif not outcomes.issuer_matches(provider, body.iss):
            failure = outcomes.wrong_issuer(provider)
        elif body.code is None:
            raise InvalidRequest(outcomes.no_code().detail)
        if failure is not None:
            fail(session, flow.id, failure)
            return Settled(failure=failure)
        ref, verifier = claim(session, state.keyring, flow)
        return Claimed(ref, verifier)

    claimed = await run_locked(state, _claim)
    if isinstance(claimed, Settled):
        if claimed.connection is not None:
            return claimed.connection
        assert claimed.failure is not None
        outcomes.raise_failure(claimed.failure)
    assert body.code is not None
    result = await redeem(state, claimed, Secret(body.code))
    if isinstance(result, Failure):
        outcomes.raise_failure(result)
    return result


async def redeem(state: AppState, claimed: Claimed, code: Secret) -> dict[str, Any] | Failure:
    """Redeem the code with the verifier, identify the account, store the grant.

    On failure the flow is marked failed and the Failure returned (the relay turns it into a
    redirect, `complete` into a problem)."""
    ref = claimed.ref
    provider = state.provider(ref.provider)
    tokens: TokenSet | None = None
    try:
        tokens = await provider.redeem_code(
            code=code, redirect_uri=ref.provider_redirect_uri, code_verifier=claimed.verifier
        )
        if (
            tokens.id_token is not None
            and ref.nonce is not None
            and "openid" in provider.scopes
            and isinstance(provider, OAuth2Provider)
        ):
            # OIDC Core §3.1.3.7 (11): the id_token must carry this flow's nonce.
            provider.id_token_claims(tokens.id_token, nonce=ref.nonce)
        identity = await provider.identify(tokens)
    except ProviderError as exc:
        failure = outcomes.redeem_failed(provider, exc)
        if tokens is not None:
            # A grant was issued but cannot be used: do not leave it alive at the provider.
            with contextlib.suppress(ProviderError):
                await provider.revoke(tokens.refresh_token or tokens.access_token)
        await run_locked(state, lambda s: fail(s, ref.id, failure))
        log.info("connect flow %s failed at %s: %s", ref.id, provider.id, type(exc).__name__)
        return failure
    now = datetime.now(UTC)

    def _finish(session: Session) -> dict[str, Any]:
        conn = finish(
            session,
            state.keyring,
            ref,
            provider=provider,
            identity=identity,
            tokens=tokens,
            now=now,
        )
        return connection_json(state, conn)

    try:
        result = await run_locked(state, _finish)
    except IntegrityError:
        # Two first-time connects of the same account raced; the other one made the row,
        # which the retry now finds and updates (a reconnect).
        result = await run_locked(state, _finish)
    log.info("connect flow %s completed: connection %s", ref.id, result["id"])
    return result
