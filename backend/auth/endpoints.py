"""/v1/auth: login, RFC 7523 token renewal, devices."""

from __future__ import annotations

import json
import logging
import os
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from backend.auth import jwt_bearer, service
from backend.auth.deps import CurrentUser, device_status_cache
from backend.auth.expiry import SIGNED_OUT_ELSEWHERE, DeviceLifetime, refusal
from backend.auth.schemas import (
    DeviceOut,
    LoginRequest,
    LoginResponse,
    SignedOutOthers,
    TokenResponse,
    UserOut,
)
from backend.auth.tokens import (
    TokenRejected,
)
from backend.db.models import utcnow
from backend.db.transactions import run_locked
from backend.deps import StateDep
from backend.errors import InvalidRequest, NotFound, Unauthorized

log = logging.getLogger(__name__)
router = APIRouter(tags=["auth"])


MAX_TOKEN_REQUEST_BYTES = 16 * 1024
# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _hashing_limiter(request: Request) -> anyio.CapacityLimiter:
    """At most one argon2 computation per core at a time, per app (and event loop).

    Each one takes 64 MiB; without a cap a burst of logins would take 40 threads' worth.
    """
    app_state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(app_state, "auth_hashing_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
        app_state.auth_hashing_limiter = limiter
    return limiter


@router.post("/v1/auth/login", response_model=LoginResponse)
async def login(body: LoginRequest, request: Request, state: StateDep) -> JSONResponse:
    """Email + password + this device's public key → an access JWT and the device id."""
    signed_in = await service.log_in(
        state,
        email=body.email,
        password=body.password.get_secret_value(),
        device_name=body.device_name,
        device_public_key=body.device_public_key,
        client=request.client.host if request.client else None,
        hashing=_hashing_limiter(request),
    )
    response = LoginResponse(
        access_token=signed_in.issued.token,
        expires_in=signed_in.issued.expires_in,
        device_id=signed_in.device_id,
        user=UserOut(id=signed_in.user.id, email=signed_in.user.email),
    )
    return JSONResponse(response.model_dump(), headers=NO_STORE)


async def _token_request_fields(request: Request) -> dict[str, str]:
    """The form (RFC 6749 §4.1.3 style) or JSON body as a flat dict of strings."""
    body = await request.body()
    if len(body) > MAX_TOKEN_REQUEST_BYTES:
        raise InvalidRequest("The token request is too large.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            data: Any = json.loads(body)
        except ValueError:
            raise InvalidRequest("The token request is not valid JSON.") from None
        if not isinstance(data, dict):
            raise InvalidRequest("The token request must be a JSON object.")
        return {k: v for k, v in data.items() if isinstance(v, str)}
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise InvalidRequest("The token request is not UTF-8 text.") from None
        names = [name for name, _ in pairs]
        # RFC 6749 §3.2: parameters must not be included more than once.
        if len(names) != len(set(names)):
            raise InvalidRequest("A token request parameter appears more than once.")
        return dict(pairs)
    raise InvalidRequest(
        "Send the token request as application/x-www-form-urlencoded or application/json."
    )


def _rejected(detail: str) -> Unauthorized:
    # `error` carries the RFC 6749 §5.2 code for OAuth client libraries.
    return Unauthorized(detail, error="invalid_grant")


_TOKEN_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["grant_type", "assertion"],
    "properties": {
        "grant_type": {"type": "string", "enum": [jwt_bearer.GRANT_TYPE]},
        "assertion": {"type": "string", "description": "ES256 JWT signed by the device key"},
    },
}


@router.post(
    "/v1/auth/token",
    response_model=TokenResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _TOKEN_REQUEST_SCHEMA},
                "application/json": {"schema": _TOKEN_REQUEST_SCHEMA},
            },
        }
    },
)
async def token(request: Request, state: StateDep) -> JSONResponse:
    """RFC 7523 §2.1 JWT-bearer grant: an assertion signed by the device key → access JWT."""
    fields = await _token_request_fields(request)
    if fields.get("grant_type") != jwt_bearer.GRANT_TYPE:
        raise InvalidRequest(f"grant_type must be {jwt_bearer.GRANT_TYPE}.")
    assertion = fields.get("assertion")
    if not assertion:
        raise InvalidRequest("The token request needs an 'assertion'.")
    try:
        device_id = jwt_bearer.device_id_of(assertion)
    except TokenRejected as exc:
        raise _rejected(str(exc)) from None
    device = await state.run_db(lambda s: service.get_device(s, device_id))
    if device is None:
        raise _rejected("The assertion names a device this backend does not know. Sign in again.")
    lifetime = DeviceLifetime.of(state.settings)
    why = refusal(device, lifetime, utcnow())
    if why is not None:
        raise _rejected(why)
    try:
        verified = jwt_bearer.verify_assertion(
            assertion,
            device_id=device.id,
            device_jwk=device.public_jwk,
            # RFC 7523 §3 item 3: the audience is this token endpoint, exactly.
            audience=f"{state.public_url}/v1/auth/token",
        )
    except TokenRejected as exc:
        log.info("assertion for device %s refused: %s", device.id, exc)
        raise _rejected(str(exc)) from None
    try:
        seen = await run_locked(state, lambda s: service.consume_assertion(s, verified, lifetime))
    except service.DeviceUnusable as exc:
        raise _rejected(str(exc)) from None
    issued = service.issue_token(state, seen.user_id, seen.id)
    response = TokenResponse(
        access_token=issued.token, expires_in=issued.expires_in, device_id=seen.id
    )
    return JSONResponse(response.model_dump(), headers=NO_STORE)


@router.get("/v1/auth/devices", response_model=list[DeviceOut])
async def list_devices(state: StateDep, principal: CurrentUser) -> list[DeviceOut]:
    """This user's signed-in devices; `current` marks the one asking."""
    lifetime = DeviceLifetime.of(state.settings)
    devices = await state.run_db(lambda s: service.list_devices(s, principal.user_id, lifetime))
    return [
        DeviceOut(
            id=d.id,
            name=d.name,
            created_at=d.created_at,
            last_seen_at=d.last_seen_at,
            current=d.id == principal.device_id,
        )
        for d in devices
    ]


@router.delete("/v1/auth/devices/{device_id}", status_code=204)
async def sign_out_device(
    device_id: str, request: Request, state: StateDep, principal: CurrentUser
) -> Response:
    """Sign a device out: its access tokens and assertions stop working."""
    found = await run_locked(
        state, lambda s: service.sign_out_device(s, principal.user_id, device_id)
    )
    if not found:
        # 404 rather than 403 for another user's device: do not confirm that it exists.
        raise NotFound("There is no such device among yours.")
    device_status_cache(request).signed_out(device_id, principal.user_id)
    log.info("user %s signed out device %s", principal.user_id, device_id)
    return Response(status_code=204)


@router.delete("/v1/auth/devices", response_model=SignedOutOthers)
async def sign_out_other_devices(
    request: Request, state: StateDep, principal: CurrentUser
) -> SignedOutOthers:
    """Sign out every device of this user except the one asking (e.g. after a lost laptop)."""
    ended = await run_locked(
        state,
        lambda s: service.sign_out_all_devices(
            s, principal.user_id, reason=SIGNED_OUT_ELSEWHERE, keep=principal.device_id
        ),
    )
    cache = device_status_cache(request)
    for device_id in ended:
        cache.signed_out(device_id, principal.user_id, SIGNED_OUT_ELSEWHERE)
    log.info("user %s signed out %d other device(s)", principal.user_id, len(ended))
    return SignedOutOthers(signed_out=len(ended))
