"""The backend's HTTP API as plain Python calls, one method per endpoint, typed answers.

How a call travels (token renewal, a moved local service, timeouts, error mapping) is
desktop/api/transport.py; ApiClient adds the endpoints. Sync; safe to call from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

from desktop.api.abort import Abort, cancellable
from desktop.api.answers import DisconnectOutcome, Provider
from desktop.api.errors import ApiError
from desktop.api.responses import decode
from desktop.api.transport import Transport
from desktop.models.connection import Connection

# A report may be prepared for minutes before its first byte (Meta's async report runs are
# polled for up to 300 s); the user can cancel it meanwhile, so wait longer than that.
REPORT_READ_TIMEOUT_S = 330.0


class ApiClient(Transport):
    """One backend. Every method raises ApiError; on 401 the token is renewed once and retried."""

    def health(self) -> dict[str, Any]:
        return _dict(self.request_json("GET", "/healthz", authenticated=False))

    def providers(self) -> list[Provider]:
        return [Provider.from_api(p) for p in _list(self.request_json("GET", "/v1/providers"))]

    def connections(self) -> list[Connection]:
        answer = _list(self.request_json("GET", "/v1/connections"))
        return [_connection(c) for c in answer]

    def connection(self, id: str, *, check: bool = False) -> Connection:
        params = {"check": "true"} if check else None
        path = f"/v1/connections/{_q(id)}"
        return _connection(_dict(self.request_json("GET", path, params=params)))

    def accounts(self, id: str) -> list[dict[str, Any]]:
        return _list(self.request_json("GET", f"/v1/connections/{_q(id)}/accounts"))

    def start_flow(self, provider: str, redirect_uri: str) -> dict[str, Any]:
        body = {"provider": provider, "redirect_uri": redirect_uri}
        return _dict(self.request_json("POST", "/v1/flows", json=body))

    def complete_flow(self, flow_id: str, params: Mapping[str, str]) -> Connection:
        path = f"/v1/flows/{_q(flow_id)}/complete"
        return _connection(_dict(self.request_json("POST", path, json=dict(params))))

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
        return _dict(decode(200, raw, {}))

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
        return DisconnectOutcome.from_api(_dict(answer))

    def devices(self) -> list[dict[str, Any]]:
        return _list(self.request_json("GET", "/v1/auth/devices"))

    def sign_out_device(self, device_id: str) -> None:
        self.request_json("DELETE", f"/v1/auth/devices/{_q(device_id)}")

    def sign_out_other_devices(self) -> int:
        """Signs out every device but this one; how many were signed out."""
        answer = _dict(self.request_json("DELETE", "/v1/auth/devices"))
        return int(answer.get("signed_out") or 0)


def _dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError("bad_response", "The backend sent an answer this app cannot read.")
    return body


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
