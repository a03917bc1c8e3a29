"""Users and devices: signing in, and its database side (session first, flush only)."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.auth import passwords, throttle
from backend.auth.expiry import PASSWORD_CHANGED, SIGNED_OUT, DeviceLifetime, refusal
from backend.auth.jwt_bearer import VerifiedAssertion
from backend.auth.tokens import DEFAULT_ACCESS_TTL_S, LEEWAY_S, IssuedToken, issue_access_token
from backend.db.models import Device, UsedJti, User, utcnow
from backend.db.transactions import run_locked
from backend.errors import RateLimitedError, Unauthorized
from backend.state import AppState

log = logging.getLogger(__name__)

# Deliberately loose: one "@", something either side, no spaces. `local@this-device`
# (the embedded mode's user) is a valid address here.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_EMAIL_CHARS = 320
MIN_PASSWORD_CHARS = 8
# Stored instead of a hash for a user who has no password (the local service's user): it is
# no PHC string, so no password ever matches it (like "!" in /etc/shadow).
NO_PASSWORD = "!"  # noqa: S105 - a marker, not a password
WRONG_CREDENTIALS = "The email or password is wrong."


class UserExists(Exception):
    """A user with this email exists already."""


class NoSuchUser(Exception):
    """No user has this email."""


class DeviceUnusable(Exception):
    """The device does not exist or was signed out; the message says which in plain words."""


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    password_hash: str


@dataclass(frozen=True)
class DeviceInfo:
    id: str
    user_id: str
    name: str
    public_jwk: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively here (RFC 5321 allows case in the local part, but no
    mail provider in use treats `Ann@x` and `ann@x` as two people)."""
    return email.strip().lower()


def validate_email(email: str) -> str:
    normalized = normalize_email(email)
    if len(normalized) > MAX_EMAIL_CHARS or not _EMAIL.match(normalized):
        raise ValueError("That is not an email address (expected something like ann@example.com).")
    return normalized


def create_user(session: Session, email: str, password: str, *, update: bool = False) -> User:
    """Create a user, or with `update=True` set a new password for an existing one."""
    normalized = validate_email(email)
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    password_hash = passwords.hash_password(password)
    user = session.scalars(select(User).where(User.email == normalized)).one_or_none()
    if user is not None:
        if not update:
            raise UserExists(normalized)
        _change_password(session, user, password_hash)
        return user
    user = User(email=normalized, password_hash=password_hash)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        # Another process created the same email between our SELECT and INSERT.
        raise UserExists(normalized) from None
    return user


