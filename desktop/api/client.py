"""The backend's HTTP API as plain Python calls (sync httpx; safe to call from worker threads)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from desktop import __version__
from desktop.api.abort import Abort, cancellable
from desktop.api.answers import DisconnectOutcome, Provider
from desktop.api.errors import ApiError, cancelled_error
from desktop.concurrency import sliced_json
from desktop.models.connection import Connection

log = logging.getLogger(__name__)

# A whole response body may take this many times the per-read timeout.
BODY_DEADLINE_FACTOR = 3
# A report may be prepared for minutes before its first byte (Meta's async report runs are
# polled for up to 300 s); the user can cancel it meanwhile, so wait longer than that.
REPORT_READ_TIMEOUT_S = 330.0
# No server gets to make the app wait longer than an hour, whatever its Retry-After says.
MAX_RETRY_AFTER_S = 3600.0

T = TypeVar("T")
# Plain words when a problem body is missing (a proxy's HTML error page, a crash).
_STATUS_CODES = {
    401: ("unauthorized", "Sign in again to continue."),
    404: ("not_found", "That item no longer exists on the backend."),
    409: ("conflict", "The backend refused because something changed meanwhile."),
    422: ("invalid_request", "The backend did not accept the request."),
    429: ("rate_limited", "Too many requests; wait a moment and try again."),
    503: ("provider_unavailable", "The service is unavailable right now; try again later."),
}


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


class ApiClient:
    """One backend. Every method raises ApiError; on 401 the token is renewed once and retried."""

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

    # -- endpoints --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._dict(self.request_json("GET", "/healthz", authenticated=False))

    def providers(self) -> list[Provider]:
        return [Provider.from_api(p) for p in self._list(self.request_json("GET", "/v1/providers"))]

    def connections(self) -> list[Connection]:
        answer = self._list(self.request_json("GET", "/v1/connections"))
        return [_connection(c) for c in answer]

    def connection(self, id: str, *, check: bool = False) -> Connection:
        params = {"check": "true"} if check else None
        path = f"/v1/connections/{_q(id)}"
        return _connection(self._dict(self.request_json("GET", path, params=params)))

    def accounts(self, id: str) -> list[dict[str, Any]]:
        return self._list(self.request_json("GET", f"/v1/connections/{_q(id)}/accounts"))

    def start_flow(self, provider: str, redirect_uri: str) -> dict[str, Any]:
        body = {"provider": provider, "redirect_uri": redirect_uri}
        return self._dict(self.request_json("POST", "/v1/flows", json=body))

    def complete_flow(self, flow_id: str, params: Mapping[str, str]) -> Connection:
        path = f"/v1/flows/{_q(flow_id)}/complete"
        return _connection(self._dict(self.request_json("POST", path, json=dict(params))))

    def report(
        self,
        id: str,
        *,
        account: str | None,
        since: date | None,
        until: date | None,
        level: str = "account",
        metrics: Sequence[str] | None = None,
        cancel: threading.Event | None = None,
        accounts: Sequence[str] = (),
        all_accounts: bool = False,
        preset: str | None = None,
        breakdowns: Sequence[str] = (),
        time: str | None = None,
        compare: str | None = None,
    ) -> dict[str, Any]:
        """GET …/reports, decoded; several accounts and breakdowns travel as comma lists."""
        raw = self.report_bytes(
            id, account=account, since=since, until=until, level=level, metrics=metrics,
            cancel=cancel, accounts=accounts, all_accounts=all_accounts, preset=preset,
            breakdowns=breakdowns, time=time, compare=compare,
        )  # fmt: skip
        return self._dict(_decode(200, raw, httpx.Headers()))

    def report_bytes(
        self,
        id: str,
        *,
        account: str | None,
        since: date | None,
        until: date | None,
        level: str = "account",
        metrics: Sequence[str] | None = None,
        cancel: threading.Event | None = None,
        accounts: Sequence[str] = (),
        all_accounts: bool = False,
        preset: str | None = None,
        breakdowns: Sequence[str] = (),
        time: str | None = None,
        compare: str | None = None,
    ) -> bytes:
        """`report`'s JSON as the backend sent it: the window decodes a report straight into
        columns (desktop/concurrency/columnar.py) and caches these bytes as they are."""
        params: dict[str, str] = {"level": level}
        if since is not None and until is not None:
            params["since"], params["until"] = since.isoformat(), until.isoformat()
        chosen = [account] if account else list(accounts)
        if chosen:
            params["account"] = ",".join(chosen)
        optional = {
            "all_accounts": "true" if all_accounts else None,
            "preset": preset,
            "breakdowns": ",".join(breakdowns) or None,
            "time": time,
            "compare": compare,
            "metrics": ",".join(metrics) if metrics else None,
        }
        params.update({k: v for k, v in optional.items() if v})
        path = f"/v1/connections/{_q(id)}/reports"
        # Cancel hangs up the request itself: the backend then stops preparing the report.
        abort = Abort()
        body = cancellable(
            lambda: self._send(
                "GET",
                path,
                params=params,
                cancel=cancel,
                abort=abort,
                read_timeout=REPORT_READ_TIMEOUT_S,
                raw_body=True,
            ),  # fmt: skip
            cancel,
            abort.abort,
        )
        if not isinstance(body, bytes) or not body:
            raise ApiError("bad_response", "The backend sent an answer this app cannot read.")
        return body

    def disconnect(self, id: str, *, forget: bool = False) -> DisconnectOutcome:
        params = {"forget": "true"} if forget else None
        answer = self.request_json("DELETE", f"/v1/connections/{_q(id)}", params=params)
        return DisconnectOutcome.from_api(self._dict(answer))

    def devices(self) -> list[dict[str, Any]]:
        return self._list(self.request_json("GET", "/v1/auth/devices"))

    def sign_out_device(self, device_id: str) -> None:
        self.request_json("DELETE", f"/v1/auth/devices/{_q(device_id)}")

    def sign_out_other_devices(self) -> int:
        """Signs out every device but this one; how many were signed out."""
        answer = self._dict(self.request_json("DELETE", "/v1/auth/devices"))
        return int(answer.get("signed_out") or 0)

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
                    _decode(response.status_code, raw, response.headers)
                    raise ApiError("bad_response", "The backend sent no event stream.")
                yield response
                return
            finally:
                response.close()

    def close(self) -> None:
        self._http.close()
        for old in self._retired:
            old.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

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
        """The decoded JSON answer; with `raw_body`, a 2xx answer's bytes as they came."""
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
            return _decode(status, raw, response_headers)

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

    @staticmethod
    def _dict(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("bad_response", "The backend sent an answer this app cannot read.")
        return body

    @staticmethod
    def _list(body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list) or not all(isinstance(x, dict) for x in body):
            raise ApiError("bad_response", "The backend sent an answer this app cannot read.")
        return body


def _connection(data: dict[str, Any]) -> Connection:
    try:
        return Connection.from_api(data)
    except KeyError:
        raise ApiError("bad_response", "The backend sent a connection without an id.") from None


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _decode(status: int, raw: bytes, headers: httpx.Headers) -> Any:
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
    retry_after = _retry_after(headers.get("retry-after"))
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        detail = body.get("detail") or body.get("title") or "The backend refused the request."
        raise ApiError(body["code"], str(detail), status=status, retry_after=retry_after, body=body)
    code, detail = _STATUS_CODES.get(
        status, ("bad_response", f"The backend failed (HTTP {status}); try again later.")
    )
    raise ApiError(code, detail, status=status, retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
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
        from datetime import UTC, datetime

        delay = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        return min(max(0.0, delay), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return None
