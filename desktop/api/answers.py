"""Typed answers of the backend's API, parsed once where the JSON arrives (desktop/api/client.py):
views read attributes, never JSON keys. A connection is `desktop.models.connections.Connection`.

Each keeps the body the backend sent (`body`, left out of comparisons and reprs), for what must
pass it on unchanged: the command line's `--json` output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


def _body(data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(data)


@dataclass(frozen=True)
class Provider:
    """A provider this backend offers (`GET /v1/providers`)."""

    id: str
    display_name: str
    kind: str = ""
    scopes: tuple[str, ...] = ()
    redirect: str = ""
    body: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Provider:
        pid = str(data.get("id", ""))
        return cls(
            id=pid,
            display_name=str(data.get("display_name") or pid),
            kind=str(data.get("kind") or ""),
            scopes=tuple(str(s) for s in data.get("scopes") or []),
            redirect=str(data.get("redirect") or ""),
            body=_body(data),
        )


@dataclass(frozen=True)
class DisconnectOutcome:
    """What a disconnect did (`DELETE /v1/connections/{id}`)."""

    connection_id: str
    provider: str
    revoked: tuple[str, ...] = ()
    not_revoked: tuple[str, ...] = ()
    revocation_pending: bool = False
    message: str = ""
    body: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> DisconnectOutcome:
        return cls(
            connection_id=str(data.get("connection_id", "")),
            provider=str(data.get("provider", "")),
            revoked=tuple(str(t) for t in data.get("revoked") or []),
            not_revoked=tuple(str(t) for t in data.get("not_revoked") or []),
            revocation_pending=bool(data.get("revocation_pending")),
            message=str(data.get("message") or "").strip(),
            body=_body(data),
        )


@dataclass(frozen=True)
class Column:
    """A report column: its key, its label, and how its values read (`money`, `percent`, …)."""

    key: str
    label: str
    type: str

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Column:
        key = str(data.get("key", ""))
        return cls(key=key, label=str(data.get("label") or key), type=str(data.get("type") or ""))


@dataclass(frozen=True)
class ReportAccount:
    """The ad account a report covers."""

    id: str
    name: str
    currency: str = ""
    time_zone: str = ""


@dataclass(frozen=True)
class ReportHeader:
    """Everything of a report but its rows, which stay plain lists on the fast path
    (desktop/concurrency/sliced_json.py, desktop/models/report.py)."""

    account: ReportAccount
    since: date | None
    until: date | None
    level: str
    columns: tuple[Column, ...]
    totals: Mapping[str, int | str | None]

    @classmethod
    def from_api(cls, report: Mapping[str, Any]) -> ReportHeader:
        account = report.get("account") or {}
        aid = str(account.get("id") or "")
        return cls(
            account=ReportAccount(
                id=aid,
                name=str(account.get("name") or aid),
                currency=str(account.get("currency") or ""),
                time_zone=str(account.get("time_zone") or ""),
            ),
            since=_date(report.get("since")),
            until=_date(report.get("until")),
            level=str(report.get("level") or "account"),
            columns=tuple(Column.from_api(c) for c in report.get("columns") or []),
            totals=dict(report.get("totals") or {}),
        )


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