def set_password(session: Session, email: str, password: str) -> list[str]:
    """Give an existing user a new password and sign out every one of their devices.

    Returns the ids of the devices signed out. Whoever knew the old password may have signed
    in a device with it; a new password that leaves those devices in would change nothing.
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_CHARS} characters.")
    user = session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()
    if user is None:
        raise NoSuchUser(normalize_email(email))
    return _change_password(session, user, passwords.hash_password(password))


def _change_password(session: Session, user: User, password_hash: str) -> list[str]:
    user.password_hash = password_hash
    return sign_out_all_devices(session, user.id, reason=PASSWORD_CHANGED)


def sign_out_all_devices(
    session: Session, user_id: str, *, reason: str, keep: str | None = None
) -> list[str]:
    """Sign out every device of the user but `keep`; the ids of those that were signed in."""
    now = utcnow()
    stmt = select(Device).where(Device.user_id == user_id, Device.revoked_at.is_(None))
    ended = []
    for device in session.scalars(stmt):
        if device.id == keep:
            continue
        device.revoked_at = now
        device.revoked_reason = reason
        ended.append(device.id)
    session.flush()
    return ended


def ensure_passwordless_user(session: Session, email: str) -> str:
    """The id of the user `email` with no password, created if missing; a password it had
    (an older version's throwaway one) is dropped, so it can no longer sign in with one."""
    normalized = validate_email(email)
    user = session.scalars(select(User).where(User.email == normalized)).one_or_none()
    if user is None:
        user = User(email=normalized, password_hash=NO_PASSWORD)
        session.add(user)
    elif user.password_hash != NO_PASSWORD:
        user.password_hash = NO_PASSWORD
    session.flush()
    return user.id


def find_user(session: Session, email: str) -> UserRecord | None:
    user = session.scalars(select(User).where(User.email == normalize_email(email))).one_or_none()
    if user is None:
        return None
    return UserRecord(id=user.id, email=user.email, password_hash=user.password_hash)


def password_hash_is(session: Session, user_id: str, password_hash: str) -> bool:
    """Whether the user's password is still the one a sign-in just checked."""
    user = session.get(User, user_id)
    return user is not None and secrets.compare_digest(user.password_hash, password_hash)


def update_password_hash(session: Session, user_id: str, password_hash: str) -> None:
    user = session.get(User, user_id)
    if user is not None:
        user.password_hash = password_hash


def add_device(session: Session, user_id: str, name: str, public_jwk: dict[str, str]) -> str:
    now = utcnow()
    device = Device(user_id=user_id, name=name, public_jwk=public_jwk, created_at=now)
    device.last_seen_at = now
    session.add(device)
    session.flush()
    return device.id


def _info(device: Device) -> DeviceInfo:
    return DeviceInfo(
        id=device.id,
        user_id=device.user_id,
        name=device.name,
        public_jwk=dict(device.public_jwk),
        created_at=device.created_at,
        last_seen_at=device.last_seen_at,
        revoked_at=device.revoked_at,
        revoked_reason=device.revoked_reason,
    )


def get_device(session: Session, device_id: str) -> DeviceInfo | None:
    device = session.get(Device, device_id)
    return None if device is None else _info(device)


def list_devices(session: Session, user_id: str, lifetime: DeviceLifetime) -> list[DeviceInfo]:
    """The user's devices still signed in (neither signed out nor expired)."""
    now = utcnow()
    stmt = (
        select(Device)
        .where(Device.user_id == user_id, Device.revoked_at.is_(None))
        .order_by(Device.created_at, Device.id)
    )
    return [_info(d) for d in session.scalars(stmt) if refusal(d, lifetime, now) is None]


def sign_out_device(session: Session, user_id: str, device_id: str) -> bool:
    """Mark the user's device signed out; False when the user has no such device.

    Signing out twice is fine (DELETE is idempotent, RFC 9110 §9.3.5).
    """
    device = session.get(Device, device_id)
    if device is None or device.user_id != user_id:
        return False
    if device.revoked_at is None:
        device.revoked_at = utcnow()
        device.revoked_reason = SIGNED_OUT
    return True


def consume_assertion(
    session: Session, assertion: VerifiedAssertion, lifetime: DeviceLifetime
) -> DeviceInfo:
    """Record the assertion's `jti` as used (RFC 7523 §3 item 7) and mark the device seen.

    Raises DeviceUnusable for a replayed `jti` or a device signed out or expired meanwhile.
    Call in a locked transaction so the device check and the insert see the same state.
    """
    now = utcnow()
    device = session.get(Device, assertion.device_id)
    if device is None:
        raise DeviceUnusable("This device is not known to the backend; sign in again.")
    why = refusal(device, lifetime, now)
    if why is not None:
        raise DeviceUnusable(why)
    # Drop ids that can no longer be replayed: their assertions are past exp (+ leeway).
    session.execute(delete(UsedJti).where(UsedJti.expires_at < now))
    expires_at = datetime.fromtimestamp(assertion.expires_at, now.tzinfo) + timedelta(
        seconds=LEEWAY_S
    )
    # Namespaced by device, so one device cannot burn another's ids.
    used = UsedJti(jti=f"{assertion.device_id}:{assertion.jti}", expires_at=expires_at)
    try:
        with session.begin_nested():
            session.add(used)
    except IntegrityError:
        raise DeviceUnusable("This assertion was used before; each one works once.") from None
    device.last_seen_at = now
    return _info(device)


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the user, the device just added, its first access token."""

    user: UserRecord
    device_id: str
    issued: IssuedToken


def issue_token(state: AppState, user_id: str, device_id: str) -> IssuedToken:
    """An access JWT for the device, with the configured lifetime."""
    ttl = getattr(state.settings, "access_token_ttl_s", DEFAULT_ACCESS_TTL_S)
    return issue_access_token(
        state.signing_key, user_id=user_id, device_id=device_id, ttl_s=int(ttl)
    )


async def log_in(
    state: AppState,
    *,
    email: str,
    password: str,
    device_name: str,
    device_public_key: dict[str, str],
    client: str | None,
    hashing: anyio.CapacityLimiter,
) -> SignedIn:
    """Check email + password under the throttle, add the device, issue its token.

    `client` is the caller's address (throttle key, log lines); `hashing` caps concurrent
    argon2 computations."""
    email = normalize_email(email)
    keys = throttle.keys_for(email, client)
    base_s = state.settings.login_throttle_base_s
    max_delay = timedelta(seconds=state.settings.login_delay_max_s)

    def _begin(session: Session) -> tuple[throttle.Decision, UserRecord | None]:
        decision = throttle.begin_attempt(session, keys, utcnow(), base_s, max_delay)
        if decision.wait_s is not None:
            return decision, None
        return decision, find_user(session, email)

    decision, user = await run_locked(state, _begin)
    where = client or "unknown"
    wait = decision.wait_s
    if wait is not None:
        log.info("sign-in refused for %.0f s after repeated failures (from %s)", wait, where)
        seconds = math.ceil(wait)
        raise RateLimitedError(
            f"Too many failed sign-ins for this account or from this address. "
            f"Try again in {seconds} second{'s' if seconds != 1 else ''}.",
            retry_after=wait,
        )
    if decision.delay_s > 0:
        # Many failures for this email from anywhere: slow every attempt down, lock none
        # (a stranger must not be able to keep the user out).
        log.info(
            "sign-in slowed by %.2f s after repeated failures for this account (from %s)",
            decision.delay_s,
            where,
        )
        await asyncio.sleep(decision.delay_s)

    def _check() -> tuple[bool, str | None]:
        # An unknown email costs the same hashing time as a wrong password.
        if user is None or user.password_hash == NO_PASSWORD:
            return passwords.dummy_verify(password), None
        if not passwords.verify_password(user.password_hash, password):
            return False, None
        rehashed = None
        if passwords.needs_rehash(user.password_hash):
            rehashed = passwords.hash_password(password)
        return True, rehashed

    ok, rehashed = await anyio.to_thread.run_sync(_check, limiter=hashing)
    if not ok or user is None:
        log.info("sign-in failed: wrong email or password (from %s)", where)
        raise Unauthorized(WRONG_CREDENTIALS)
    signed_in = user

    def _succeed(session: Session) -> str | None:
        if not password_hash_is(session, signed_in.id, signed_in.password_hash):
            # The password changed while this one was being checked: it is no longer valid.
            return None
        throttle.attempt_succeeded(session, keys, base_s)
        if rehashed is not None:
            update_password_hash(session, signed_in.id, rehashed)
        return add_device(session, signed_in.id, device_name, device_public_key)

    device_id = await run_locked(state, _succeed)
    if device_id is None:
        raise Unauthorized(WRONG_CREDENTIALS)
    log.info("user %s signed in a new device %s (from %s)", user.id, device_id, where)
    return SignedIn(user, device_id, issue_token(state, user.id, device_id))
