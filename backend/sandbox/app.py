"""`create_sandbox_app`: the Demo Ads authorization server and ads API as one FastAPI app.

Every URL it emits is derived from the request (scheme, host, mount path), so it works both
mounted at /sandbox inside the backend and served alone at /.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.sandbox import admin, api, authorize, token
from backend.sandbox.config import SandboxConfig
from backend.sandbox.core import NO_STORE, Sandbox, base_url, sandbox_of
from backend.sandbox.id_token import ALGORITHM


def create_sandbox_app(
    config: SandboxConfig | None = None, *, clock: Callable[[], float] = time.time
) -> FastAPI:
    """A fresh Demo Ads instance with its own state (loaded from `config.state_file` if set).

    With `config.admin_api` on, a new random admin token is put into `config.admin_token`.

    `clock` (seconds since the epoch) is for tests that move time instead of sleeping.
    """
    config = config or SandboxConfig()
    if config.admin_api:
        # Per start: whoever started this instance reads it from config or the token file.
        config.admin_token = admin.new_admin_token()
    app = FastAPI(
        title="Demo Ads (sandbox)",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sandbox = Sandbox(config, clock)
    app.include_router(authorize.router)
    app.include_router(token.router)
    app.include_router(api.router)
    if config.admin_api:
        app.include_router(admin.router)
    app.add_api_route(
        "/.well-known/oauth-authorization-server", metadata, methods=["GET"], response_model=None
    )
    app.add_api_route("/jwks", jwks, methods=["GET"], response_model=None)
    _install_handlers(app)
    return app


def jwks(request: Request) -> JSONResponse:
    """RFC 7517 §5: the public keys that sign this instance's id_tokens."""
    body = sandbox_of(request).signing_key.jwks()
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


def metadata(request: Request) -> JSONResponse:
    """RFC 8414 §2 authorization server metadata; `issuer` is this base URL (§3.3)."""
    issuer = base_url(request)
    config = sandbox_of(request).config
    scopes = sorted({s for c in config.clients for s in c.scopes})
    body = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": scopes,
        "authorization_response_iss_parameter_supported": True,  # RFC 9207 §3
        "jwks_uri": f"{issuer}/jwks",
        "id_token_signing_alg_values_supported": [ALGORITHM],  # with "openid" (id_token.py)
        "service_documentation": f"{issuer}/authorize",
    }
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=60"})


def _install_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, api.ApiError)
        return exc.response()

    async def injected(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, api.InjectedFault)
        return exc.response

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error = "not_found" if exc.status_code == 404 else "invalid_request"
        body = {"error": error, "error_description": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=NO_STORE)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        body = {"error": "invalid_request", "error_description": "The request is malformed."}
        return JSONResponse(body, status_code=400, headers=NO_STORE)

    app.add_exception_handler(api.ApiError, api_error)
    app.add_exception_handler(api.InjectedFault, injected)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
