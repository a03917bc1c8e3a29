"""The API client's error, importable without httpx (views need it before the first paint)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """A failed call in plain words; `code` is the API's code or network/bad_response/cancelled."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.body: dict[str, Any] = dict(body or {})

    def __str__(self) -> str:
        return self.detail

    def __repr__(self) -> str:
        return f"ApiError(code={self.code!r}, status={self.status!r}, detail={self.detail!r})"


def cancelled_error() -> ApiError:
    return ApiError("cancelled", "Cancelled.")
