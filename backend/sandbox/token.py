"""Token endpoint (RFC 6749 §3.2, §4.1.3, §6) and revocation endpoint (RFC 7009)."""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from backend.sandbox import pkce
from backend.sandbox.config import ClientConfig
from backend.sandbox.core import NO_STORE, Sandbox, base_url, form_items, oauth_error, sandbox_of
from backend.sandbox.id_token import make_id_token
from backend.sandbox.store import digest

router = APIRouter()
_BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Demo Ads"'}


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def response(self) -> JSONResponse:
        headers = _BASIC_CHALLENGE if self.status == 401 else None
        return oauth_error(self.status, self.error, self.description, headers)


async def _form(request: Request) -> dict[str, str]:
    items = await form_items(request)
    params = dict(items)
    if len(params) != len(items):  # RFC 6749 §3.2: parameters MUST NOT be repeated
        raise OAuthError(400, "invalid_request", "A parameter appears more than once.")
    return params


def _authenticate(request: Request, sandbox: Sandbox, form: dict[str, str]) -> ClientConfig:
    """client_secret_basic or client_secret_post (RFC 6749 §2.3.1), never both (§2.3)."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        if "client_secret" in form:
            raise OAuthError(400, "invalid_request", "Use one way to authenticate the client.")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise OAuthError(401, "invalid_client", "Malformed Basic credentials.") from None
        # §2.3.1: both parts are form-urlencoded before they are joined.
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    client = sandbox.config.client(client_id)
    if client is None or not hmac.compare_digest(secret.encode(), client.client_secret.encode()):
        raise OAuthError(401, "invalid_client", "Unknown client or wrong client secret.")
    return client


@router.post("/token", response_model=None)
async def token(request: Request) -> Response:
    sandbox = sandbox_of(request)
    try:
        form = await _form(request)
        client = _authenticate(request, sandbox, form)
    except OAuthError as exc:
        return exc.response()
    with sandbox.store.lock:
        sandbox.store.count(client.client_id, "token_requests")
        grant = sandbox.store.grants.get(
            sandbox.store.refresh_index.get(digest(form.get("refresh_token", "")), "")
        )
    if not await sandbox.hold(client, "token", grant.user_id if grant else None, request):
        return Response(status_code=408)  # nobody is listening any more
    fault = await sandbox.faults(client, "token")
    if fault is not None:
        return fault
    grant_type = form.get("grant_type")
    try:
        with sandbox.store.lock:
            try:
                if grant_type == "authorization_code":
                    body = _redeem(sandbox, client, form, base_url(request))
                elif grant_type == "refresh_token":
                    body = _refresh(sandbox, client, form)
                elif not grant_type:
                    raise OAuthError(400, "invalid_request", "grant_type is missing.")
                else:
                    raise OAuthError(
                        400, "unsupported_grant_type", "Use authorization_code or refresh_token."
                    )
            finally:
                sandbox.store.save()  # failures change state too (replays revoke grants)
    except OAuthError as exc:
        return exc.response()
    return JSONResponse(body, headers=NO_STORE)


def _redeem(
    sandbox: Sandbox, client: ClientConfig, form: dict[str, str], issuer: str
) -> dict[str, object]:
    store, at = sandbox.store, sandbox.now()
    code = form.get("code")
    if not code:
        raise OAuthError(400, "invalid_request", "code is missing.")
    record = store.codes.get(digest(code))
    if record is None or record.client_id != client.client_id:
        raise OAuthError(400, "invalid_grant", "This authorization code is not valid.")
    if record.used:
        # RFC 6749 §4.1.2: a code used twice revokes what it already issued.
        grant = store.grants.get(record.grant_id or "")
        if grant is not None:
            store.revoke_grant(grant)
        raise OAuthError(400, "invalid_grant", "This authorization code was already used; "
                         "the tokens it gave were revoked.")  # fmt: skip
    if at >= record.expires_at:
        raise OAuthError(400, "invalid_grant", "This authorization code has expired.")
    if form.get("redirect_uri") != record.redirect_uri:  # §4.1.3
        raise OAuthError(
            400, "invalid_grant", "redirect_uri does not match the authorization request."
        )
    verifier = form.get("code_verifier")
    if not verifier:
        raise OAuthError(400, "invalid_request", "code_verifier is missing (PKCE).")
    if not pkce.verify(verifier, record.code_challenge):  # RFC 7636 §4.6
        raise OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge.")
    grant = sandbox.new_grant(client.client_id, record.user_id, record.scopes, at)
    record.used, record.grant_id = True, grant.id
    store.count(client.client_id, "codes_redeemed")
    body = sandbox.mint(grant, grant.scopes, at)
    user = sandbox.config.user(record.user_id)
    if "openid" in grant.scopes and user is not None:
        body["id_token"] = make_id_token(
            key=sandbox.signing_key,
            issuer=issuer,
            client=client,
            user=user,
            nonce=record.nonce,
            now=at,
        )
    return body


def _refresh(sandbox: Sandbox, client: ClientConfig, form: dict[str, str]) -> dict[str, object]:
    store, at = sandbox.store, sandbox.now()
    presented = form.get("refresh_token")
    if not presented:
        raise OAuthError(400, "invalid_request", "refresh_token is missing.")
    hashed = digest(presented)
    grant = store.grants.get(store.refresh_index.get(hashed, ""))
    failure: str | None = None
    if grant is None or grant.client_id != client.client_id:
        failure = "This refresh token is not valid."
    elif grant.revoked:
        failure = "This grant was revoked."
    elif hashed != grant.refresh:
        # RFC 9700 §4.14.2: a rotated-out token came back, so one copy is stolen. End the grant.
        store.revoke_grant(grant)
        store.count(client.client_id, "reused_refresh_tokens")
        failure = "This refresh token was already used; the grant is now revoked."
    elif sandbox.grant_expired(grant, at):
        failure = "This grant has expired; the person must connect again."
    if failure is not None or grant is None:
        store.count(client.client_id, "refresh_failures")
        raise OAuthError(400, "invalid_grant", failure or "This refresh token is not valid.")
    scopes = grant.scopes
    if "scope" in form:
        asked = form["scope"].split()
        if not asked or any(s not in grant.scopes for s in asked):  # §6: no widening
            store.count(client.client_id, "refresh_failures")
            raise OAuthError(400, "invalid_scope", "A refresh may only narrow the granted scope.")
        scopes = asked
    store.count(client.client_id, "refreshes")
    return sandbox.mint(grant, scopes, at)


@router.post("/revoke", response_model=None)
async def revoke(request: Request) -> Response:
    """RFC 7009 §2.2: 200 whether or not the token was valid."""
    sandbox = sandbox_of(request)
    try:
        form = await _form(request)
        client = _authenticate(request, sandbox, form)
        if not form.get("token"):
            raise OAuthError(400, "invalid_request", "token is missing.")
    except OAuthError as exc:
        return exc.response()
    fault = await sandbox.faults(client, "revoke")
    if fault is not None:
        return fault
    hashed = digest(form["token"])
    store = sandbox.store
    with store.lock:
        grant = store.grants.get(store.refresh_index.get(hashed, ""))
        access = store.access.get(hashed)
        owner = grant.client_id if grant else access.client_id if access else client.client_id
        if owner != client.client_id:
            # §2.1: a client may only revoke its own tokens.
            return oauth_error(400, "unauthorized_client", "This token belongs to another app.")
        if grant is not None:  # §2.1: revoking a refresh token ends the whole grant
            store.revoke_grant(grant)
        elif access is not None:
            access.revoked = True
        store.count(client.client_id, "revocations")
        store.save()
    return Response(status_code=200, headers=NO_STORE)
