"""Connect flows in the database: create, claim (single use), finish, fail.

A flow moves pending -> completing -> completed | failed. The move to `completing` is one
conditional UPDATE, so of two requests carrying the same code exactly one redeems it
(RFC 6749 §4.1.2: a code is single use; a second redemption may make the provider revoke the
whole grant). A relayed flow parks its grant between the two (parking.py): completing ->
parked -> completed, or -> revoking -> failed when nobody claims it (sweeper.py).
Services take the session first and only flush; `AppState.run_db` commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from backend.connections.service import upsert_connection
from backend.db.models import Connection, Flow, User, new_id
from backend.errors import Conflict, InvalidRequest, NotFound, RateLimitedError
from backend.flows import pkce
from backend.providers.base import Identity, Provider, TokenSet
from backend.secret import Secret
from backend.vault import Vault, aad

# design rule "Connect flow" step 2: a pending flow lives 10 minutes.
FLOW_TTL = timedelta(minutes=10)
# Finished and expired flows are kept a day (a late complete still gets a clear answer).
FLOW_RETENTION = timedelta(days=1)
# Issue 14 point 13: connect attempts one user may have in progress at once.
MAX_PENDING_FLOWS = 20
# Flows still holding (or about to hold) a live grant: never deleted by the retention sweep.
SWEPT_STATUSES = ("parked", "revoking")
IN_PROGRESS = ("pending", "completing", "parked")
EXPIRED = "This connect attempt expired (they last 10 minutes); start connecting again."
USED = "This connect attempt was already used; start connecting again."


def verifier_aad(flow_id: str) -> str:
    return aad("flow", flow_id, "pkce_verifier")


@dataclass(frozen=True)
class StartedFlow:
    flow_id: str
    authorization_url: str
    state: str
    expires_at: datetime


@dataclass(frozen=True)
class FlowRef:
    """What redemption needs of a claimed flow (no ORM object crosses threads)."""

    id: str
    user_id: str
    provider: str
    redirect_uri: str
    provider_redirect_uri: str
    nonce: str | None

    @property
    def relayed(self) -> bool:
        return self.provider_redirect_uri != self.redirect_uri


@dataclass(frozen=True)
class Failure:
    """Why a flow failed, as stored in `flows.error` and reported to the device."""

    detail: str
    provider_error: str | None = None
    status: int = 422

    def dump(self) -> str:
        return json.dumps(
            {"detail": self.detail, "provider_error": self.provider_error, "status": self.status}
        )

    @classmethod
    def load(cls, text: str | None) -> Failure:
        try:
            data: dict[str, Any] = json.loads(text or "")
            return cls(str(data["detail"]), data.get("provider_error"), int(data["status"]))
        except (ValueError, KeyError, TypeError):
            return cls("This connect attempt failed; start connecting again.")


def create_flow(
    session: Session,
    vault: Vault,
    *,
    user_id: str,
    provider: Provider,
    redirect_uri: str,
    now: datetime,
    max_pending: int = MAX_PENDING_FLOWS,
) -> StartedFlow:
    """A pending flow bound to this user, provider and redirect URI (RFC 9700 §4.4.2)."""
    session.execute(
        delete(Flow)
        .where(
            Flow.user_id == user_id,
            Flow.expires_at < now - FLOW_RETENTION,
            # A parked grant is kept until it is claimed or revoked at the provider.
            Flow.status.not_in(SWEPT_STATUSES),
        )
        .execution_options(synchronize_session=False)
    )
    check_pending_limit(session, user_id, now, max_pending)
    flow_id = new_id()
    state = pkce.new_state()
    verifier = pkce.new_verifier()
    nonce = pkce.new_nonce()
    provider_redirect_uri = provider.provider_redirect_uri(redirect_uri)
    url = provider.authorization_url(
        redirect_uri=provider_redirect_uri,
        state=state,
        code_challenge=pkce.s256_challenge(verifier),
        nonce=nonce,
    )
    expires_at = now + FLOW_TTL
    session.add(
        Flow(
            id=flow_id,
            user_id=user_id,
            provider=provider.id,
            redirect_uri=redirect_uri,
            provider_redirect_uri=provider_redirect_uri,
            state_hash=pkce.hash_state(state),
            verifier_ct=vault.seal(verifier, verifier_aad(flow_id)),
            nonce=nonce,
            status="pending",
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return StartedFlow(flow_id, url, state, expires_at)


def check_pending_limit(session: Session, user_id: str, now: datetime, limit: int) -> None:
    """429 once `limit` connect attempts of this user are in progress and unexpired.

    The user's row is locked first (PostgreSQL; on SQLite the caller's BEGIN IMMEDIATE is the
    lock), so two concurrent starts cannot both take the last place."""
    lock = select(User.id).where(User.id == user_id)
    if session.get_bind().dialect.name != "sqlite":
        lock = lock.with_for_update()
    session.execute(lock)
    in_progress = (Flow.user_id == user_id, Flow.status.in_(IN_PROGRESS), Flow.expires_at > now)
    count, first_expiry = session.execute(
        select(func.count(Flow.id), func.min(Flow.expires_at)).where(*in_progress)
    ).one()
    if count < limit:
        return
    oldest = first_expiry if first_expiry is not None else now + FLOW_TTL
    if oldest.tzinfo is None:  # SQLite returns aggregates without the column's type
        oldest = oldest.replace(tzinfo=UTC)
    wait = max(1.0, (oldest - now).total_seconds())
    minutes = max(1, round(wait / 60))
    raise RateLimitedError(
        f"You already have {count} connect attempts in progress, the most at once. Finish one "
        f"in the browser, or start again when the oldest expires (in about {minutes} "
        f"minute{'s' if minutes != 1 else ''}).",
        retry_after=wait,
    )


def owned_flow(session: Session, user_id: str, flow_id: str, state: str) -> Flow:
    """The caller's flow whose state matches; 404 for another user's or an unknown id."""
    flow = session.scalars(
        select(Flow).where(Flow.id == flow_id, Flow.user_id == user_id)
    ).one_or_none()
    if flow is None:
        raise NotFound("There is no such connect attempt.")
    if not pkce.state_matches(state, flow.state_hash):
        raise InvalidRequest(
            "The sign-in response does not belong to this connect attempt (its state differs); "
            "nothing was connected."
        )
    return flow


def flow_by_state(session: Session, state: str) -> Flow | None:
    """The flow a relayed redirect belongs to (looked up by the state's hash)."""
    return session.scalars(
        select(Flow).where(Flow.state_hash == pkce.hash_state(state))
    ).one_or_none()


def check_pending(flow: Flow, now: datetime) -> None:
    if flow.status != "pending":
        raise Conflict(USED)
    if flow.expires_at <= now:
        raise InvalidRequest(EXPIRED)


def fail(session: Session, flow_id: str, failure: Failure) -> None:
    session.execute(
        update(Flow)
        .where(Flow.id == flow_id, Flow.status.in_(("pending", "completing")))
        .values(status="failed", error=failure.dump(), verifier_ct="")
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, vault: Vault, flow: Flow) -> tuple[FlowRef, Secret]:
    """pending -> completing, once; the loser of a race gets 409 conflict."""
    moved = session.execute(
        update(Flow)
        .where(Flow.id == flow.id, Flow.status == "pending")
        .values(status="completing")
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(USED)
    ref = FlowRef(
        flow.id,
        flow.user_id,
        flow.provider,
        flow.redirect_uri,
        flow.provider_redirect_uri,
        flow.nonce,
    )
    return ref, vault.open(flow.verifier_ct, verifier_aad(flow.id))


def finish(
    session: Session,
    vault: Vault,
    ref: FlowRef,
    *,
    provider: Provider,
    identity: Identity,
    tokens: TokenSet,
    now: datetime,
) -> Connection:
    """Store the grant on its connection (new, or the same account reconnected) and close
    the flow; the verifier is no longer needed, so its ciphertext goes too."""
    conn = upsert_connection(
        session,
        vault,
        user_id=ref.user_id,
        provider=provider,
        identity=identity,
        tokens=tokens,
        now=now,
    )
    session.execute(
        update(Flow)
        .where(Flow.id == ref.id)
        .values(status="completed", connection_id=conn.id, verifier_ct="", grant_ct=None)
        .execution_options(synchronize_session=False)
    )
    return conn
