"""The authorization endpoint (RFC 6749 §3.1, §4.1.1-4.1.2): consent page and decision."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backend.sandbox.core import Sandbox, base_url, form_items, sandbox_of
from backend.sandbox.loopback import redirect_allowed
from backend.sandbox.pages import consent_page, error_page
from backend.sandbox.pkce import valid_challenge
from backend.sandbox.store import Code, Pending, digest, new_token

router = APIRouter()
BROWSER_COOKIE = "demo_ads_browser"


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    """303 to the client's redirect URI, keeping any query it registered (RFC 6749 §3.1.2)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


def _error_redirect(
    request: Request, uri: str, state: str | None, error: str, description: str
) -> RedirectResponse:
    # RFC 6749 §4.1.2.1 error response, with `iss` (RFC 9207 §2) against mix-up.
    params = {"error": error, "error_description": description, "state": state}
    return _redirect(uri, {**params, "iss": base_url(request)})


def _single(request: Request) -> dict[str, str] | None:
    """Query parameters, or None when one is repeated (RFC 6749 §3.1: MUST NOT repeat)."""
    items = request.query_params.multi_items()
    params = dict(items)
    return params if len(params) == len(items) else None


@router.get("/authorize", response_model=None)
async def authorize(request: Request) -> Response:
    sandbox = sandbox_of(request)
    params = _single(request)
    if params is None:
        return error_page("Something is wrong with this link", "A parameter appears twice.")
    client = sandbox.config.client(params.get("client_id", ""))
    if client is None:
        # RFC 6749 §4.1.2.1: never redirect for an unknown client or redirect URI.
        return error_page(
            "This app is not registered with Demo Ads",
            "The link names an app (client_id) Demo Ads does not know.",
        )
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not redirect_allowed(client, redirect_uri):
        return error_page(
            "This app asked to send you somewhere unexpected",
            "The link's return address (redirect_uri) is not registered for this app.",
        )
    state = params.get("state")
    response_type = params.get("response_type")
    if not response_type:
        return _error_redirect(request, redirect_uri, state, "invalid_request",
                               "response_type is missing")  # fmt: skip
    if response_type != "code":
        return _error_redirect(request, redirect_uri, state, "unsupported_response_type",
                               "only response_type=code is supported")  # fmt: skip
    challenge = params.get("code_challenge", "")
    if not challenge:
        # RFC 7636 §4.4.1: PKCE is required here.
        return _error_redirect(request, redirect_uri, state, "invalid_request",
                               "code_challenge is required (PKCE)")  # fmt: skip
    # RFC 7636 §4.3: an absent method means "plain", which this server refuses.
    if params.get("code_challenge_method") != "S256" or not valid_challenge(challenge):
        return _error_redirect(request, redirect_uri, state, "invalid_request",
                               "code_challenge_method must be S256")  # fmt: skip
    requested = params.get("scope", "").split()
    scopes = list(dict.fromkeys(requested)) or list(client.default_scopes)
    unknown = [s for s in scopes if s not in client.scopes]
    if unknown:
        return _error_redirect(request, redirect_uri, state, "invalid_scope",
                               f"unknown scope: {' '.join(unknown)}")  # fmt: skip

    browser = request.cookies.get(BROWSER_COOKIE) or secrets.token_urlsafe(24)
    request_id = secrets.token_urlsafe(24)
    hint = params.get("login_hint")
    with sandbox.store.lock:
        sandbox.store.prune(sandbox.now())
        sandbox.store.pending[request_id] = Pending(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=state,
            code_challenge=challenge,
            nonce=params.get("nonce"),
            login_hint=hint,
            browser=browser,
            expires_at=sandbox.now() + sandbox.config.consent_lifetime,
        )
    users = sandbox.config.users
    selected = next((u.id for u in users if hint in (u.id, u.email)), users[0].id if users else "")
    page = consent_page(
        action=f"{base_url(request)}/authorize",
        request_id=request_id,
        client_name=client.name,
        users=users,
        selected=selected,
        scopes=scopes,
        redirect_uri=redirect_uri,
    )
    _set_browser_cookie(request, page, browser)
    return page


def _set_browser_cookie(request: Request, page: HTMLResponse, browser: str) -> None:
    path = request.scope.get("root_path", "") + "/authorize"
    page.set_cookie(
        BROWSER_COOKIE,
        browser,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


@router.post("/authorize", response_model=None)
async def decide(request: Request) -> Response:
    sandbox = sandbox_of(request)
    form = dict(await form_items(request))
    request_id = str(form.get("request_id", ""))
    decision = str(form.get("decision", ""))
    user_id = str(form.get("user", ""))
    with sandbox.store.lock:
        pending = sandbox.store.pending.pop(request_id, None)
    cookie = request.cookies.get(BROWSER_COOKIE, "")
    if (
        pending is None
        or pending.expires_at < sandbox.now()
        or not hmac.compare_digest(cookie.encode(), pending.browser.encode())
    ):
        # Forged, replayed or stale form: the request id is single use and bound to the
        # browser that opened the page (cookie), so another site cannot post a decision.
        return error_page(
            "This sign-in page has expired",
            "The form was already used, is too old, or came from another browser tab.",
        )
    if decision != "allow":
        return _error_redirect(request, pending.redirect_uri, pending.state, "access_denied",
                               "The person declined to connect.")  # fmt: skip
    if sandbox.config.user(user_id) is None:
        return error_page("Choose who is signing in", "Pick one of the listed people.")
    return _issue_code(request, sandbox, pending, user_id)


def _issue_code(request: Request, sandbox: Sandbox, pending: Pending, user_id: str) -> Response:
    code = new_token("demo_ac_")
    with sandbox.store.lock:
        sandbox.store.codes[digest(code)] = Code(
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            user_id=user_id,
            scopes=pending.scopes,
            code_challenge=pending.code_challenge,
            nonce=pending.nonce,
            expires_at=sandbox.now() + sandbox.config.code_lifetime,
        )
        sandbox.store.count(pending.client_id, "codes_issued")
        sandbox.store.save()
    params = {"code": code, "state": pending.state, "iss": base_url(request)}
    return _redirect(pending.redirect_uri, params)
