"""Plain words for any failure a view may show (no stack traces, no secrets)."""

from __future__ import annotations

import sys

from desktop.api.errors import ApiError

_BY_CODE = {
    "network": "Cannot reach the companion service. Check that it is running, then try again.",
    "unauthorized": "Your sign-in has expired. Sign in again to continue.",
    "cancelled": "Cancelled.",
}


def describe_error(error: BaseException) -> str:
    """What went wrong and what to do, in words."""
    # The connect flow's errors come from desktop.connect.flow and desktop.connect.loopback, which
    # load with the first connect (socket, html, ipaddress: ~20 ms the first paint does not need).
    # Until they are loaded no such error can exist, so they are looked up, not imported.
    connect = sys.modules.get("desktop.connect.flow")
    loopback = sys.modules.get("desktop.connect.loopback")
    if connect is not None and isinstance(error, connect.ConnectRefused):
        if error.error == "access_denied":
            return (
                "You declined access at the provider, so nothing was connected. "
                "Choose Try again and allow access to connect."
            )
        return str(error)
    if loopback is not None and isinstance(
        error, loopback.ReceiverTimeout | loopback.ReceiverCancelled
    ):
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
