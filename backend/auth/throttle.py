"""Login throttling, kept in `login_attempts` so every backend process sees the same counts.

Each attempt is counted *before* the password is checked (and un-counted on success), so a
burst of parallel guesses cannot all slip past the check. Three counts, so that a stranger
cannot lock a user out:

- (email, address): past a few free failures the pair is *locked* for a delay that doubles
  with every further failure (429 with Retry-After, the password not looked at). Only the
  guesser's own address is locked, never the account.
- address: the same, with more free failures (an office behind NAT shares one), against one
  address spraying guesses over many accounts.
- email, from anywhere: never locked. Past its free failures every attempt at that email is
  *slowed* by a delay that doubles up to a cap, so guesses from many addresses get slow
  while the real user, whose password is right, still signs in, only later.

Emails are stored as a hash.
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
PAIR_FREE_FAILURES = 5
# Higher: many people may share one address (an office behind NAT).
ADDRESS_FREE_FAILURES = 20
EMAIL_FREE_FAILURES = 10


@dataclass(frozen=True)
class ThrottleKey:
    key: str
    free_failures: int
    # True: past the free failures, attempts are refused (429); False: only slowed.
    locks: bool = True


@dataclass(frozen=True)
class Decision:
    """`wait_s`: refuse, try again after this long; else sleep `delay_s`, then check."""

    wait_s: float | None
    delay_s: float = 0.0


def keys_for(email: str, client_address: str | None) -> list[ThrottleKey]:
    digest = hashlib.sha256(email.encode("utf-8")).hexdigest()
    keys = [ThrottleKey(f"email:{digest}", EMAIL_FREE_FAILURES, locks=False)]
    if client_address:
        address = client_address[:300]
        keys.append(ThrottleKey(f"pair:{digest}:{address}", PAIR_FREE_FAILURES))
        keys.append(ThrottleKey(f"ip:{address}", ADDRESS_FREE_FAILURES))
    return keys


def lock_delay(failures: int, free: int, base_s: float, cap: timedelta = MAX_LOCK) -> timedelta:
    """No delay for the first `free` failures, then base, 2×base, 4×base … up to `cap`."""
    over = failures - free
    if over <= 0:
        return timedelta(0)
    seconds = base_s * (2 ** min(over - 1, 30))
    return min(timedelta(seconds=seconds), cap)


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
    session: Session,
    keys: list[ThrottleKey],
    now: datetime,
    base_s: float,
    max_delay: timedelta,
) -> Decision:
    """Count one attempt: refused while a locking key is locked, else slowed by the
    non-locking keys' failures so far (up to `max_delay`).

    Call in a transaction that holds the write lock (`locked_transaction`).
    """
    _ensure_rows(session, keys, now)
    rows = _lock_rows(session, keys)
    wait = 0.0
    for k in keys:
        row = rows[k.key]
        if k.locks and row.locked_until is not None and row.locked_until > now:
            wait = max(wait, (row.locked_until - now).total_seconds())
    if wait > 0:
        return Decision(wait_s=wait)
    delay = timedelta(0)
    for k in keys:
        row = rows[k.key]
        if row.updated_at < now - WINDOW:
            row.failures = 0
        if not k.locks:
            # Slowed by the failures before this attempt; counted like the others.
            delay = max(delay, lock_delay(row.failures + 1, k.free_failures, base_s, max_delay))
        row.failures += 1
        row.updated_at = now
        locked = lock_delay(row.failures, k.free_failures, base_s) if k.locks else None
        row.locked_until = now + locked if locked else None
    if secrets.randbelow(20) == 0:
        _prune(session, now)
    return Decision(wait_s=None, delay_s=delay.total_seconds())


def attempt_succeeded(session: Session, keys: list[ThrottleKey], base_s: float) -> None:
    """Forget the email's failures; take this attempt back off the address's count."""
    rows = _lock_rows(session, keys)
    for k in keys:
        row = rows.get(k.key)
        if row is None:
            continue
        if k.key.startswith("pair:"):
            session.delete(row)
            continue
        # An address's count survives a success: one valid account must not reset the
        # count of guesses made at other accounts from the same place. Nor does the
        # email's: strangers elsewhere may still be guessing at it.
        row.failures = max(0, row.failures - 1)
        if not k.locks or not lock_delay(row.failures, k.free_failures, base_s):
            row.locked_until = None


def _prune(session: Session, now: datetime) -> None:
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.updated_at < now - WINDOW,
            or_(LoginAttempt.locked_until.is_(None), LoginAttempt.locked_until < now),
        )
    )
