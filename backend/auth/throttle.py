"""Login throttling, kept in `login_attempts` so every backend process sees the same counts.

Each attempt is counted *before* the password is checked (and un-counted on success), so a
burst of parallel guesses cannot all slip past the check. Past a few free failures a key is
locked for a delay that doubles with every further failure; a locked key gets 429 with
Retry-After without its password being looked at. Keys are per email and per client address;
emails are stored as a hash.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.db.models import LoginAttempt

# Failures forgotten after this long without another one.
WINDOW = timedelta(minutes=15)
MAX_LOCK = timedelta(minutes=15)
EMAIL_FREE_FAILURES = 5
# Higher: many people may share one address (an office behind NAT).
ADDRESS_FREE_FAILURES = 20


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    free_failures: int


def keys_for(email: str, client_address: str | None) -> list[ThrottleKey]:
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()
    keys = [ThrottleKey(f"email:{digest}", EMAIL_FREE_FAILURES)]
    if client_address:
        keys.append(ThrottleKey(f"ip:{client_address[:300]}", ADDRESS_FREE_FAILURES))
    return keys


def lock_delay(failures: int, free: int, base_s: float) -> timedelta:
    """No delay for the first `free` failures, then base, 2×base, 4×base … up to MAX_LOCK."""
    over = failures - free
    if over <= 0:
        return timedelta(0)
    seconds = base_s * (2 ** min(over - 1, 30))
    return min(timedelta(seconds=seconds), MAX_LOCK)


def _key(k: ThrottleKey) -> str:
    return k.key


def _lock_rows(session: Session, keys: list[ThrottleKey]) -> dict[str, LoginAttempt]:
    # A fixed order (by key) so two attempts locking the same rows cannot deadlock.
    stmt = (
        select(LoginAttempt)
        .where(LoginAttempt.key.in_([k.key for k in keys]))
        .order_by(LoginAttempt.key)
        .with_for_update()
    )
    return {row.key: row for row in session.scalars(stmt)}


def _ensure_rows(session: Session, keys: list[ThrottleKey], now: datetime) -> None:
    rows = [{"key": k.key, "failures": 0, "updated_at": now} for k in sorted(keys, key=_key)]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(LoginAttempt).values(rows).on_conflict_do_nothing())


def begin_attempt(
    session: Session, keys: list[ThrottleKey], now: datetime, base_s: float
) -> float | None:
    """Count one attempt; the seconds to wait instead when a key is locked.

    Call in a transaction that holds the write lock (`locked_transaction`).
    """
    _ensure_rows(session, keys, now)
    rows = _lock_rows(session, keys)
    wait = 0.0
    for row in rows.values():
        if row.locked_until is not None and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    if wait > 0:
        return wait
    for k in keys:
        row = rows[k.key]
        if row.updated_at < now - WINDOW:
            row.failures = 0
        row.failures += 1
        row.updated_at = now
        delay = lock_delay(row.failures, k.free_failures, base_s)
        row.locked_until = now + delay if delay else None
    if secrets.randbelow(20) == 0:
        _prune(session, now)
    return None


def attempt_succeeded(session: Session, keys: list[ThrottleKey], base_s: float) -> None:
    """Forget the email's failures; take this attempt back off the address's count."""
    rows = _lock_rows(session, keys)
    for k in keys:
        row = rows.get(k.key)
        if row is None:
            continue
        if k.key.startswith("email:"):
            session.delete(row)
            continue
        # An address's count survives a success: one valid account must not reset the
        # count of guesses made at other accounts from the same place.
        row.failures = max(0, row.failures - 1)
        if not lock_delay(row.failures, k.free_failures, base_s):
            row.locked_until = None


def _prune(session: Session, now: datetime) -> None:
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.updated_at < now - WINDOW,
            or_(LoginAttempt.locked_until.is_(None), LoginAttempt.locked_until < now),
        )
    )
