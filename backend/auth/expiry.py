"""When a device's sign-in ends, and the plain words that say why.

A device stays signed in while it is used: each renewal (RFC 7523 assertion) marks it seen.
It ends after `device_idle_days` without one, after `device_max_age_days` in any case, when
it is signed out (by itself or from another device), and when the password changes. Expiry
is computed from the row's timestamps (nothing to sweep), so every process agrees at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

SIGNED_OUT = "signed_out"
SIGNED_OUT_ELSEWHERE = "signed_out_elsewhere"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)

_REVOKED = {
    SIGNED_OUT: "This device was signed out. Sign in again.",
    SIGNED_OUT_ELSEWHERE: "This device was signed out from another of your devices. Sign in again.",
    PASSWORD_CHANGED: "This device was signed out because the account's password was changed. "
    "Sign in again with the new password.",
}


class _Settings(Protocol):
    device_idle_days: float
    device_max_age_days: float


class DeviceTimes(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def last_seen_at(self) -> datetime | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...
    @property
    def revoked_reason(self) -> str | None: ...


@dataclass(frozen=True)
class DeviceLifetime:
    """How long a sign-in lasts: `idle` without a renewal, `max_age` in any case."""

    idle: timedelta
    max_age: timedelta

    @classmethod
    def of(cls, settings: _Settings) -> DeviceLifetime:
        return cls(
            idle=timedelta(days=settings.device_idle_days),
            max_age=timedelta(days=settings.device_max_age_days),
        )


def _days(span: timedelta) -> str:
    days = span.total_seconds() / 86400
    text = f"{days:g}" if days >= 1 else f"{days:.2g}"
    return f"{text} day{'' if text == '1' else 's'}"


def revoked_message(reason: str | None) -> str:
    """Why a signed-out device may no longer act."""
    return _REVOKED.get(reason or SIGNED_OUT, _REVOKED[SIGNED_OUT])


def refusal(device: DeviceTimes, lifetime: DeviceLifetime, now: datetime) -> str | None:
    """None while the device may act; else why not, in words a user can act on."""
    if device.revoked_at is not None:
        return revoked_message(device.revoked_reason)
    if now - device.created_at >= lifetime.max_age:
        return (
            f"This device's sign-in ended: sign-ins last at most {_days(lifetime.max_age)}. "
            "Sign in again."
        )
    seen = device.last_seen_at or device.created_at
    if now - seen >= lifetime.idle:
        return (
            f"This device was signed out after {_days(lifetime.idle)} without use. Sign in again."
        )
    return None
