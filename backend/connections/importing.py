"""Hand-over of a refresh token obtained elsewhere (design: "Connect flow", last paragraph).

The token is proven by one refresh at the provider before anything is stored: a token the
provider refuses leaves no trace in the database.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import user_limits
from backend.connections.schemas import ImportRequest, connection_json
from backend.connections.service import upsert_connection
from backend.db.transactions import run_locked
from backend.errors import InvalidRequest, provider_api_error
from backend.events.record import record_change
from backend.providers.base import InvalidGrant, ProviderError
from backend.secret import Secret
from backend.state import AppState

log = logging.getLogger(__name__)


async def import_refresh_token(
    state: AppState, user_id: str, body: ImportRequest
) -> dict[str, Any]:
    provider = state.provider(body.provider)
    name = provider.display_name
    given = Secret(body.refresh_token)
    # Each import is a refresh and an identity call at the provider: rate limited per user.
    await user_limits.spend(state, user_id, user_limits.import_limit(state))
    try:
        tokens = await provider.refresh(given)
        identity = await provider.identify(tokens)
    except InvalidGrant:
        raise InvalidRequest(
            f"{name} did not accept this refresh token (it is revoked, expired, or was issued "
            "to another app); nothing was stored."
        ) from None
    except ProviderError as exc:
        raise provider_api_error(
            exc, then="Nothing was stored.", retry_after=5, otherwise=InvalidRequest
        ) from None
    if tokens.refresh_token is None:
        # RFC 6749 §6: no new refresh token in the response means the old one stays valid.
        tokens = dataclasses.replace(tokens, refresh_token=given)
    now = datetime.now(UTC)

    def _store(session: Session) -> dict[str, Any]:
        conn = upsert_connection(
            session,
            state.vault,
            user_id=user_id,
            provider=provider,
            identity=identity,
            tokens=tokens,
            now=now,
            label=body.label,
        )
        record_change(session, state, conn, "connected")
        return connection_json(state, conn)

    try:
        result = await run_locked(state, _store)
    except IntegrityError:  # a concurrent first connect of the same account made the row
        result = await run_locked(state, _store)
    log.info("imported a grant as connection %s", result["id"])
    return result
