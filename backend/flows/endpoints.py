"""Connect-flow endpoints: start, complete, and the backend relay (design: "Connect flow")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from backend.auth.deps import CurrentUser
from backend.connections.schemas import ConnectionOut, iso
from backend.db.transactions import run_locked
from backend.deps import StateDep
from backend.errors import ApiError, InvalidRequest, provider_api_error
from backend.flows.completion import complete_flow
from backend.flows.redirects import check_loopback_redirect
from backend.flows.relay import CALLBACK_RESPONSES, CallbackParams, error_page, handle_callback
from backend.flows.schemas import FlowComplete, FlowCreate, FlowCreated
from backend.flows.service import StartedFlow, create_flow
from backend.providers.base import ProviderError

router = APIRouter(prefix="/v1/flows", tags=["flows"])

# RFC 6749 Appendix A: `code` and `state` are VSCHAR, `error` NQSCHAR, and `iss` (RFC 9207) is
# a URL: printable ASCII all. Holding them to it also bounds the request line (3 bytes a
# character once percent-encoded), so every query the schema allows fits under the HTTP
# server's request-line limit (past ~64 KiB uvicorn answers a text/plain 400 of its own).
_VSCHAR = r"^[\x20-\x7E]*$"
_Param = Annotated[str | None, Query(max_length=4000, pattern=_VSCHAR)]


@router.post("", status_code=201, response_model=FlowCreated)
async def start_flow(body: FlowCreate, user: CurrentUser, state: StateDep) -> FlowCreated:
    """Start connecting `provider`; the browser goes to `authorization_url`."""
    provider = state.provider(body.provider)
    redirect_uri = check_loopback_redirect(body.redirect_uri)
    now = datetime.now(UTC)

    def _create(session: Session) -> StartedFlow:
        return create_flow(
            session,
            state.vault,
            user_id=user.user_id,
            provider=provider,
            redirect_uri=redirect_uri,
            now=now,
            max_pending=state.settings.max_pending_flows,
        )

    try:
        # Write-locked from the start: the per-user count and the insert must not interleave.
        started = await run_locked(state, _create)
    except ProviderError as exc:  # e.g. a relayed provider without a public URL
        raise provider_api_error(exc, otherwise=InvalidRequest) from None
    return FlowCreated(
        flow_id=started.flow_id,
        authorization_url=started.authorization_url,
        state=started.state,
        expires_at=iso(started.expires_at) or "",
    )


@router.get(
    "/callback",
    include_in_schema=True,
    response_class=Response,
    status_code=303,
    responses=CALLBACK_RESPONSES,
)
async def relay_callback(
    state: StateDep,
    code: _Param = None,
    state_: Annotated[str | None, Query(alias="state", max_length=500, pattern=_VSCHAR)] = None,
    iss: _Param = None,
    error: Annotated[str | None, Query(max_length=200, pattern=_VSCHAR)] = None,
) -> Response:
    """Where a provider with `redirect = "backend"` sends the browser (never the device)."""
    params = CallbackParams(state=state_, code=code, iss=iss, error=error)
    try:
        return await handle_callback(state, params)
    except ApiError as exc:
        return error_page("Connecting did not finish", exc.detail, status=exc.status)


@router.post("/{flow_id}/complete", response_model=ConnectionOut)
async def complete(
    flow_id: str, body: FlowComplete, user: CurrentUser, state: StateDep
) -> dict[str, Any]:
    """Hand over what the browser brought back; returns the connection."""
    return await complete_flow(state, user.user_id, flow_id, body)
