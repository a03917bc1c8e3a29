"""The whole connect flow: loopback receiver, browser consent, completion at the backend."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from desktop.api.errors import ApiError
from desktop.connect.loopback import (
    CallbackResult,
    LoopbackReceiver,
    ReceiverCancelled,
    describe_provider_error,
)
from desktop.models.connection import Connection

if TYPE_CHECKING:
    from desktop.api.client import ApiClient

log = logging.getLogger(__name__)


class ConnectRefused(Exception):
    """The provider (or the user at the provider) refused, e.g. `access_denied`."""

    def __init__(self, error: str, description: str | None = None) -> None:
        self.error = error
        self.description = description
        super().__init__(describe_provider_error(error, description))


def run_connect(
    client: ApiClient,
    provider: str,
    *,
    open_browser: Callable[[str], object],
    on_url: Callable[[str], None] | None = None,
    timeout: float = 300,
    cancel: threading.Event | None = None,
) -> Connection:
    """Connect `provider` and return the connection; blocking (run it off the UI thread)."""
    receiver = LoopbackReceiver(timeout=timeout)  # listening before anything else happens
    watcher: threading.Thread | None = None
    stop_watching = threading.Event()
    try:
        if cancel is not None:
            watcher = _watch_cancel(cancel, receiver, stop_watching)
        if cancel is not None and cancel.is_set():
            raise ReceiverCancelled()
        flow = client.start_flow(provider, receiver.redirect_uri)
        flow_id, state, url = (
            str(flow["flow_id"]),
            str(flow["state"]),
            str(flow["authorization_url"]),
        )
        receiver.expect(state)
        if on_url is not None:
            on_url(url)
        # RFC 8252 §7.3: the socket already listens, so the redirect cannot arrive too early.
        open_browser(url)
        result = receiver.wait()
        return _complete(client, flow_id, state, result)
    except KeyError:
        raise ApiError("bad_response", "The backend sent a flow this app cannot read.") from None
    finally:
        stop_watching.set()
        if watcher is not None:
            watcher.join(timeout=1)
        # Closing only after completion lets a duplicate redirect get the "already done" page.
        receiver.close()


def _complete(client: ApiClient, flow_id: str, state: str, result: CallbackResult) -> Connection:
    if result.flow_id and result.flow_id != flow_id:
        raise ApiError("invalid_request", "The browser returned an answer for another connection.")
    body: dict[str, str] = {"state": state}
    # Backend-relayed redirect: the backend redeemed the code and parked the grant; this
    # device claims it with the state and the one-time ticket the browser brought back.
    if result.relayed:
        if result.relay_ticket is not None:
            body["relay_ticket"] = result.relay_ticket.reveal()
    elif result.error:
        body["error"] = result.error
        if result.error_description:
            body["error_description"] = result.error_description
    elif result.code is not None:
        body["code"] = result.code.reveal()
        if result.iss:
            body["iss"] = result.iss  # RFC 9207: the backend compares it with the issuer
    try:
        connection = client.complete_flow(flow_id, body)
    except ApiError as exc:
        if result.error:
            raise ConnectRefused(result.error, result.error_description) from exc
        raise
    if result.error:
        # The backend closed the flow; the provider's refusal is still the outcome.
        raise ConnectRefused(result.error, result.error_description)
    return connection


def _watch_cancel(
    cancel: threading.Event, receiver: LoopbackReceiver, stop: threading.Event
) -> threading.Thread:
    """Turn the caller's cancel event into receiver.cancel() (the receiver's wait is blocking)."""

    def run() -> None:
        while not stop.is_set():
            if cancel.wait(0.05):
                receiver.cancel()
                return

    thread = threading.Thread(target=run, name="connect-cancel", daemon=True)
    thread.start()
    return thread
