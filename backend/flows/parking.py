"""Backend relay: the grant redeemed at the callback waits, sealed, for its flow's owner.

design rule "Backend-relayed redirect": whoever's browser comes back from the provider, the grant
belongs to nobody until the device that started the flow presents the flow's `state` and the
one-time `relay_ticket` the browser carried home. The grant is sealed with the vault, its AAD
bound to the flow; the ticket (256 random bits, short-lived) is kept only as a SHA-256 hash.
A grant nobody claims in time is revoked at the provider by the sweeper (sweeper.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db.models import Connection, Flow
from backend.errors import Conflict, InvalidRequest
from backend.flows.service import USED, FlowRef, finish
from backend.providers.base import AdAccount, Identity, Provider, TokenSet
from backend.secret import Secret
from backend.vault import Vault, aad

# Design: the relay ticket carries at least 128 random bits; 32 octets give 256.
TICKET_OCTETS = 32

NO_TICKET = (
    "Finishing this connect attempt needs the one-time ticket that the browser brought back to "
    "the device that started it; nothing was connected. Start connecting again on that device."
)
WRONG_TICKET = (
    "The one-time ticket does not belong to this connect attempt, so nothing was connected. "
    "Start connecting again."
)
TICKET_EXPIRED = (
    "The sign-in came back, but the app did not finish connecting within "
    "{minutes} (the one-time ticket expired); the access was withdrawn and nothing was "
    "connected. Start connecting again."
)
UNCLAIMED = (
    "The sign-in came back, but the app that started connecting did not finish it in time, so "
    "the access was withdrawn at {provider} and nothing was connected. Start connecting again."
)


def grant_aad(flow_id: str) -> str:
    return aad("flow", flow_id, "parked_grant")


def new_ticket() -> str:
    return secrets.token_urlsafe(TICKET_OCTETS)


def hash_ticket(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def ticket_matches(ticket: str, ticket_hash: str) -> bool:
    """Constant-time comparison of a presented ticket with the stored hash."""
    return hmac.compare_digest(hash_ticket(ticket).encode("ascii"), ticket_hash.encode("ascii"))


def ttl_words(ttl: timedelta) -> str:
    seconds = int(ttl.total_seconds())
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


@dataclass(frozen=True)
class ParkedGrant:
    """A redeemed grant waiting for its owner; never logged (no repr of the tokens)."""

    tokens: TokenSet
    identity: Identity
    redeemed_at: datetime

    def revocable_token(self) -> Secret:
        """RFC 7009 §2.1: revoking the refresh token ends its access tokens too."""
        return self.tokens.refresh_token or self.tokens.access_token

    def tokens_at(self, now: datetime) -> TokenSet:
        """The token set with `expires_in` counted from `now`, not from the redemption."""
        if self.tokens.expires_in is None:
            return self.tokens
        waited = int((now - self.redeemed_at).total_seconds())
        return TokenSet(
            access_token=self.tokens.access_token,
            refresh_token=self.tokens.refresh_token,
            expires_in=max(0, self.tokens.expires_in - max(0, waited)),
            scope=self.tokens.scope,
        )


def seal_grant(
    vault: Vault, flow_id: str, tokens: TokenSet, identity: Identity, redeemed_at: datetime
) -> str:
    data: dict[str, Any] = {
        "access_token": tokens.access_token.reveal(),
        "refresh_token": tokens.refresh_token.reveal() if tokens.refresh_token else None,
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
        "subject": identity.subject,
        "display_name": identity.display_name,
        "accounts": [
            {"id": a.id, "name": a.name, "currency": a.currency, "time_zone": a.time_zone}
            for a in identity.accounts
        ],
        "expires_at": identity.expires_at.isoformat() if identity.expires_at else None,
        "redeemed_at": redeemed_at.isoformat(),
    }
    return vault.seal(json.dumps(data), grant_aad(flow_id))


def open_grant(vault: Vault, flow_id: str, blob: str) -> ParkedGrant:
    """VaultError when the blob is damaged, foreign to this flow, or its key is gone."""
    data = json.loads(vault.open(blob, grant_aad(flow_id)).reveal())
    refresh = data.get("refresh_token")
    tokens = TokenSet(
        access_token=Secret(data["access_token"]),
        refresh_token=Secret(refresh) if refresh else None,
        expires_in=data.get("expires_in"),
        scope=data.get("scope"),
    )
    expires_at = data.get("expires_at")
    identity = Identity(
        subject=data["subject"],
        display_name=data["display_name"],
        accounts=[AdAccount(**a) for a in data.get("accounts", [])],
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
    )
    return ParkedGrant(tokens, identity, datetime.fromisoformat(data["redeemed_at"]))


def park(
    session: Session,
    vault: Vault,
    ref: FlowRef,
    *,
    tokens: TokenSet,
    identity: Identity,
    now: datetime,
    ttl: timedelta,
) -> str | None:
    """completing -> parked, with a fresh ticket (returned); None if the flow moved meanwhile."""
    ticket = new_ticket()
    moved = session.execute(
        update(Flow)
        .where(Flow.id == ref.id, Flow.status == "completing")
        .values(
            status="parked",
            grant_ct=seal_grant(vault, ref.id, tokens, identity, now),
            ticket_hash=hash_ticket(ticket),
            ticket_expires_at=now + ttl,
            verifier_ct="",
        )
        .execution_options(synchronize_session=False)
    )
    return ticket if moved.rowcount == 1 else None  # type: ignore[attr-defined]


def claim_parked(
    session: Session,
    vault: Vault,
    flow: Flow,
    ticket: str | None,
    *,
    provider: Provider,
    now: datetime,
    ttl: timedelta,
) -> Connection:
    """The owner's device (user and state already checked) presents the ticket: one
    conditional UPDATE makes it single use, then the grant becomes the owner's connection."""
    if not ticket:
        raise InvalidRequest(NO_TICKET)
    if flow.ticket_hash is None or not ticket_matches(ticket, flow.ticket_hash):
        raise InvalidRequest(WRONG_TICKET)
    if flow.ticket_expires_at is None or flow.ticket_expires_at <= now or not flow.grant_ct:
        raise InvalidRequest(TICKET_EXPIRED.format(minutes=ttl_words(ttl)))
    moved = session.execute(
        update(Flow)
        .where(
            Flow.id == flow.id,
            Flow.status == "parked",
            Flow.ticket_hash == flow.ticket_hash,
            Flow.ticket_expires_at > now,
        )
        .values(status="completing", ticket_hash=None)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(USED)
    grant = open_grant(vault, flow.id, flow.grant_ct)
    ref = FlowRef(
        flow.id,
        flow.user_id,
        flow.provider,
        flow.redirect_uri,
        flow.provider_redirect_uri,
        flow.nonce,
    )
    return finish(
        session,
        vault,
        ref,
        provider=provider,
        identity=grant.identity,
        tokens=grant.tokens_at(now),
        now=now,
    )
