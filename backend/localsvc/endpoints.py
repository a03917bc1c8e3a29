"""Routes only the local companion service has: same-user sign-in and the identity check.

`POST /v1/auth/local` trades the secret in the service's 0600 runtime folder for a device
session, the way `/v1/auth/login` trades a password: only a process of the same OS user can
read that folder, so reading it is the proof. There is no password for the local user.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr

from backend.auth import service
from backend.auth.endpoints import NO_STORE
from backend.auth.schemas import DeviceIn, LoginResponse, UserOut
from backend.db.transactions import run_locked
from backend.deps import StateDep
from backend.errors import NotFound, Unauthorized
from backend.localsvc.runtime import SERVICE_NAME, client_proof, identity_proof
from backend.vault import VaultKeyPlace

log = logging.getLogger(__name__)
router = APIRouter(tags=["local service"])

LOCAL_EMAIL = "local@this-device"


@dataclass
class LocalState:
    """What the running local service knows about itself (set by backend.localsvc.serve)."""

    secret: bytes = field(repr=False)
    user_id: str
    instance: str
    started_at: float
    idle_timeout: float
    vault: VaultKeyPlace | None
    pid: int = field(default_factory=os.getpid)


class LocalSignIn(DeviceIn):
    secret: Annotated[SecretStr, Field(min_length=1, max_length=256)]


def _local(request: Request) -> LocalState:
    local: LocalState | None = getattr(request.app.state, "local", None)
    if local is None:
        raise NotFound("This backend is not a local companion service.")
    return local


@router.post("/v1/auth/local", response_model=LoginResponse)
async def local_sign_in(body: LocalSignIn, request: Request, state: StateDep) -> JSONResponse:
    """The local user's sign-in: the secret from the runtime folder + this device's key."""
    local = _local(request)
    given = body.secret.get_secret_value().encode()
    # Compare digests in constant time: neither the length nor a prefix leaks.
    expected = hashlib.sha256(local.secret).digest()
    if not hmac.compare_digest(hashlib.sha256(given).digest(), expected):
        log.info("local sign-in refused: the secret does not match")
        raise Unauthorized("That is not this service's local secret. Run the command again.")
    device_id = await run_locked(
        state,
        lambda s: service.add_device(s, local.user_id, body.device_name, body.device_public_key),
    )
    log.info("local user signed in a new device %s", device_id)
    issued = service.issue_token(state, local.user_id, device_id)
    response = LoginResponse(
        access_token=issued.token,
        expires_in=issued.expires_in,
        device_id=device_id,
        user=UserOut(id=local.user_id, email=LOCAL_EMAIL),
    )
    return JSONResponse(response.model_dump(), headers=NO_STORE)


@router.get("/v1/local/hello")
async def hello(
    request: Request, nonce: Annotated[str, Query(min_length=16, max_length=128)]
) -> JSONResponse:
    """Liveness plus identity: an HMAC of the client's nonce under the local secret proves
    this is the user's own service before the client sends it anything. Anyone on this
    computer may ask; only a client that proves it holds the secret too (`X-Client-Proof`)
    hears the details (uptime, idle time, where the vault key is)."""
    local = _local(request)
    answer: dict[str, Any] = {
        "service": SERVICE_NAME,
        "pid": local.pid,
        "instance": local.instance,
        "proof": identity_proof(local.secret, nonce),
    }
    given = request.headers.get("x-client-proof", "")
    if given and hmac.compare_digest(client_proof(local.secret, nonce), given):
        vault = local.vault
        answer.update(
            started_at=local.started_at,
            uptime=max(0.0, time.time() - local.started_at),
            idle_timeout=local.idle_timeout,
            vault_key=None
            if vault is None
            else {"kind": vault.kind, "where": vault.where, "reason": vault.reason},
        )
    return JSONResponse(answer, headers={"Cache-Control": "no-store"})
