"""Report requests: validate in plain words, fetch with the vault's token, normalise.

This is a hot path (benchmarks compare it with a bare endpoint making the same upstream
call): one prebuilt Core SELECT for the owner check and the covered accounts, then the
vault's token read, the provider call and the normalisation — nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final, get_args

import anyio.to_thread
from sqlalchemy import bindparam

from backend.db.models import Connection
from backend.errors import InvalidRequest, NeedsReconnect, NotFound
from backend.providers.base import AdAccount, Level, Provider, RawRow, ReportQuery
from backend.reports.normalize import METRICS, normalize_report, selected_metrics
from backend.state import AppState
from backend.vault.crypto import VaultDecryptError, VaultKeyMissing
from backend.vault.refresh import TOKEN_COLUMNS, Token, cached_token
from backend.vault.tokens import call_with_token

_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LEVELS: Final = get_args(Level)
# Normalising more rows than this moves off the event loop.
_INLINE_ROWS: Final = 5000

# The connection, if it is the user's, with its token columns: one read gives the ownership
# check, the accounts and (usually) a usable access token (bench/backend_overhead.py: each worker
# thread hop costs more than the SQLite query it runs).
_OWNED: Final = TOKEN_COLUMNS.add_columns(Connection.accounts).where(
    Connection.id == bindparam("cid"), Connection.user_id == bindparam("uid")
)


@dataclass(frozen=True)
class ReportParams:
    """The query string, checked; `account` may still be None (the first covered one)."""

    account: str | None
    since: date
    until: date
    level: Level
    metrics: list[str]


def _parse_date(name: str, value: str | None) -> date:
    if not value:
        raise InvalidRequest(f"Give '{name}' as a date like 2026-11-01.")
    try:
        if not _DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"'{name}' must be a real date written YYYY-MM-DD, like 2026-11-01."
        ) from None


def parse_params(
    *,
    account: str | None,
    since: str | None,
    until: str | None,
    level: str | None,
    metrics: str | None,
) -> ReportParams:
    """Everything checkable without the database, each problem in words."""
    first = _parse_date("since", since)
    last = _parse_date("until", until)
    if first > last:
        raise InvalidRequest(f"The report starts ({first}) after it ends ({last}); swap the dates.")
    lvl = level or "account"
    if lvl not in _LEVELS:
        raise InvalidRequest(f"'level' must be one of {', '.join(_LEVELS)}.")
    wanted = [m.strip() for m in (metrics or "").split(",") if m.strip()] or list(METRICS)
    try:
        chosen = selected_metrics(wanted)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return ReportParams(account or None, first, last, lvl, chosen)  # type: ignore[arg-type]


def _owned_row(state: AppState, connection_id: str, user_id: str) -> tuple[Any, Token | None]:
    """(the user's connection or None, its stored access token if usable as it is)."""
    with state.engine.connect() as db:
        row = db.execute(_OWNED, {"cid": connection_id, "uid": user_id}).one_or_none()
    if row is None or row.status != "connected" or row.revocation_pending:
        return row, None
    try:
        return row, cached_token(state, row, rejected_version=None, now=datetime.now(UTC))
    except (VaultKeyMissing, VaultDecryptError):
        return row, None  # call_with_token reads it again and says what is wrong, in words


def _pick_account(accounts: list[dict[str, Any]], wanted: str | None) -> AdAccount:
    if not accounts:
        raise InvalidRequest("This connection covers no ad accounts, so it has no reports.")
    if wanted is None:
        # A manager account (Google MCC) has no metrics of its own: default to a client.
        chosen = next((a for a in accounts if not a.get("is_manager")), accounts[0])
    else:
        found = [a for a in accounts if a.get("id") == wanted]
        if not found:
            covered = ", ".join(a["id"] for a in accounts)
            raise InvalidRequest(
                f"The ad account '{wanted[:100]}' is not covered by this connection; "
                f"it covers {covered}."
            )
        chosen = found[0]
    return AdAccount.from_json(chosen)


def _check_range(provider: Provider, params: ReportParams) -> None:
    days = (params.until - params.since).days + 1
    if days > provider.max_report_days:
        raise InvalidRequest(
            f"{provider.display_name} reports cover at most {provider.max_report_days} days; "
            f"this range has {days}. Pick a shorter range."
        )


async def build_report(
    state: AppState, user_id: str, connection_id: str, params: ReportParams
) -> dict[str, Any]:
    """The normalised report (docs/ARCHITECTURE.md "Report"), fetched now (cached=false)."""
    if state.read_inline:
        row, token = _owned_row(state, connection_id, user_id)
    else:
        row, token = await anyio.to_thread.run_sync(_owned_row, state, connection_id, user_id)
    if row is None:
        raise NotFound("There is no such connection.")
    if row.status == "disconnected" or row.revocation_pending:
        raise NotFound("This connection was disconnected; connect the account again.")
    provider = state.provider(row.provider)
    if row.status == "needs_reconnect":
        raise NeedsReconnect(
            row.status_reason or f"{provider.display_name} needs you to reconnect this account."
        )
    _check_range(provider, params)
    account = _pick_account(list(row.accounts or []), params.account)
    query = ReportQuery(
        account_id=account.id,
        since=params.since,
        until=params.until,
        level=params.level,
        metrics=params.metrics,
        login_customer_id=account.login_customer_id,
        parent_id=account.parent_id,
    )

    async def _fetch(token: Any) -> list[RawRow]:
        return await provider.fetch_report(token, query)

    rows = await call_with_token(state, connection_id, _fetch, first=token)
    fetched_at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    if len(rows) > _INLINE_ROWS:
        body = await anyio.to_thread.run_sync(
            lambda: normalize_report(rows, query=query, account=account)
        )
    else:
        body = normalize_report(rows, query=query, account=account)
    return {
        "connection_id": connection_id,
        "provider": row.provider,
        **body,
        "fetched_at": fetched_at,
        "cached": False,
    }
