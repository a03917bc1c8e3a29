"""Report requests: validate in plain words, fetch with the vault's token, normalise.

This is a hot path (benchmarks compare it with a bare endpoint making the same upstream
call): one prebuilt Core SELECT for the owner check and the covered accounts, then the
vault's token read, the provider call and the normalisation — nothing else.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final, get_args

import anyio.to_thread
from sqlalchemy import bindparam

from backend import user_limits
from backend.db.engine import read_one
from backend.db.models import Connection
from backend.errors import InvalidRequest, NeedsReconnect, NotFound
from backend.events.record import record_progress
from backend.providers.base import (
    AdAccount,
    Level,
    Provider,
    RawReport,
    RawRow,
    ReportQuery,
)
from backend.reports import progress
from backend.reports.normalize import minor_units, normalize_report
from backend.reports.params import ReportParams
from backend.reports.ranges import (
    DEFAULT_PRESET,
    compare_range,
    preset_range,
    today_in,
)
from backend.reports.shape import (
    Part,
    change,
    collapse_days,
    columns,
    exact_conversions,
    mixed_totals,
    shape_rows,
    totals_of,
)
from backend.state import AppState
from backend.vault import TOKEN_COLUMNS, Token

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


def _owned_row(state: AppState, connection_id: str, user_id: str) -> tuple[Any, Token | None]:
    """(the user's connection or None, its stored access token if usable as it is)."""
    row = read_one(state.engine, _OWNED, {"cid": connection_id, "uid": user_id})
    if row is None or row.status != "connected" or row.revocation_pending:
        return row, None
    return row, state.vault.peek(row, now=datetime.now(UTC))


def _pick_accounts(accounts: list[dict[str, Any]], params: ReportParams) -> list[AdAccount]:
    if not accounts:
        raise InvalidRequest("This connection covers no ad accounts, so it has no reports.")
    if params.all_accounts:
        clients = [a for a in accounts if not a.get("is_manager")] or accounts
        return [AdAccount.from_json(a) for a in clients]
    if not params.accounts:
        # A manager account (Google MCC) has no metrics of its own: default to a client.
        return [
            AdAccount.from_json(next((a for a in accounts if not a.get("is_manager")), accounts[0]))
        ]
    out = []
    for wanted in params.accounts:
        found = [a for a in accounts if a.get("id") == wanted]
        if not found:
            covered = ", ".join(a["id"] for a in accounts)
            raise InvalidRequest(
                f"The ad account '{wanted[:100]}' is not covered by this connection; "
                f"it covers {covered}."
            )
        out.append(AdAccount.from_json(found[0]))
    return out


def _check_range(provider: Provider, since: date, until: date) -> None:
    days = (until - since).days + 1
    if days > provider.max_report_days:
        raise InvalidRequest(
            f"{provider.display_name} reports cover at most {provider.max_report_days} days; "
            f"this range has {days}. Pick a shorter range."
        )


def _check_support(provider: Provider, params: ReportParams) -> None:
    if params.level not in provider.report_levels:
        raise InvalidRequest(
            f"{provider.display_name} reports offer the levels "
            f"{', '.join(provider.report_levels)}, not {params.level}."
        )
    missing = [b for b in params.breakdowns if b not in provider.report_breakdowns]
    if missing:
        offered = ", ".join(provider.report_breakdowns) or "none"
        raise InvalidRequest(
            f"{provider.display_name} reports cannot break down by {', '.join(missing)} "
            f"(offered: {offered})."
        )


def _range_for(account: AdAccount, params: ReportParams, now: datetime) -> tuple[date, date]:
    """The account's range: a preset read in its time zone; never past today there."""
    today = today_in(account.time_zone, now)
    if params.since is not None and params.until is not None:
        since, until = params.since, params.until
    else:
        since, until = preset_range(params.preset or DEFAULT_PRESET, today)
    if since > today:
        raise InvalidRequest(
            f"The report starts on {since}, after today ({today} in {account.time_zone}, "
            f"the time zone of {account.name}); nothing has happened yet."
        )
    return since, min(until, today)  # a range ending in the future stops at today


def _now() -> datetime:
    return datetime.now(UTC)


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
    if params.since is not None and params.until is not None:
        _check_range(provider, params.since, params.until)
    _check_support(provider, params)
    accounts = _pick_accounts(list(row.accounts or []), params)
    now = _now()

    # At most a few reports in flight per user, counted across processes (backend/user_limits.py).
    async def tell(percent: int, status: progress.Status) -> None:
        await anyio.to_thread.run_sync(
            record_progress, state.engine, user_id, connection_id, percent, status
        )

    async with state.slot_leases.hold(user_id, user_limits.report_limit(state)):
        with progress.reporting(tell):
            body = await _fetch_and_shape(
                state, connection_id, provider, accounts, params, now, token
            )
    fetched_at = now.isoformat().replace("+00:00", "Z")
    return {
        "connection_id": connection_id,
        "provider": row.provider,
        **body,
        "fetched_at": fetched_at,
        "cached": False,
    }


async def _fetch_and_shape(
    state: AppState,
    connection_id: str,
    provider: Provider,
    accounts: list[AdAccount],
    params: ReportParams,
    now: datetime,
    token: Token | None,
) -> dict[str, Any]:
    """The report's body: one account's rows normalised, or the general shape."""
    if params.classic:
        account = accounts[0]
        since, until = _range_for(account, params, now)
        _check_range(provider, since, until)
        query = _query(account, params, since, until)

        async def _fetch(token: Any) -> list[RawRow]:
            return await provider.fetch_report(token, query)

        rows = await state.vault.call_with_token(connection_id, _fetch, first=token)
        if len(rows) > _INLINE_ROWS:
            body = await anyio.to_thread.run_sync(
                lambda: normalize_report(rows, query=query, account=account)
            )
        else:
            body = normalize_report(rows, query=query, account=account)
    else:
        body = await _general(state, connection_id, provider, accounts, params, now, token)
    return body


def _query(
    account: AdAccount, params: ReportParams, since: date, until: date, **over: Any
) -> ReportQuery:
    fields: dict[str, Any] = {
        "account_id": account.id,
        "since": since,
        "until": until,
        "level": params.level,
        "metrics": params.metrics,
        "login_customer_id": account.login_customer_id,
        "parent_id": account.parent_id,
        "breakdowns": params.breakdowns,
        "time": params.time,
        "summary": bool({"reach", "frequency"} & set(params.metrics)),
    }
    fields.update(over)
    return ReportQuery(**fields)


async def _general(
    state: AppState,
    connection_id: str,
    provider: Provider,
    accounts: list[AdAccount],
    params: ReportParams,
    now: datetime,
    token: Token | None,
) -> dict[str, Any]:
    """Any level, breakdowns, totals only, several accounts, a comparison (reports/shape.py)."""
    parts: list[Part] = []
    base_parts: list[Part] = []
    ranges: list[tuple[date, date]] = []
    compare_ranges: list[tuple[date, date]] = []
    notes: list[str] = []
    for account in accounts:
        since, until = _range_for(account, params, now)
        _check_range(provider, since, until)
        ranges.append((since, until))
        exp = Decimal(1).scaleb(-minor_units(account.currency))
        query = _query(account, params, since, until)
        raw = await _fetch_data(state, connection_id, provider, query, token)
        notes += [n for n in raw.notes if n not in notes]
        rows = collapse_days(raw.rows, query) if params.time == "total" else raw.rows
        parts.append(Part(account, rows, raw.summary, exp))
        if params.compare:
            c_since, c_until = compare_range(params.compare, since, until)
            compare_ranges.append((c_since, c_until))
            # Only its totals are shown: one row per account, the same aggregate rules.
            c_query = _query(
                account, params, c_since, c_until, level="account", breakdowns=(), time="total"
            )
            c_raw = await _fetch_data(state, connection_id, provider, c_query, token)
            base_parts.append(Part(account, c_raw.rows, c_raw.summary, exp))
    multi = len(accounts) > 1
    query0 = _query(accounts[0], params, *ranges[0])
    body: dict[str, Any] = {
        "account": accounts[0].as_json(),
        "since": ranges[0][0].isoformat(),
        "until": ranges[0][1].isoformat(),
        "level": params.level,
        "breakdowns": list(params.breakdowns),
        "time": params.time,
        "columns": columns(query0, params.metrics, multi, exact_conversions(parts)),
        "rows": shape_rows(parts, query0, params.metrics, multi),
    }
    body["totals"], by_currency = _totals(parts, params.metrics)
    if multi:
        body["accounts"] = [
            {**a.as_json(), "since": r[0].isoformat(), "until": r[1].isoformat()}
            for a, r in zip(accounts, ranges, strict=True)
        ]
        body["totals_by_currency"] = by_currency
        if "reach" in params.metrics or "frequency" in params.metrics:
            notes.append(
                "Reach and frequency are not totalled across ad accounts: the same person "
                "may be reached by several, and the platforms do not say how many."
            )
    if params.compare:
        base_totals, _ = _totals(base_parts, params.metrics)
        body["comparison"] = {
            "compare": params.compare,
            "since": compare_ranges[0][0].isoformat(),
            "until": compare_ranges[0][1].isoformat(),
            "totals": base_totals,
            "change": change(body["totals"], base_totals),
        }
    if notes:
        body["notes"] = notes
    return body


def _totals(
    parts: list[Part], metrics: list[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    by_currency: dict[str, dict[str, Any]] = {}
    for currency in dict.fromkeys(p.account.currency for p in parts):
        same = [p for p in parts if p.account.currency == currency]
        by_currency[currency] = totals_of(same, metrics, same[0].money_exp)
    if len(by_currency) == 1:
        return next(iter(by_currency.values())), by_currency
    return mixed_totals(by_currency, metrics), by_currency


async def _fetch_data(
    state: AppState, connection_id: str, provider: Provider, query: ReportQuery, token: Any
) -> RawReport:
    async def _fetch(tok: Any) -> RawReport:
        return await provider.fetch_report_data(tok, query)

    return await state.vault.call_with_token(connection_id, _fetch, first=token)
