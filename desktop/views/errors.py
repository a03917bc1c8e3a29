"""Plain words for any failure a view may show (no stack traces, no secrets)."""

from __future__ import annotations

from desktop.api.client import ApiError
from desktop.connect import ConnectRefused
from desktop.loopback import ReceiverCancelled, ReceiverTimeout

_BY_CODE = {
    "network": "Cannot reach the companion service. Check that it is running, then try again.",
    "unauthorized": "Your sign-in has expired. Sign in again to continue.",
    "cancelled": "Cancelled.",
}


def describe_error(error: BaseException) -> str:
    """What went wrong and what to do, in words."""
    if isinstance(error, ConnectRefused):
        if error.error == "access_denied":
            return (
                "You declined access at the provider, so nothing was connected. "
                "Choose Try again and allow access to connect."
            )
        return str(error)
    if isinstance(error, ReceiverTimeout | ReceiverCancelled):
        return str(error)
    if isinstance(error, ApiError):
        text = str(error) or _BY_CODE.get(error.code, "")
        if error.code == "network" and not text:
            text = _BY_CODE["network"]
        if error.code == "provider_unavailable" and error.retry_after:
            text += f" Try again in about {max(1, round(error.retry_after))} seconds."
        return text or "The companion service refused the request."
    if isinstance(error, OSError):
        return f"The computer refused the operation: {error.strerror or error}."
    return "Something unexpected went wrong. Details are in the log file."
