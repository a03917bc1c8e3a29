"""An HTTP answer from the backend as a value or an ApiError: problem+json read, plain words else.

Pure functions of status, body and headers; desktop/api/transport.py calls them once the whole
body has arrived (or a stream's opening answer was not 200).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from desktop.api.errors import ApiError
from desktop.concurrency import sliced_json

# No server gets to make the app wait longer than an hour, whatever its Retry-After says.
MAX_RETRY_AFTER_S = 3600.0

# Plain words when a problem body is missing (a proxy's HTML error page, a crash).
_STATUS_CODES = {
    401: ("unauthorized", "Sign in again to continue."),
    404: ("not_found", "That item no longer exists on the backend."),
    409: ("conflict", "The backend refused because something changed meanwhile."),
    422: ("invalid_request", "The backend did not accept the request."),
    429: ("rate_limited", "Too many requests; wait a moment and try again."),
    503: ("provider_unavailable", "The service is unavailable right now; try again later."),
}


def decode(status: int, raw: bytes, headers: Mapping[str, str]) -> Any:
    """The decoded JSON body of a 2xx answer (None when empty or 204); else raises ApiError."""
    if status == 204 or (200 <= status < 300 and not raw):
        return None
    try:
        # Sliced: a 100k-row report decoded in one C call would freeze the UI thread too.
        body: Any = sliced_json.loads(raw) if raw else None
    except (ValueError, RecursionError):  # garbage, or nesting deep enough to blow the stack
        body = None
    if 200 <= status < 300:
        if body is None:
            raise ApiError("bad_response", "The backend sent an answer this app cannot read.")
        return body
    retry_after = parse_retry_after(headers.get("retry-after"))
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        detail = body.get("detail") or body.get("title") or "The backend refused the request."
        raise ApiError(body["code"], str(detail), status=status, retry_after=retry_after, body=body)
    code, detail = _STATUS_CODES.get(
        status, ("bad_response", f"The backend failed (HTTP {status}); try again later.")
    )
    raise ApiError(code, detail, status=status, retry_after=retry_after)


def parse_retry_after(value: str | None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf", "nan" or "1e400" is not a delay anyone should wait
        return min(max(0.0, seconds), MAX_RETRY_AFTER_S) if math.isfinite(seconds) else None
    try:
        delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        return min(max(0.0, delay), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return None
