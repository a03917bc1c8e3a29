"""Password hashing with argon2id (RFC 9106), the memory-hard KDF argon2-cffi implements.

Defaults are RFC 9106 §4's second recommended option (t=3, m=64 MiB, p=4). Tests may lower
them through `CONNECTED_ACCOUNTS_ARGON2_TIME_COST` / `CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB`;
a hash records its own parameters, so verifying never depends on the current setting.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

log = logging.getLogger(__name__)

TIME_COST_ENV = "CONNECTED_ACCOUNTS_ARGON2_TIME_COST"
MEMORY_KIB_ENV = "CONNECTED_ACCOUNTS_ARGON2_MEMORY_KIB"
# Longer inputs only cost CPU for the attacker's benefit; passwords are never this long.
MAX_PASSWORD_CHARS = 1024


def _int_env(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number.") from None
    return max(value, minimum)


@functools.lru_cache(maxsize=8)
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    params = RFC_9106_LOW_MEMORY
    if (time_cost, memory_kib) != (params.time_cost, params.memory_cost):
        log.warning(
            "password hashing uses lowered argon2id parameters (t=%d, m=%d KiB); "
            "meant for tests only",
            time_cost,
            memory_kib,
        )
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_kib,
        parallelism=params.parallelism,
        hash_len=params.hash_len,
        salt_len=params.salt_len,
    )


def _hasher() -> PasswordHasher:
    params = RFC_9106_LOW_MEMORY
    return _hasher_for(
        _int_env(TIME_COST_ENV, params.time_cost, 1),
        # argon2 needs at least 8 KiB per lane.
        _int_env(MEMORY_KIB_ENV, params.memory_cost, 8 * params.parallelism),
    )


def hash_password(pw: str) -> str:
    """An argon2id PHC string (`$argon2id$v=19$m=…`) with a fresh random salt."""
    if len(pw) > MAX_PASSWORD_CHARS:
        raise ValueError(f"A password can have at most {MAX_PASSWORD_CHARS} characters.")
    return _hasher().hash(pw)


def verify_password(hash: str, pw: str) -> bool:
    """True when `pw` matches; argon2 compares the digests in constant time."""
    if len(pw) > MAX_PASSWORD_CHARS:
        return False
    try:
        return _hasher().verify(hash, pw)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        # A corrupt stored hash is a server problem, but never a way in.
        log.warning("a stored password hash could not be checked")
        return False


def needs_rehash(hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    try:
        return _hasher().check_needs_rehash(hash)
    except InvalidHashError:
        return True


@functools.lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher_for(time_cost, memory_kib).hash("not a real password, only spends time")


def dummy_verify(pw: str) -> bool:
    """Spend the same time as a real check, for an unknown email; always False.

    Without it a login for an unknown email would answer faster than one with a wrong
    password, telling an attacker which emails have accounts.
    """
    hasher = _hasher()
    _hasher_verify(hasher, _dummy_hash(hasher.time_cost, hasher.memory_cost), pw)
    return False


def _hasher_verify(hasher: PasswordHasher, hash: str, pw: str) -> None:
    with contextlib.suppress(VerificationError):
        hasher.verify(hash, pw[:MAX_PASSWORD_CHARS])
