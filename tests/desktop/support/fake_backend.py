"""A small stand-in for the backend's HTTP API, served by real uvicorn, for client-side tests.

It checks what the real backend checks on the desktop's side of the contract (the device
assertion's claims and signature, bearer tokens, flow state) so the tests pin the wire format.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def problem(status: int, code: str, detail: str, **headers: str) -> JSONResponse:
    body = {"type": "about:blank", "title": code, "status": status, "detail": detail, "code": code}
    return JSONResponse(body, status_code=status, media_type="application/problem+json",
                        headers=headers)  # fmt: skip


@dataclass
class FakeState:
    base_url: str = ""
    password: str = "correct horse"
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> device id
    seen_jtis: set[str] = field(default_factory=set)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    completions: list[dict[str, Any]] = field(default_factory=list)
    reject_next_token: bool = False
    slow_report: float = 0.0
    report_status: int = 200
    expires_in: int = 900
    release: threading.Event = field(default_factory=threading.Event)


def connection(cid: str = "c0ffee00-1111-2222-3333-444455556666") -> dict[str, Any]:
    return {
        "id": cid, "provider": "demo", "provider_display_name": "Demo Ads",
        "display_name": "Dana Demo", "status": "connected", "status_reason": None,
        "last_error": None, "last_error_at": None, "last_refreshed_at": None,
        "expires_at": None, "scopes": ["ads_read"], "revocation_pending": False,
        "accounts": [{"id": "act_1", "name": "Shop", "currency": "EUR", "time_zone": "UTC"}],
        "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
    }  # fmt: skip


def create_fake_backend(state: FakeState) -> FastAPI:
    app = FastAPI()

    def _issue(device_id: str) -> dict[str, Any]:
        token = "at." + secrets.token_urlsafe(16)
        state.tokens[token] = device_id
        return {"access_token": token, "token_type": "Bearer", "expires_in": state.expires_in,
                "device_id": device_id}  # fmt: skip

    def _device_of(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return None
        return state.tokens.get(auth[7:])

    @app.post("/v1/auth/login")
    async def login(request: Request) -> Response:
        body = await request.json()
        if body.get("password") != state.password:
            return problem(401, "unauthorized", "Wrong email or password.")
        jwk = body["device_public_key"]
        assert set(jwk) == {"kty", "crv", "x", "y"}
        device_id = "dev-" + secrets.token_hex(4)
        state.devices[device_id] = {"jwk": jwk, "name": body["device_name"], "revoked": False}
        return JSONResponse({**_issue(device_id), "user": {"id": "u1", "email": body["email"]}})

    @app.post("/v1/auth/token")
    async def token(request: Request) -> Response:
        body = await request.json()
        if body.get("grant_type") != JWT_BEARER:
            return problem(422, "invalid_request", "wrong grant type")
        assertion = body["assertion"]
        header = jwt.get_unverified_header(assertion)
        device = state.devices.get(header.get("kid", ""))
        if device is None or device["revoked"]:
            return problem(401, "unauthorized", "This device was signed out.")
        key = jwt.PyJWK(device["jwk"], algorithm="ES256").key
        claims = jwt.decode(
            assertion, key, algorithms=["ES256"], audience=f"{state.base_url}/v1/auth/token",
            options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
        )  # fmt: skip
        assert claims["iss"] == claims["sub"] == header["kid"]
        assert claims["exp"] - claims["iat"] <= 300
        assert claims["jti"] not in state.seen_jtis
        state.seen_jtis.add(claims["jti"])
        state.assertions.append(claims)
        return JSONResponse(_issue(header["kid"]))

    @app.delete("/v1/auth/devices/{device_id}")
    async def sign_out(device_id: str, request: Request) -> Response:
        if _device_of(request) is None:
            return problem(401, "unauthorized", "Sign in again.")
        state.devices[device_id]["revoked"] = True
        return Response(status_code=204)

    @app.get("/v1/connections")
    async def connections(request: Request) -> Response:
        if state.reject_next_token:
            state.reject_next_token = False
            return problem(401, "unauthorized", "expired")
        if _device_of(request) is None:
            return problem(401, "unauthorized", "Sign in again.")
        return JSONResponse([connection()])

    @app.get("/v1/providers")
    async def providers() -> Response:
        return Response(b"<html>proxy error</html>", media_type="text/html")

    @app.get("/v1/connections/{cid}")
    async def one(cid: str) -> Response:
        if cid == "gone":
            return problem(409, "needs_reconnect", "Demo Ads says this grant was revoked.")
        if cid == "busy":
            return problem(503, "provider_unavailable", "Demo Ads is down.", **{"Retry-After": "7"})
        return Response(b"oops", status_code=500)

    @app.get("/v1/connections/{cid}/reports")
    async def report(cid: str, request: Request) -> Response:
        deadline = time.monotonic() + state.slow_report
        while time.monotonic() < deadline and not state.release.is_set():
            await asyncio.sleep(0.02)

        async def body() -> Any:
            yield b'{"connection_id": "' + cid.encode() + b'", "rows": ['
            for i in range(3):
                yield (b"," if i else b"") + b'["2026-11-0%d", 1]' % (i + 1)
            yield b'], "query": "' + str(request.query_params).encode() + b'"}'

        return StreamingResponse(body(), media_type="application/json")

    @app.post("/v1/flows")
    async def start_flow(request: Request) -> Response:
        body = await request.json()
        flow_id = "flow-" + secrets.token_hex(4)
        flow_state = secrets.token_urlsafe(16)
        state.flows[flow_id] = {"state": flow_state, **body, "done": False}
        url = f"https://idp.example/authorize?state={flow_state}"
        return JSONResponse({"flow_id": flow_id, "authorization_url": url, "state": flow_state,
                             "expires_at": "2026-11-01T00:10:00Z"})  # fmt: skip

    @app.post("/v1/flows/{flow_id}/complete")
    async def complete(flow_id: str, request: Request) -> Response:
        body = await request.json()
        state.completions.append(body)
        flow = state.flows[flow_id]
        if flow["done"] or body.get("state") != flow["state"]:
            return problem(422, "invalid_request", "This flow is finished or unknown.")
        flow["done"] = True
        if body.get("error"):
            return problem(422, "invalid_request", "The provider refused.")
        return JSONResponse(connection())

    @app.get("/healthz")
    async def health() -> Response:
        return JSONResponse({"status": "ok", "time": time.time()})

    return app
