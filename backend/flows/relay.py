"""Backend-relayed redirect (design: "Backend-relayed redirect", RFC 9700 §4.4).

The provider sends the browser to `{public_url}/v1/flows/callback`; the backend redeems the
code at once but attaches the grant to nobody: it parks the sealed grant on the flow
(parking.py) and sends the browser on (303) to the flow's loopback receiver with `state`,
`flow_id`, `result` and a fresh one-time `relay_ticket` (or `error`, `error_description`).
Whoever's browser came back, only the device that started the flow — its user, its state and
that ticket — can turn the grant into a connection; an unclaimed grant is revoked. The code
never reaches the device. A state that matches no pending relayed flow gets an error page,
never a redirect (an open redirector would hand an attacker's browser a trusted-looking hop).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from backend.db.transactions import run_locked
from backend.errors import PROBLEM, Problem
from backend.flows import outcomes
from backend.flows.completion import Claimed, obtain_grant, relay_ticket_ttl, revoke_quietly
from backend.flows.parking import park
from backend.flows.service import Failure, claim, fail, flow_by_state
from backend.secret import Secret
from backend.state import AppState

log = logging.getLogger(__name__)

# design rule "Loopback receiver": pages echo no code, are not cached and leak no referrer.
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:4em auto;line-height:1.5}}</style>
</head><body><h1>{title}</h1><p>{message}</p></body></html>
"""


_HTML_PAGE = {"text/html": {"schema": {"type": "string"}}}

# OpenAPI for GET /v1/flows/callback: a browser lands there, so it answers with a redirect or
# an HTML page; only a malformed query parameter (422) and a database that is down (503, as
# documented for every route) get problem+json.
CALLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    303: {
        "description": "Sent on to the desktop's loopback receiver with `state`, `flow_id`, "
        "`result` and a one-time `relay_ticket` (or `error`, `error_description`); never the "
        "code",
        "headers": {
            "Location": {
                "description": "The flow's loopback redirect URI with the outcome",
                "schema": {"type": "string"},
            }
        },
    },
    400: {
        "description": "HTML page: the response belongs to no connect attempt in progress, "
        "or the attempt expired",
        "content": _HTML_PAGE,
    },
    409: {
        "description": "HTML page: the connect attempt has already finished",
        "content": _HTML_PAGE,
    },
    422: {
        "description": "HTML page: the attempt's provider is no longer configured; "
        "problem+json: a query parameter is malformed or too long",
        "content": {**_HTML_PAGE, PROBLEM: {"schema": Problem.model_json_schema()}},
    },
}


@dataclass(frozen=True)
class CallbackParams:
    state: str | None
    code: str | None
    iss: str | None
    error: str | None


@dataclass(frozen=True)
class _Redirect:
    url_base: str
    state: str
    flow_id: str
    failure: Failure | None = None
    ticket: str | None = None


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def _to_device(target: _Redirect) -> RedirectResponse:
    params = {"state": target.state, "flow_id": target.flow_id}
    if target.failure is None:
        assert target.ticket is not None
        params["result"] = "success"
        params["relay_ticket"] = target.ticket
    else:
        params["result"] = "error"
        params["error"] = target.failure.provider_error or "connect_failed"
        params["error_description"] = target.failure.detail
    sep = "&" if "?" in target.url_base else "?"
    # 303: the browser follows with a GET whatever method brought it here.
    return RedirectResponse(
        target.url_base + sep + urlencode(params), status_code=303, headers=_PAGE_HEADERS
    )


def _failed(target: _Redirect, failure: Failure) -> RedirectResponse:
    return _to_device(_Redirect(target.url_base, target.state, target.flow_id, failure))


async def handle_callback(state: AppState, params: CallbackParams) -> Response:
    """GET /v1/flows/callback: redeem and park the grant, then send the browser home."""
    now = datetime.now(UTC)
    presented = params.state

    def _claim(session: Session) -> HTMLResponse | _Redirect | tuple[_Redirect, Claimed]:
        flow = flow_by_state(session, presented) if presented else None
        if flow is None or flow.provider_redirect_uri == flow.redirect_uri:
            return error_page(
                "Unknown sign-in",
                "This sign-in response does not belong to any connect attempt in progress. "
                "Go back to Connected Accounts and start connecting again.",
            )
        if flow.status != "pending":
            return error_page(
                "Already finished",
                "This connect attempt has already finished; you can close this tab.",
                status=409,
            )
        if flow.expires_at <= now:
            return error_page(
                "Sign-in expired",
                "This connect attempt expired (they last 10 minutes). Go back to Connected "
                "Accounts and start connecting again.",
            )
        assert presented is not None
        target = _Redirect(flow.redirect_uri, presented, flow.id)
        provider = state.provider(flow.provider)
        failure: Failure | None = None
        if params.error is not None:
            failure = outcomes.declined(provider, params.error)
        elif not outcomes.issuer_matches(provider, params.iss):
            failure = outcomes.wrong_issuer(provider, params.iss)
        elif not params.code:
            failure = outcomes.no_code()
        if failure is not None:
            fail(session, flow.id, failure)
            return _Redirect(target.url_base, target.state, target.flow_id, failure)
        ref, verifier = claim(session, state.vault, flow)
        return target, Claimed(ref, verifier)

    claimed = await run_locked(state, _claim)
    if isinstance(claimed, HTMLResponse):
        return claimed
    if isinstance(claimed, _Redirect):
        return _to_device(claimed)
    target, claim_ = claimed
    assert params.code is not None
    grant = await obtain_grant(state, claim_, Secret(params.code))
    if isinstance(grant, Failure):
        return _failed(target, grant)
    parked_at = datetime.now(UTC)

    def _park(session: Session) -> str | None:
        return park(
            session,
            state.vault,
            claim_.ref,
            tokens=grant.tokens,
            identity=grant.identity,
            now=parked_at,
            ttl=relay_ticket_ttl(state),
        )

    ticket = await run_locked(state, _park)
    if ticket is None:
        # The flow moved on meanwhile (it cannot, short of a crash and a manual repair): the
        # grant would belong to nobody for ever, so it is withdrawn at once.
        token = grant.tokens.refresh_token or grant.tokens.access_token
        await revoke_quietly(state.provider(claim_.ref.provider), token)
        return error_page(
            "Connecting did not finish",
            "This connect attempt ended while the sign-in was being checked; nothing was "
            "connected. Go back to Connected Accounts and start connecting again.",
            status=409,
        )
    log.info("connect flow %s: grant parked for its owner's device", claim_.ref.id)
    return _to_device(_Redirect(target.url_base, target.state, target.flow_id, ticket=ticket))
