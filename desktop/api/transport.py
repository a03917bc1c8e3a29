"""One backend over HTTP: how a call travels, is retried once, and fails in plain words.

Sync httpx, safe to call from worker threads. A 401 renews the bearer token once; a refused
connection to the local service finds or starts it again once (`rebase`); a whole body has a
deadline; the answer is decoded by desktop/api/responses.py. The endpoints themselves are
desktop/api/client.py's ApiClient, built on this Transport.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol, Self

import httpx

from desktop import __version__
from desktop.api.abort import Abort
from desktop.api.errors import ApiError, cancelled_error
from desktop.api.responses import decode

log = logging.getLogger(__name__)

# A whole response body may take this many times the per-read timeout.
BODY_DEADLINE_FACTOR = 3


class Unreachable(ApiError):
    """Nothing listens at the backend's address (connection refused)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(
            "network",
            f"Cannot reach the backend at {base_url}. "
            "Check that it is running and that you are online.",
        )


class TokenSource(Protocol):
    """Gives a bearer token for the backend and drops it when the backend rejects it."""

    def access_token(self) -> str: ...

    def invalidate(self) -> None: ...


class Transport:
    """One backend's HTTP plumbing. Every call raises ApiError; on 401 the token is renewed once."""

    def __init__(
        self,
        base_url: str,
        auth: TokenSource | None = None,
        *,
        timeout: float = 20.0,
        rebase: Callable[[], str] | None = None,
        loopback: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self._timeout = timeout
        # The local service moves to a new port when it restarts (after an idle stop):
        # `rebase` finds or starts it again and says where it is now.
        self._rebase = rebase
        self._loopback = loopback  # the local service: stdlib transport (desktop/api/loopback.py)
        self._retired: list[httpx.Client] = []
        self._http = self._new_http(self.base_url)

    def _new_http(self, base_url: str) -> httpx.Client:
        transport = None
        if self._loopback:
            from desktop.api.loopback import LoopbackTransport

            transport = LoopbackTransport(self._timeout)
        return httpx.Client(
            base_url=base_url,
            transport=transport,
            trust_env=not self._loopback,
            timeout=self._timeout,
            follow_redirects=False,
            headers={
                "Accept": "application/json",
                "User-Agent": f"connected-accounts-desktop/{__version__}",
            },
        )

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        authenticated: bool = True,
    ) -> Any:
        """One call; the decoded JSON body (None for 204)."""
        return self._send(method, path, params=params, json_body=json, authenticated=authenticated)

    @contextmanager
    def open_stream(
        self, path: str, *, headers: Mapping[str, str] | None = None, read_timeout: float
    ) -> Iterator[httpx.Response]:
        """A long-lived signed-in GET (the event stream), open while the block runs.

        Raises ApiError unless the backend answers 200. As for every call: on 401 the access
        token is renewed once through the session (RFC 7523 assertion), and a local service
        that moved (refused connection) is found or started again once."""
        timeout = httpx.Timeout(self._timeout, read=read_timeout)
        renewed = rebased = False
        while True:
            sent = dict(headers or {})
            if self.auth is not None:
                sent["Authorization"] = f"Bearer {self.auth.access_token()}"
            try:
                request = self._http.build_request("GET", path, headers=sent, timeout=timeout)
                response = self._http.send(request, stream=True)
            except httpx.ConnectError:
                if self._rebase is None or rebased:
                    raise Unreachable(self.base_url) from None
                rebased = True
                self._move_to(self._rebase())
                continue
            except httpx.HTTPError as exc:
                log.info("cannot reach %s: %s", self.base_url, type(exc).__name__)
                raise ApiError("network", f"Cannot reach the backend at {self.base_url}.") from None
            try:
                if response.status_code == 401 and not renewed and self.auth is not None:
                    renewed = True
                    self.auth.invalidate()
                    continue
                if response.status_code != 200:
                    try:
                        raw = response.read()
                    except httpx.HTTPError:
                        raw = b""
                    decode(response.status_code, raw, response.headers)
                    raise ApiError("bad_response", "The backend sent no event stream.")
                yield response
                return
            finally:
                response.close()

    def close(self) -> None:
        self._http.close()
        for old in self._retired:
            old.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        authenticated: bool = True,
        cancel: threading.Event | None = None,
        abort: Abort | None = None,
        read_timeout: float | None = None,
        raw_body: bool = False,
    ) -> Any:
        """request_json, plus what only a report needs: `cancel` checked between body chunks,
        `abort` to hang up this very request, a longer wait for the first byte, and with
        `raw_body` a 2xx answer's bytes as they came instead of the decoded JSON."""
        use_auth = authenticated and self.auth is not None
        renewed = rebased = False
        while True:
            headers = {}
            if use_auth and self.auth is not None:
                headers["Authorization"] = f"Bearer {self.auth.access_token()}"
            try:
                status, raw, response_headers = self._exchange(
                    method, path, params, json_body, headers, cancel, abort, read_timeout
                )
            except Unreachable:
                # Connection refused: nothing was sent, so even a POST may go again.
                if self._rebase is None or rebased:
                    raise
                rebased = True
                self._move_to(self._rebase())
                continue
            if status == 401 and use_auth and not renewed and self.auth is not None:
                # The access JWT expired or was revoked: renew once (RFC 7523 assertion).
                renewed = True
                self.auth.invalidate()
                continue
            if raw_body and 200 <= status < 300:
                return raw
            return decode(status, raw, response_headers)

    def _move_to(self, base_url: str) -> None:
        base_url = base_url.rstrip("/")
        if base_url == self.base_url:
            return
        log.info("the backend moved to %s", base_url)
        # Another thread may be mid-request on the old client: close it only at close().
        self._retired.append(self._http)
        self.base_url = base_url
        self._http = self._new_http(base_url)

    def _exchange(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: dict[str, str],
        cancel: threading.Event | None,
        abort: Abort | None = None,
        read_timeout: float | None = None,
    ) -> tuple[int, bytes, httpx.Headers]:
        http, own = self._http, False
        if abort is not None and not self._loopback:
            # A connection of its own: the abort hangs up exactly this request, and a pooled
            # keep-alive connection would never announce its socket (desktop/api/abort.py).
            http, own = self._new_http(self.base_url), True
        try:
            # A longer wait for the first byte only; the loopback transport honours it too.
            timeout = (
                httpx.Timeout(self._timeout, read=read_timeout)
                if read_timeout is not None
                else httpx.USE_CLIENT_DEFAULT
            )
            request = http.build_request(
                method, path, params=params, json=json_body, headers=headers, timeout=timeout,
                extensions=abort.extensions() if abort is not None else None,
            )  # fmt: skip
            response = http.send(request, stream=True)
            # A body trickled byte by byte never trips the per-read timeout: bound the whole.
            deadline = time.monotonic() + BODY_DEADLINE_FACTOR * self._timeout
            try:
                chunks: list[bytes] = []
                for chunk in response.iter_bytes():
                    if cancel is not None and cancel.is_set():
                        raise cancelled_error()
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("body deadline")
                    chunks.append(chunk)
            finally:
                response.close()
        except httpx.TimeoutException:
            raise ApiError(
                "network", f"The backend at {self.base_url} did not answer in time."
            ) from None
        except httpx.ConnectError:
            log.info("cannot reach %s: connection refused", self.base_url)
            raise Unreachable(self.base_url) from None
        except httpx.HTTPError as exc:
            log.info("cannot reach %s: %s", self.base_url, type(exc).__name__)
            raise ApiError(
                "network",
                f"Cannot reach the backend at {self.base_url}. "
                "Check that it is running and that you are online.",
            ) from None
        finally:
            if own:
                http.close()
        return response.status_code, b"".join(chunks), response.headers
