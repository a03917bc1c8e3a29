"""One error hierarchy, mapped to RFC 9457 problem+json in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.providers.base import (
    ProviderError,
    ProviderRequestError,
    ProviderUnavailable,
    RateLimited,
)
from backend.vault import ConnectionGone, ReconnectRequired, VaultError, VaultUnavailable

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"


class ApiError(Exception):
    """An error the API reports to its caller, in plain words, with a stable `code`."""

    status = 400
    code = "invalid_request"
    title = "Invalid request"

    def __init__(self, detail: str, *, retry_after: float | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        self.extra = extra


class Unauthorized(ApiError):
    status, code, title = 401, "unauthorized", "Sign-in needed"


class NotFound(ApiError):
    status, code, title = 404, "not_found", "Not found"


class NeedsReconnect(ApiError):
    status, code, title = 409, "needs_reconnect", "Reconnect needed"


class Conflict(ApiError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidRequest(ApiError):
    status, code, title = 422, "invalid_request", "Invalid request"


class RateLimitedError(ApiError):
    status, code, title = 429, "rate_limited", "Too many requests"


class ProviderUnavailableError(ApiError):
    status, code, title = 503, "provider_unavailable", "Provider unavailable"


class VaultKeyMissingError(ApiError):
    """A stored secret names a vault key this backend does not have (a configuration error)."""

    status, code, title = 500, "internal", "Vault key missing"


def provider_api_error(
    exc: ProviderError,
    *,
    then: str = "",
    retry_after: float | None = None,
    otherwise: type[ApiError] = ProviderUnavailableError,
) -> ApiError:
    """The API error for a provider failure: the one mapping every route uses.

    `then` adds a sentence (e.g. "Nothing was stored."), `retry_after` the default wait for
    an outage that named none (or zero), `otherwise` the error for a failure of no more
    precise kind."""
    words = f"{exc} {then}" if then else str(exc)
    if isinstance(exc, RateLimited):
        return RateLimitedError(words, retry_after=exc.retry_after)
    if isinstance(exc, ProviderUnavailable):
        wait = exc.retry_after
        if retry_after is not None and not wait:
            wait = retry_after  # the provider named no wait (or zero): the caller's default
        return ProviderUnavailableError(words, retry_after=wait)
    if isinstance(exc, ProviderRequestError):
        return InvalidRequest(words)
    return otherwise(words)


def vault_api_error(exc: VaultError) -> ApiError | None:
    """The API error for a vault failure; None for one that is an internal error."""
    if isinstance(exc, ConnectionGone):
        return NotFound(str(exc))
    if isinstance(exc, ReconnectRequired):
        return NeedsReconnect(str(exc))
    if isinstance(exc, VaultUnavailable):
        return VaultKeyMissingError(str(exc))
    return None


class Problem(BaseModel):
    """RFC 9457 problem details, with our stable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str


def problem_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the problems any route may answer."""
    described = {
        400: "Malformed request (e.g. a body that cannot be parsed as JSON)",
        401: "Sign-in needed",
        404: "Not found (also another user's resource)",
        408: "The request head or body stopped arriving (the connection is closed)",
        409: "Reconnect needed, or a conflict",
        413: "Request body over the size limit (64 KiB by default)",
        422: "Invalid request",
        429: "Too many requests (see Retry-After)",
        503: "Provider or storage unavailable (see Retry-After)",
    }
    return {
        status: {
            "description": text,
            "content": {PROBLEM: {"schema": Problem.model_json_schema()}},
        }
        for status, text in described.items()
    }


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    retry_after: float | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if extra:
        body.update(extra)
    headers = {"Cache-Control": "no-store"}
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _answer(exc: ApiError) -> JSONResponse:
    return problem(
        exc.status, exc.code, exc.title, exc.detail, retry_after=exc.retry_after, extra=exc.extra
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return _answer(exc)

    @app.exception_handler(ProviderError)
    async def _provider_error(_: Request, exc: ProviderError) -> JSONResponse:
        return _answer(provider_api_error(exc))

    @app.exception_handler(VaultError)
    async def _vault_error(_: Request, exc: VaultError) -> JSONResponse:
        error = vault_api_error(exc)
        if error is None:
            log.error("vault error: %s", type(exc).__name__)
            return _internal_problem()
        return _answer(error)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Name the fields and what is wrong, but never echo the submitted values (may be secrets).
        parts = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
        return problem(
            422, "invalid_request", "Invalid request", "; ".join(parts) or "Invalid request."
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {401: "unauthorized", 404: "not_found", 405: "invalid_request", 429: "rate_limited"}
        code = codes.get(
            exc.status_code, "invalid_request" if exc.status_code < 500 else "internal"
        )
        return problem(exc.status_code, code, str(exc.detail), str(exc.detail))

    # Unexpected errors are answered by a middleware, not an `Exception` handler: Starlette
    # re-raises after such a handler, and uvicorn then drops the keep-alive connection.
    app.add_middleware(_UnexpectedErrors)


def _storage_problem() -> JSONResponse:
    return problem(
        503,
        "storage_unavailable",
        "Storage unavailable",
        "The backend's database is unavailable or out of disk space; nothing was changed. "
        "Try again in a minute.",
        retry_after=5,
    )


def _internal_problem() -> JSONResponse:
    return problem(
        500,
        "internal",
        "Internal error",
        "Something went wrong on the server. Try again; if it persists, check the backend log.",
    )


class _UnexpectedErrors:
    """Turn an error nothing else handled into a problem response (never a dropped connection).

    A database that is down, restarting or out of disk (DBAPIError) is a 503 the caller can
    retry; anything else is a 500. Only the error's type is logged: messages may hold values.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client went away, or backend/limits.py refused its body: nobody to answer.
            return
        except Exception as exc:
            if started:
                raise
            if isinstance(exc, DBAPIError):
                log.error("database error: %s", type(exc.orig or exc).__name__)
                response = _storage_problem()
            else:
                log.error("unexpected error: %s", type(exc).__name__)
                response = _internal_problem()
            await response(scope, receive, send)
